/**
 * Authentication plugins against real peers on loopback: a JWKS served over HTTP (keys made by
 * jose) and an RFC 7662 introspection endpoint, both exercised through the S2CS over gRPC + TLS.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { introspectionAuth, jwtAuth, tokenFromAuthorization } from "../src/auth.js";
import { AuthError, RpcError } from "../src/errors.js";
import { generateUid } from "../src/uid.js";
import { type Facility, startFacility } from "./helpers.js";

async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error("expected the RPC to fail");
}

const ISSUER = "https://auth.example.org";
const AUDIENCE = "scistream-s2cs";
const SCOPE = "https://auth.globus.org/scopes/c42c0dac/scistream";

describe("JWT access tokens validated against a JWKS", () => {
  let jwks: Awaited<ReturnType<typeof serve>>;
  let facility: Facility;
  let sign: (
    claims: Record<string, unknown>,
    options?: { exp?: string | number; aud?: string },
  ) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = await serve((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    sign = (claims, options = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(ISSUER)
        .setAudience(options.aud ?? AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.exp ?? "5m")
        .sign(privateKey);
    facility = await startFacility({
      reqWaitsForHello: false,
      auth: jwtAuth({
        jwksUrl: `${jwks.url}/jwks.json`,
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredScopes: [SCOPE],
      }),
    });
  });
  afterAll(async () => {
    await facility?.close();
    await jwks?.close();
  });

  it("accepts a valid token and binds the UID to its subject", async () => {
    const alice = await sign({ sub: "alice", scope: `openid ${SCOPE}` });
    const bob = await sign({ sub: "bob", scope: SCOPE });
    const uid = generateUid();
    await facility.client({ token: alice }).req({ uid, role: "PROD", numConn: 1 });
    expect(facility.s2cs.listSessions().find((s) => s.uid === uid)?.owner).toBe("alice");
    const e = await rpcError(facility.client({ token: bob }).release(uid));
    expect(e.grpcStatus).toBe(grpc.status.PERMISSION_DENIED);
    await facility.client({ token: alice, bearer: true }).release(uid);
  });

  it("refuses an expired token with UNAUTHENTICATED / AUTH_ERROR", async () => {
    const expired = await sign({ sub: "alice", scope: SCOPE }, { exp: Math.floor(Date.now() / 1000) - 600 });
    const e = await rpcError(
      facility.client({ token: expired }).req({ uid: generateUid(), role: "PROD", numConn: 1 }),
    );
    expect([e.grpcStatus, e.seedCode]).toEqual([grpc.status.UNAUTHENTICATED, "AUTH_ERROR"]);
    expect(e.message).toMatch(/expired/);
  });

  it("refuses a wrong-audience token with UNAUTHENTICATED / AUTH_ERROR", async () => {
    const wrongAud = await sign({ sub: "alice", scope: SCOPE }, { aud: "another-service" });
    const e = await rpcError(
      facility.client({ token: wrongAud }).req({ uid: generateUid(), role: "PROD", numConn: 1 }),
    );
    expect([e.grpcStatus, e.seedCode]).toEqual([grpc.status.UNAUTHENTICATED, "AUTH_ERROR"]);
    expect(e.message).toMatch(/aud/);
  });

  it("refuses a token without the scope with PERMISSION_DENIED / AUTH_ERROR", async () => {
    const noScope = await sign({ sub: "alice", scope: "openid" });
    const e = await rpcError(facility.client({ token: noScope }).release(generateUid()));
    expect([e.grpcStatus, e.seedCode]).toEqual([grpc.status.PERMISSION_DENIED, "AUTH_ERROR"]);
  });

  it("refuses a token signed by another key and a garbage token", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ sub: "alice", scope: SCOPE })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime("5m")
      .sign(privateKey);
    for (const token of [forged, "a.b.c", "x".repeat(5000)]) {
      const e = await rpcError(facility.client({ token }).release(generateUid()));
      expect(e.grpcStatus).toBe(grpc.status.UNAUTHENTICATED);
    }
  });
});

describe("OAuth 2.0 token introspection (RFC 7662)", () => {
  let endpoint: Awaited<ReturnType<typeof serve>>;
  let calls = 0;
  const seenAuth: string[] = [];
  beforeAll(async () => {
    endpoint = await serve((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        calls++;
        seenAuth.push(req.headers.authorization ?? "");
        const token = new URLSearchParams(body).get("token");
        const now = Math.floor(Date.now() / 1000);
        const answers: Record<string, unknown> = {
          good: { active: true, sub: "alice", scope: SCOPE, exp: now + 300, aud: ["scistream-s2cs"] },
          noscope: { active: true, sub: "alice", scope: "openid", exp: now + 300, aud: ["scistream-s2cs"] },
          otheraud: { active: true, sub: "alice", scope: SCOPE, exp: now + 300, aud: ["other"] },
        };
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(answers[token ?? ""] ?? { active: false }));
      });
    });
  });
  afterAll(() => endpoint?.close());

  const auth = () =>
    introspectionAuth({
      endpoint: `${endpoint.url}/introspect`,
      clientId: "c42c0dac",
      clientSecret: "s3cret",
      requiredScopes: [SCOPE],
      audience: "scistream-s2cs",
    });

  it("accepts active tokens (cached) and sends client credentials", async () => {
    const a = auth();
    const before = calls;
    expect((await a.authenticate("good")).subject).toBe("alice");
    expect((await a.authenticate("good")).subject).toBe("alice");
    expect(calls - before).toBe(1);
    expect(seenAuth.at(-1)).toBe(`Basic ${Buffer.from("c42c0dac:s3cret").toString("base64")}`);
  });

  it("refuses inactive, wrong-audience and scope-less tokens", async () => {
    const a = auth();
    await expect(a.authenticate("revoked")).rejects.toBeInstanceOf(AuthError);
    await expect(a.authenticate("otheraud")).rejects.toBeInstanceOf(AuthError);
    await expect(a.authenticate("noscope")).rejects.toMatchObject({ code: "ERR_SCISTREAM_FORBIDDEN" });
    await expect(a.authenticate(undefined)).rejects.toBeInstanceOf(AuthError);
  });

  it("works through the S2CS, and an unreachable endpoint is UNAVAILABLE", async () => {
    const f = await startFacility({ reqWaitsForHello: false, auth: auth() });
    try {
      const uid = generateUid();
      await f.client({ token: "good" }).req({ uid, role: "CONS", numConn: 1 });
      await f.client({ token: "good" }).release(uid);
      const e = await rpcError(f.client({ token: "revoked" }).release(uid));
      expect(e.grpcStatus).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      await f.close();
    }
    const down = introspectionAuth({
      endpoint: "http://127.0.0.1:1/introspect",
      clientId: "x",
      clientSecret: "y",
    });
    await expect(down.authenticate("good")).rejects.toMatchObject({ code: "ERR_SCISTREAM_UNAVAILABLE" });
  });
});

describe("authorization metadata", () => {
  it("takes the token with or without Bearer and ignores the reference's placeholder", () => {
    expect(tokenFromAuthorization("abc")).toBe("abc");
    expect(tokenFromAuthorization("Bearer abc")).toBe("abc");
    expect(tokenFromAuthorization("bearer   abc ")).toBe("abc");
    expect(tokenFromAuthorization("INVALID_TOKEN")).toBeUndefined();
    expect(tokenFromAuthorization("")).toBeUndefined();
    expect(tokenFromAuthorization(undefined)).toBeUndefined();
  });
});
