/**
 * Token validation plugins for the S2CS. The token comes from the `authorization` metadata,
 * with or without a `Bearer ` prefix (the reference sends the raw token).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from "jose";
import { AuthError, ConfigError, ForbiddenError, UnavailableError } from "./errors.js";

/** Who made a call, after validation. `subject` owns the UIDs it creates. */
export interface Principal {
  readonly subject: string;
  readonly scopes: readonly string[];
  /** Which plugin accepted the token. */
  readonly via: string;
}

export interface Authenticator {
  readonly name: string;
  /** Resolves the principal or throws AuthError / ForbiddenError / UnavailableError. */
  authenticate(token: string | undefined): Promise<Principal>;
}

/** Extracts the token from an `authorization` metadata value; "" and the reference's placeholder count as none. */
export function tokenFromAuthorization(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let token = value.trim();
  if (/^bearer\s+/i.test(token)) token = token.replace(/^bearer\s+/i, "").trim();
  if (token === "" || token === "INVALID_TOKEN") return undefined;
  return token;
}

/**
 * No authentication. Development only: every caller is the same principal "anonymous", so
 * ownership checks cannot separate users. The S2CS warns loudly when this is configured.
 */
export function noAuth(): Authenticator {
  return {
    name: "none",
    async authenticate() {
      return { subject: "anonymous", scopes: [], via: "none" };
    },
  };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** A fixed table of tokens to subjects (tests, small deployments). Comparison is constant-time. */
export function staticTokenAuth(tokens: Readonly<Record<string, string>>): Authenticator {
  const entries = Object.entries(tokens).map(([token, subject]) => ({ digest: sha256(token), subject }));
  if (entries.length === 0) throw new ConfigError("static token authentication needs at least one token");
  return {
    name: "static",
    async authenticate(token) {
      if (token === undefined) throw new AuthError("Authentication token is missing");
      const digest = sha256(token);
      let found: string | undefined;
      for (const e of entries) if (timingSafeEqual(e.digest, digest)) found = e.subject;
      if (found === undefined) throw new AuthError("Authentication failed: invalid token");
      return { subject: found, scopes: [], via: "static" };
    },
  };
}

export interface JwtAuthOptions {
  /** JWKS URL (https in production; http only for loopback tests). */
  readonly jwksUrl?: string | URL;
  /** Or a key resolver directly (jose `createLocalJWKSet`, a KeyLike...). */
  readonly keys?: JWTVerifyGetKey;
  readonly issuer: string | readonly string[];
  readonly audience: string | readonly string[];
  /** Every scope listed here must be present in the token's `scope` (space separated) or `scp`. */
  readonly requiredScopes?: readonly string[];
  readonly algorithms?: readonly string[];
  readonly clockToleranceSeconds?: number;
}

function scopesOf(payload: Record<string, unknown>): string[] {
  const scope = payload["scope"];
  const scp = payload["scp"];
  if (typeof scope === "string") return scope.split(/\s+/).filter((s) => s !== "");
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === "string");
  if (typeof scp === "string") return scp.split(/\s+/).filter((s) => s !== "");
  return [];
}

