import net from "node:net";
import { createPki, type Pki } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Connection,
  certValidateTrust,
  DelimiterFramer,
  InitiateError,
  type Listener,
  LocalEndpoint,
  Preconnection,
  RemoteEndpoint,
  SecurityParameters,
  TlsSessionCache,
  TransportProperties,
} from "../src/index.js";
import { type OpenSslServer, opensslServer, tempDir } from "./helpers.js";

let pki: Pki;
let dir: ReturnType<typeof tempDir>;
let ossl13: OpenSslServer;
let ossl12: OpenSslServer;

beforeAll(async () => {
  pki = await createPki();
  dir = tempDir();
  const cert = dir.write("server.pem", pki.server.certPem);
  const key = dir.write("server.key", pki.server.keyPem);
  const chain = dir.write("intermediate.pem", pki.intermediate.certPem);
  ossl13 = await opensslServer({ cert, key, chain });
  ossl12 = await opensslServer({ cert, key, chain, extra: ["-tls1_2"] });
}, 60_000);

afterAll(async () => {
  await ossl13?.stop();
  await ossl12?.stop();
  dir?.remove();
});

const tp = () => new TransportProperties().require("preserve-msg-boundaries");

/** A TAPS TLS Listener that echoes one line per connection; records whether each handshake resumed. */
async function echoListener(
  configure: (sp: SecurityParameters) => SecurityParameters = (sp) => sp,
  port = 0,
): Promise<{ listener: Listener; port: number; serverResumed: (boolean | undefined)[] }> {
  const serverResumed: (boolean | undefined)[] = [];
  const listener = new Preconnection({
    local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(port),
    transportProperties: tp(),
    securityParameters: configure(
      new SecurityParameters().addIdentity(pki.server.chainPem).addPrivateKey(pki.server.keyPem),
    ),
  })
    .addFramer(new DelimiterFramer())
    .listen();
  listener.on("connectionReceived", async (c) => {
    serverResumed.push(c.tlsResumed);
    const m = await c.receive().catch(() => undefined);
    if (m) await c.send(m.data).catch(() => {});
    await c.close().catch(() => {});
  });
  await listener.ready;
  return { listener, port: listener.port!, serverResumed };
}

/** One Initiate with an exchange (so TLS 1.3 tickets have arrived), then close. Returns tlsResumed. */
async function roundTrip(port: number, sp: SecurityParameters): Promise<boolean | undefined> {
  const conn: Connection = new Preconnection({
    remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
    transportProperties: tp(),
    securityParameters: sp,
  })
    .addFramer(new DelimiterFramer())
    .initiate({ timeout: 15_000 });
  await conn.ready;
  const resumed = conn.tlsResumed;
  expect(conn.getProperties().get("_x.tls-resumed")).toBe(resumed);
  await conn.send("ping");
  const reply = Buffer.from((await conn.receive()).data).toString();
  expect(["ping", "gnip"]).toContain(reply);
  await conn.close();
  return resumed;
}

function strict(): SecurityParameters {
  const sp = new SecurityParameters().addTrustedCA(pki.root.certPem);
  sp.serverName = "localhost";
  return sp;
}

