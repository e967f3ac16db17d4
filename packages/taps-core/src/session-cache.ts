/**
 * Client-side TLS session cache (-06 §5.3.1 "session cache management"; RFC 9622
 * `maxCachedSessions` / `cachedSessionLifetimeSeconds`).
 *
 * Node does not re-run `checkServerIdentity` on a resumed session and gives no peer chain, so a
 * resumed connection cannot be re-verified. Entries are therefore keyed by the remote identity
 * AND by a fingerprint of everything that decided trust (CA set, trust callback identity,
 * @x/cert-validate policy, client identity, TLS options): a session that was verified under one
 * trust configuration is only ever offered again under exactly that configuration.
 */
import { createHash } from "node:crypto";
import type { Pem, SecurityParameters, SessionCachePolicy } from "./security.js";

/** A symbol property a trust callback may carry to describe the policy behind it (see certValidateTrust). */
export const TRUST_POLICY = Symbol.for("@x/taps-core.trust-policy");

export interface TlsSessionCacheOptions {
  /** Milliseconds clock, for tests. Default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly session: Buffer;
  readonly expiresAt: number;
}

/**
 * LRU map of resumable sessions. Limits (capacity, lifetime) and the reuse policy come from the
 * SecurityParameters at each use, so one cache can be shared (`setSessionCache`) by parameters
 * with different limits; the key keeps their sessions apart whenever their trust differs.
 */
export class TlsSessionCache {
  readonly #now: () => number;
  /** Map iteration order is insertion order: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry>();

  constructor(options: TlsSessionCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  /** The session to offer for `key`, or undefined. One-time-use takes it out of the cache. */
  take(key: string, policy: SessionCachePolicy): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    if (policy === "reuse") this.#entries.set(key, entry); // most recently used again
    return entry.session;
  }

  /** Stores the newest session for `key` (replacing an older one), then evicts down to `capacity`. */
  store(key: string, session: Buffer, capacity: number, lifetimeSeconds: number): void {
    this.#entries.delete(key);
    if (capacity <= 0 || lifetimeSeconds <= 0) return;
    this.#entries.set(key, { session, expiresAt: this.#now() + lifetimeSeconds * 1000 });
    while (this.#entries.size > capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** Drops `key`'s entry if it still holds `session` (a newer ticket stored meanwhile is kept). */
  drop(key: string, session: Buffer): void {
    if (this.#entries.get(key)?.session === session) this.#entries.delete(key);
  }
}

const functionIds = new WeakMap<object, number>();
let nextFunctionId = 1;
function identityOf(value: object): number {
  let id = functionIds.get(value);
  if (id === undefined) {
    id = nextFunctionId++;
    functionIds.set(value, id);
  }
  return id;
}

/** Deterministic text for a policy object: sorted keys, bytes as hex, functions by identity. */
function stable(value: unknown, seen: Set<object>): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
    case "boolean":
    case "bigint":
      return `${typeof value}:${String(value)}`;
    case "function":
    case "symbol":
      return typeof value === "function" ? `fn#${identityOf(value)}` : String(value);
  }
  const o = value as object;
  if (o instanceof Date) return `date:${o.getTime()}`;
  if (ArrayBuffer.isView(o))
    return `bytes:${Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString("hex")}`;
  if (o instanceof ArrayBuffer) return `bytes:${Buffer.from(o).toString("hex")}`;
  if (seen.has(o)) return `cycle#${identityOf(o)}`;
  seen.add(o);
  try {
    if (Array.isArray(o)) return `[${o.map((v) => stable(v, seen)).join(",")}]`;
    if (o instanceof Map || o instanceof Set)
      return `${o.constructor.name}{${[...o.entries()].map((e) => stable(e, seen)).join(",")}}`;
    const proto = Object.getPrototypeOf(o);
    if (proto !== Object.prototype && proto !== null) {
      // Class instances (e.g. X509Certificate): their serialized form if they have one, else identity.
      const raw = (o as { raw?: unknown }).raw ?? (o as { rawData?: unknown }).rawData;
      if (ArrayBuffer.isView(raw) || raw instanceof ArrayBuffer)
        return `${proto.constructor?.name}:${stable(raw, seen)}`;
      return `obj#${identityOf(o)}`;
    }
    const keys = Object.keys(o).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable((o as Record<string, unknown>)[k], seen)}`).join(",")}}`;
  } finally {
    seen.delete(o);
  }
}

function pemText(p: Pem): string {
  return typeof p === "string" ? p.replace(/\r/g, "").trim() : Buffer.from(p).toString("base64");
}

/** What a trust callback made by certValidateTrust carries. */
export interface TrustPolicyTag {
  readonly policy: unknown;
  readonly disableResumption: boolean;
}

/**
 * The cache key for one connect, or undefined when this connect must not use the cache (cache
 * disabled, zero capacity or lifetime, external PSK, or a cert-validate policy that forbids
 * resumption).
 */
export function sessionCacheKey(
  sp: SecurityParameters,
  verifyName: string,
  port: number,
): string | undefined {
  if (!sp.sessionCacheEnabled || sp.sessionCacheCapacity <= 0 || sp.sessionCacheLifetime <= 0)
    return undefined;
  if (sp.preSharedKeys.length > 0) return undefined;
  const callback = sp.trustVerificationCallback;
  const tag = callback
    ? ((callback as unknown as Record<symbol, unknown>)[TRUST_POLICY] as TrustPolicyTag | undefined)
    : undefined;
  if (tag?.disableResumption) return undefined;
  const h = createHash("sha256");
  const part = (label: string, text: string) => h.update(`${label}\0${text.length}\0${text}\0`);
  part("name", verifyName);
  part("port", String(port));
  part("alpn", sp.alpn.join(","));
  part("server-name", sp.serverName ?? "");
  part("ca", sp.trustedCAs.map(pemText).sort().join("|"));
  part("callback", callback ? String(identityOf(callback)) : "none");
  part("policy", tag ? stable(tag.policy, new Set()) : "none");
  part("identity", sp.identities.map(pemText).join("|"));
  part("key", sp.privateKeys.map((k) => pemText(k.privateKey)).join("|"));
  part("min-version", sp.minVersion);
  part("ciphers", sp.ciphersuites.join(":"));
  part("groups", sp.supportedGroups.join(":"));
  part("sigalgs", sp.signatureAlgorithms.join(":"));
  return h.digest("hex");
}