/** JWT access tokens validated against a JWKS: signature, `exp`/`nbf`, issuer, audience and scopes. */
export function jwtAuth(options: JwtAuthOptions): Authenticator {
  const keys =
    options.keys ??
    (options.jwksUrl !== undefined ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined);
  if (keys === undefined) throw new ConfigError("jwt authentication needs jwksUrl or keys");
  const required = options.requiredScopes ?? [];
  return {
    name: "jwt",
    async authenticate(token) {
      if (token === undefined) throw new AuthError("Authentication token is missing");
      let payload: Record<string, unknown>;
      try {
        const verified = await jwtVerify(token, keys, {
          issuer: options.issuer as string | string[],
          audience: options.audience as string | string[],
          ...(options.algorithms === undefined ? {} : { algorithms: [...options.algorithms] }),
          clockTolerance: options.clockToleranceSeconds ?? 5,
        });
        payload = verified.payload as Record<string, unknown>;
      } catch (err) {
        if (err instanceof joseErrors.JWKSTimeout)
          throw new UnavailableError("JWKS endpoint timed out", { cause: err });
        if (err instanceof joseErrors.JWTExpired)
          throw new AuthError("Authentication failed: token expired", { cause: err });
        if (err instanceof joseErrors.JWTClaimValidationFailed) {
          throw new AuthError(`Authentication failed: claim "${err.claim}" invalid`, { cause: err });
        }
        if (err instanceof joseErrors.JOSEError)
          throw new AuthError("Authentication failed: invalid token", { cause: err });
        throw new UnavailableError("token validation failed: key set unavailable", { cause: err });
      }
      const scopes = scopesOf(payload);
      for (const s of required) {
        if (!scopes.includes(s)) throw new ForbiddenError(`token lacks required scope ${s}`);
      }
      const sub = typeof payload["sub"] === "string" ? payload["sub"] : undefined;
      if (sub === undefined || sub === "") throw new AuthError("Authentication failed: token has no subject");
      return { subject: sub, scopes, via: "jwt" };
    },
  };
}

export interface IntrospectionAuthOptions {
  /** RFC 7662 introspection endpoint. */
  readonly endpoint: string | URL;
  /** Client credentials of this resource server (HTTP Basic, RFC 7662 section 2.1). */
  readonly clientId: string;
  readonly clientSecret: string;
  readonly requiredScopes?: readonly string[];
  /** Expected audience (`aud`), if the issuer sets it. */
  readonly audience?: string;
  /** Cache positive answers this long (bounded by the token's `exp`); default 60 s. */
  readonly cacheTtlMs?: number;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

interface CacheEntry {
  readonly principal: Principal;
  readonly until: number;
}

/** OAuth 2.0 Token Introspection (RFC 7662), as Globus Auth's TokenChecker does for the reference. */
export function introspectionAuth(options: IntrospectionAuthOptions): Authenticator {
  const cache = new Map<string, CacheEntry>();
  const ttl = options.cacheTtlMs ?? 60_000;
  const doFetch = options.fetch ?? fetch;
  const basic = Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString("base64");
  return {
    name: "introspection",
    async authenticate(token) {
      if (token === undefined) throw new AuthError("Authentication token is missing");
      const key = sha256(token).toString("hex");
      const now = Date.now();
      const hit = cache.get(key);
      if (hit !== undefined && hit.until > now) return hit.principal;
      cache.delete(key);
      let body: Record<string, unknown>;
      try {
        const response = await doFetch(options.endpoint, {
          method: "POST",
          headers: {
            authorization: `Basic ${basic}`,
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
          },
          body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
        if (!response.ok) throw new Error(`introspection endpoint answered HTTP ${response.status}`);
        body = (await response.json()) as Record<string, unknown>;
      } catch (err) {
        throw new UnavailableError("token introspection failed", { cause: err });
      }
      if (body["active"] !== true) throw new AuthError("Authentication failed: token is not active");
      const exp = typeof body["exp"] === "number" ? body["exp"] * 1000 : undefined;
      if (exp !== undefined && exp <= now) throw new AuthError("Authentication failed: token expired");
      if (options.audience !== undefined) {
        const aud = body["aud"];
        const auds = Array.isArray(aud) ? aud : typeof aud === "string" ? [aud] : [];
        if (!auds.includes(options.audience))
          throw new AuthError('Authentication failed: claim "aud" invalid');
      }
      const scopes = scopesOf(body);
      for (const s of options.requiredScopes ?? []) {
        if (!scopes.includes(s)) throw new ForbiddenError(`token lacks required scope ${s}`);
      }
      const subject =
        typeof body["sub"] === "string"
          ? body["sub"]
          : typeof body["username"] === "string"
            ? body["username"]
            : undefined;
      if (subject === undefined) throw new AuthError("Authentication failed: token has no subject");
      const principal: Principal = { subject, scopes, via: "introspection" };
      cache.set(key, { principal, until: Math.min(now + ttl, exp ?? Number.POSITIVE_INFINITY) });
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
      return principal;
    },
  };
}