describe("TLS session resumption between a TAPS client and a TAPS Listener", () => {
  it("the second Initiate of the same parameters resumes, on both sides; the trust callback runs once", async () => {
    const server = await echoListener();
    try {
      let calls = 0;
      const sp = strict().setTrustVerificationCallback((ctx) => {
        calls++;
        return ctx.authorized;
      });
      expect(await roundTrip(server.port, sp)).toBe(false);
      expect(await roundTrip(server.port, sp)).toBe(true);
      expect(calls).toBe(1);
      expect(server.serverResumed).toEqual([false, true]);
      // "reuse" keeps offering the same session (one-time-use takes it out; Node's server sends
      // no new ticket on a resumed TLS 1.3 handshake, so one-time-use alternates full/resumed).
      const reuse = strict().setSessionCachePolicy("reuse");
      const results: (boolean | undefined)[] = [];
      for (let i = 0; i < 4; i++) results.push(await roundTrip(server.port, reuse));
      expect(results).toEqual([false, true, true, true]);
      // Strict verification without a callback resumes too (Node gives no certificate then).
      const plain = strict();
      expect(await roundTrip(server.port, plain)).toBe(false);
      expect(await roundTrip(server.port, plain)).toBe(true);
    } finally {
      await server.listener.stop();
    }
  });

  it("never resumes under another CA set, trust callback or server name; the original still resumes", async () => {
    const server = await echoListener();
    try {
      const accept = () => true;
      const sp = strict().setTrustVerificationCallback(accept);
      expect(await roundTrip(server.port, sp)).toBe(false);
      // Clones share the cache: only the key keeps these apart.
      const otherCa = sp.clone().addTrustedCA(pki.untrustedRoot.certPem);
      expect(otherCa.sessionCache).toBe(sp.sessionCache);
      expect(await roundTrip(server.port, otherCa)).toBe(false);
      let otherCalls = 0;
      const otherCallback = sp.clone().setTrustVerificationCallback(() => {
        otherCalls++;
        return true;
      });
      expect(await roundTrip(server.port, otherCallback)).toBe(false);
      expect(otherCalls).toBe(1);
      const otherName = sp.clone();
      otherName.serverName = "other.localhost";
      expect(await roundTrip(server.port, otherName)).toBe(false);
      const noCallback = sp.clone();
      noCallback.trustVerificationCallback = undefined;
      expect(await roundTrip(server.port, noCallback)).toBe(false);
      expect(await roundTrip(server.port, sp)).toBe(true);
    } finally {
      await server.listener.stop();
    }
  });

  it("a disabled cache never resumes (client side), and a Listener with it disabled issues no tickets", async () => {
    const server = await echoListener();
    const noTickets = await echoListener((sp) => sp.setSessionCacheEnabled(false));
    try {
      const off = strict().setSessionCacheEnabled(false);
      expect(await roundTrip(server.port, off)).toBe(false);
      expect(await roundTrip(server.port, off)).toBe(false);
      expect(off.sessionCache.size).toBe(0);
      const offByName = strict().set("useSessionCache", false);
      expect(await roundTrip(server.port, offByName)).toBe(false);
      expect(await roundTrip(server.port, offByName)).toBe(false);
      const zero = strict().set("maxCachedSessions", 0);
      expect(await roundTrip(server.port, zero)).toBe(false);
      expect(await roundTrip(server.port, zero)).toBe(false);
      const on = strict();
      expect(await roundTrip(noTickets.port, on)).toBe(false);
      expect(await roundTrip(noTickets.port, on)).toBe(false);
      expect(noTickets.serverResumed).toEqual([false, false]);
    } finally {
      await server.listener.stop();
      await noTickets.listener.stop();
    }
  });

  it("capacity evicts the least recently used session; lifetime expires sessions (injected clock)", async () => {
    const server = await echoListener();
    try {
      const accept = () => true;
      const cache = new TlsSessionCache();
      const named = (name: string) => {
        const sp = new SecurityParameters()
          .setTrustVerificationCallback(accept)
          .setSessionCache(cache)
          .setSessionCacheCapacity(1);
        sp.serverName = name;
        return sp;
      };
      expect(await roundTrip(server.port, named("a.localhost"))).toBe(false);
      expect(await roundTrip(server.port, named("b.localhost"))).toBe(false);
      expect(cache.size).toBe(1);
      expect(await roundTrip(server.port, named("a.localhost"))).toBe(false); // evicted by b
      expect(await roundTrip(server.port, named("a.localhost"))).toBe(true);

      let now = 1_000_000;
      const clocked = strict()
        .setSessionCache(new TlsSessionCache({ now: () => now }))
        .set("cachedSessionLifetimeSeconds", 60);
      expect(await roundTrip(server.port, clocked)).toBe(false);
      now += 59_000;
      expect(await roundTrip(server.port, clocked)).toBe(true);
      now += 61_000;
      expect(await roundTrip(server.port, clocked)).toBe(false);
      expect(await roundTrip(server.port, clocked)).toBe(true);
    } finally {
      await server.listener.stop();
    }
  });

  it("a refused peer leaves nothing in the cache; a refused resumption is dropped and replaced", async () => {
    const server = await echoListener();
    try {
      let trust = false;
      const sp = strict().setTrustVerificationCallback(() => trust);
      const refused = new Preconnection({
        remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(server.port),
        transportProperties: tp(),
        securityParameters: sp,
      })
        .addFramer(new DelimiterFramer())
        .initiate({ timeout: 15_000 });
      const error = (await refused.ready.catch((e: unknown) => e)) as InitiateError;
      expect(error).toBeInstanceOf(InitiateError);
      expect(error.reason).toBe("security");
      expect(sp.sessionCache.size).toBe(0);
      trust = true;
      expect(await roundTrip(server.port, sp)).toBe(false);
      expect(await roundTrip(server.port, sp)).toBe(true);
    } finally {
      await server.listener.stop();
    }
    // A new Listener on the same port has new ticket keys: it refuses the cached ticket; the
    // stale entry is dropped and the next connection resumes with the new server's ticket.
    const reuse = strict().setSessionCachePolicy("reuse");
    const first = await echoListener();
    const port = first.port;
    expect(await roundTrip(port, reuse)).toBe(false);
    expect(await roundTrip(port, reuse)).toBe(true);
    await first.listener.stop();
    const second = await echoListener((sp) => sp, port);
    try {
      expect(await roundTrip(port, reuse)).toBe(false);
      expect(await roundTrip(port, reuse)).toBe(true);
      expect(reuse.sessionCache.size).toBe(1);
    } finally {
      await second.listener.stop();
    }
    // A handshake that breaks while a session is offered drops that session too.
    const breaker = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => breaker.listen({ host: "127.0.0.1", port }, () => resolve()));
    try {
      const broken = new Preconnection({
        remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
        transportProperties: tp(),
        securityParameters: reuse,
      })
        .addFramer(new DelimiterFramer())
        .initiate({ timeout: 15_000 });
      expect(await broken.ready.catch((e: unknown) => e)).toBeInstanceOf(InitiateError);
      expect(reuse.sessionCache.size).toBe(0);
    } finally {
      await new Promise<void>((resolve) => breaker.close(() => resolve()));
    }
  });

  it("@x/cert-validate: resumes under the same policy, never when the policy disables resumption", async () => {
    const server = await echoListener();
    try {
      const policy = {
        kind: "path" as const,
        options: {
          anchors: [pki.root.certPem],
          time: new Date(),
          host: "localhost",
          purpose: "serverAuth" as const,
        },
      };
      const verdicts: string[] = [];
      const sp = new SecurityParameters().setTrustVerificationCallback(
        certValidateTrust(policy, { onVerdict: (v) => verdicts.push(v.kind) }),
      );
      sp.serverName = "localhost";
      expect(await roundTrip(server.port, sp)).toBe(false);
      expect(await roundTrip(server.port, sp)).toBe(true);
      expect(verdicts).toEqual(["path"]);
      // The same callback with its policy changed afterwards does not resume the old session.
      (policy.options as { anchors: string[] }).anchors = [pki.root.certPem, pki.untrustedRoot.certPem];
      expect(await roundTrip(server.port, sp)).toBe(false);
      expect(verdicts).toEqual(["path", "path"]);

      const never = new SecurityParameters().setTrustVerificationCallback(
        certValidateTrust(
          { ...policy, disableResumption: true },
          { onVerdict: (v) => verdicts.push(v.kind) },
        ),
      );
      never.serverName = "localhost";
      expect(await roundTrip(server.port, never)).toBe(false);
      expect(await roundTrip(server.port, never)).toBe(false);
      expect(never.sessionCache.size).toBe(0);
    } finally {
      await server.listener.stop();
    }
  });
});

describe("TLS session resumption against openssl s_server", () => {
  it("TLS 1.3: the second Initiate resumes", async () => {
    const sp = strict();
    expect(await roundTrip(ossl13.port, sp)).toBe(false);
    expect(await roundTrip(ossl13.port, sp)).toBe(true);
    expect(await roundTrip(ossl13.port, strict())).toBe(false); // another cache
  });

  it("TLS 1.2: the second Initiate resumes; a session from a rejected peer is never stored", async () => {
    const sp = strict();
    expect(await roundTrip(ossl12.port, sp)).toBe(false);
    expect(await roundTrip(ossl12.port, sp)).toBe(true);
    // TLS 1.2 delivers the session inside the handshake, before the trust callback decides.
    const rejecting = strict().setTrustVerificationCallback(() => false);
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(ossl12.port),
      transportProperties: tp(),
      securityParameters: rejecting,
    })
      .addFramer(new DelimiterFramer())
      .initiate({ timeout: 15_000 });
    expect(await conn.ready.catch((e: unknown) => e)).toBeInstanceOf(InitiateError);
    expect(rejecting.sessionCache.size).toBe(0);
  });
});

describe("TlsSessionCache", () => {
  it("LRU order, one-time-use vs reuse, expiry, and drop only of the same session", () => {
    let now = 0;
    const cache = new TlsSessionCache({ now: () => now });
    const a = Buffer.from("a");
    const b = Buffer.from("b");
    const c = Buffer.from("c");
    cache.store("a", a, 2, 10);
    cache.store("b", b, 2, 10);
    expect(cache.take("a", "reuse")).toBe(a); // a is now most recently used
    cache.store("c", c, 2, 10); // evicts b
    expect(cache.take("b", "reuse")).toBeUndefined();
    expect(cache.take("a", "one-time-use")).toBe(a);
    expect(cache.take("a", "one-time-use")).toBeUndefined();
    const c2 = Buffer.from("c2");
    cache.store("c", c2, 2, 10);
    cache.drop("c", c); // an older session: the newer one stays
    expect(cache.take("c", "reuse")).toBe(c2);
    cache.drop("c", c2);
    expect(cache.size).toBe(0);
    cache.store("d", a, 2, 10);
    now = 9_999;
    expect(cache.take("d", "reuse")).toBe(a);
    now = 10_000;
    expect(cache.take("d", "reuse")).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.store("e", a, 0, 10);
    cache.store("f", a, 2, 0);
    expect(cache.size).toBe(0);
  });
});
