import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { S2ds } from "../src/s2ds/s2ds.js";
import { derivedIdentity, derivedPsk, generateUid } from "../src/uid.js";
import {
  digestOf,
  eventually,
  exchange,
  expectClosedWithoutData,
  payload,
  startDigestApp,
} from "./helpers.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pair(options: ConstructorParameters<typeof S2ds>[0] = {}, numConn = 2, rate = 0) {
  const app = await startDigestApp();
  cleanups.push(app.close);
  const prod = new S2ds({ workers: 0, ...options });
  const cons = new S2ds({ workers: 0, ...options });
  cleanups.push(
    () => prod.close(),
    () => cons.close(),
  );
  const uid = generateUid();
  const inbound = await prod.openSession({ uid, direction: "inbound", numConn, rateBytesPerSecond: rate });
  await inbound.setTargets([{ host: "127.0.0.1", port: app.port }]);
  const outbound = await cons.openSession({ uid, direction: "outbound", numConn, rateBytesPerSecond: rate });
  await outbound.setTargets(inbound.ports.map((port) => ({ host: "127.0.0.1", port })));
  return { app, prod, cons, uid, inbound, outbound };
}

describe("S2DS relay pair", () => {
  for (const workers of [0, 2]) {
    it(`moves data byte for byte over TLS-PSK with half-close (workers=${workers})`, async () => {
      const { outbound, inbound } = await pair({ workers }, 3);
      const data = payload(3 * 1024 * 1024 + 17);
      const answers = await Promise.all(outbound.ports.map((p) => exchange(p, data)));
      for (const a of answers) expect(a.toString()).toBe(digestOf(data));
      await eventually(async () => (await inbound.stats()).every((s) => s.connectionsActive === 0));
      const stats = await outbound.stats();
      expect(stats).toHaveLength(3);
      for (const s of stats) expect(s.bytesIn).toBe(data.length);
    });
  }

  for (const profile of ["tls12", "reference-compat"] as const) {
    it(`works with the ${profile} profile`, async () => {
      const { outbound } = await pair({ profile }, 1);
      const data = payload(100_000);
      expect((await exchange(outbound.ports[0]!, data)).toString()).toBe(digestOf(data));
    });
  }

  it("relays plain TCP when asked, with a warning", async () => {
    const warnings: string[] = [];
    const { outbound } = await pair({ transport: "tcp", onWarning: (w) => warnings.push(w) }, 1);
    const data = payload(50_000);
    expect((await exchange(outbound.ports[0]!, data)).toString()).toBe(digestOf(data));
    expect(warnings.join()).toMatch(/plain TCP/);
  });

  it("refuses an outbound side with the wrong UID", async () => {
    const app = await startDigestApp();
    cleanups.push(app.close);
    const prod = new S2ds({ workers: 0 });
    const cons = new S2ds({ workers: 0 });
    cleanups.push(
      () => prod.close(),
      () => cons.close(),
    );
    const inbound = await prod.openSession({ uid: generateUid(), direction: "inbound", numConn: 1 });
    await inbound.setTargets([{ host: "127.0.0.1", port: app.port }]);
    const outbound = await cons.openSession({ uid: generateUid(), direction: "outbound", numConn: 1 });
    await outbound.setTargets([{ host: "127.0.0.1", port: inbound.ports[0]! }]);
    expect(await expectClosedWithoutData(outbound.ports[0]!)).toBe(true);
    await eventually(async () => Object.keys((await inbound.stats())[0]!.handshakeFailures).length > 0);
    expect((await inbound.stats())[0]!.connectionsActive).toBe(0);
  });

  it("refuses an unknown PSK identity and the right identity with the wrong key", async () => {
    const { inbound, uid } = await pair({}, 1);
    const port = inbound.ports[0]!;
    const attempt = (identity: string, psk: Buffer) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port,
          ciphers: "TLS_AES_128_GCM_SHA256:ECDHE-PSK-CHACHA20-POLY1305",
          pskCallback: () => ({ identity, psk }),
          checkServerIdentity: () => undefined,
        });
        s.on("secureConnect", () => {
          s.write("x");
        });
        s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
        s.on("close", () => resolve("closed"));
      });
    expect(await attempt("someone-else", derivedPsk(uid))).not.toBe("ok");
    expect(await attempt(derivedIdentity(uid), derivedPsk(generateUid()))).not.toBe("ok");
    const failures = (await inbound.stats())[0]!.handshakeFailures;
    expect(Object.values(failures).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
  });

  it("drops connections to a channel whose target is not set yet", async () => {
    const s2ds = new S2ds({ workers: 0, transport: "tcp" });
    cleanups.push(() => s2ds.close());
    const session = await s2ds.openSession({ uid: generateUid(), direction: "outbound", numConn: 1 });
    expect(await expectClosedWithoutData(session.ports[0]!)).toBe(true);
    expect((await session.stats())[0]!.connectionsRefused).toBe(1);
  });

  it("enforces the rate limit as an upper bound on throughput", async () => {
    const rate = 200_000; // bytes/s for the session
    const { outbound } = await pair({ transport: "tcp" }, 1, rate);
    const net = await import("node:net");
    const start = performance.now();
    const s = net.connect({ host: "127.0.0.1", port: outbound.ports[0]! }, () =>
      s.write(payload(16 * 1024 * 1024)),
    );
    s.on("error", () => {});
    cleanups.push(async () => void s.destroy());
    await new Promise((r) => setTimeout(r, 800));
    const stats = await outbound.stats();
    const elapsed = (performance.now() - start) / 1000;
    // What the channel read is bounded by the bucket (rate x time + burst) plus stream buffers;
    // unthrottled, loopback would move the whole 16 MiB in this time. Load only lowers the figure.
    expect(stats[0]!.bytesIn).toBeLessThanOrEqual(rate * elapsed + 1024 * 1024);
  });

  it("applies back-pressure: a producer that stops reading stalls the consumer, not the relay's memory", async () => {
    const net = await import("node:net");
    const stalled = new Set<import("node:net").Socket>();
    const app = net.createServer((s) => {
      stalled.add(s);
      s.pause(); // never reads
      s.on("error", () => {});
    });
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    cleanups.push(async () => {
      for (const s of stalled) s.destroy();
      await new Promise<void>((r) => app.close(() => r()));
    });
    const prod = new S2ds({ workers: 0 });
    const cons = new S2ds({ workers: 0 });
    cleanups.push(
      () => prod.close(),
      () => cons.close(),
    );
    const uid = generateUid();
    const inbound = await prod.openSession({ uid, direction: "inbound", numConn: 1 });
    await inbound.setTargets([
      { host: "127.0.0.1", port: (app.address() as import("node:net").AddressInfo).port },
    ]);
    const outbound = await cons.openSession({ uid, direction: "outbound", numConn: 1 });
    await outbound.setTargets([{ host: "127.0.0.1", port: inbound.ports[0]! }]);
    const total = 64 * 1024 * 1024;
    const client = net.connect({ host: "127.0.0.1", port: outbound.ports[0]! }, () =>
      client.write(Buffer.alloc(total)),
    );
    client.on("error", () => {});
    cleanups.push(async () => void client.destroy());
    await eventually(async () => (await outbound.stats())[0]!.bytesIn > 0);
    await new Promise((r) => setTimeout(r, 1000));
    // Only socket and stream buffers can hold data; without back-pressure the relays would have
    // read all 64 MiB into memory by now.
    expect((await outbound.stats())[0]!.bytesIn).toBeLessThan(24 * 1024 * 1024);
    expect((await inbound.stats())[0]!.bytesIn).toBeLessThan(24 * 1024 * 1024);
    expect(client.writableLength).toBeGreaterThan(0);
  });

  it("frees the slot of a peer that vanished right after its side of the handshake", async () => {
    const { inbound, outbound, uid } = await pair({ maxConnectionsPerChannel: 2 }, 1);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port: inbound.ports[0]!,
          ciphers: "TLS_AES_128_GCM_SHA256",
          pskCallback: () => ({ identity: derivedIdentity(uid), psk: derivedPsk(uid) }),
          checkServerIdentity: () => undefined,
        });
        s.on("secureConnect", () => s.destroy());
        s.on("error", () => {});
        s.on("close", () => resolve());
      });
    }
    // With tls.Server + allowHalfOpen these half-open handshakes used to hold the slots (and
    // block close()) until the handshake timeout; the legitimate stream must still get through.
    await eventually(async () => (await inbound.stats())[0]!.connectionsActive === 0);
    const data = payload(10_000);
    expect((await exchange(outbound.ports[0]!, data)).toString()).toBe(digestOf(data));
    await inbound.close();
  });

  it("closes a connection that never completes its TLS handshake", async () => {
    const s2ds = new S2ds({ workers: 0, handshakeTimeoutMs: 200 });
    cleanups.push(() => s2ds.close());
    const session = await s2ds.openSession({ uid: generateUid(), direction: "inbound", numConn: 1 });
    await session.setTargets([{ host: "127.0.0.1", port: 9 }]);
    const net = await import("node:net");
    // Connects and sends nothing: the server must hang up on its own.
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: session.ports[0]! });
      s.on("error", () => {});
      s.on("close", () => resolve(true));
    });
    expect(closed).toBe(true);
    expect((await session.stats())[0]!.connectionsAccepted).toBe(0);
  });

  it("closes a relayed connection that stays idle", async () => {
    const { outbound } = await pair({ transport: "tcp", idleTimeoutMs: 200 }, 1);
    const net = await import("node:net");
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: outbound.ports[0]! }, () => s.write("some bytes"));
      s.on("error", () => {});
      s.on("close", () => resolve(true));
    });
    expect(closed).toBe(true);
    await eventually(async () => (await outbound.stats())[0]!.connectionsActive === 0);
  });

  it("keeps idle workers briefly for the next session, then stops them", async () => {
    const s2ds = new S2ds({ workers: 1, workerIdleMs: 100 });
    cleanups.push(() => s2ds.close());
    const a = await s2ds.openSession({ uid: generateUid(), direction: "inbound", numConn: 1 });
    await a.close();
    expect(s2ds.host.workerCount).toBe(1);
    await eventually(() => s2ds.host.workerCount === 0);
  });

  it("returns every port and terminates workers on close", async () => {
    const s2ds = new S2ds({ workers: 2, workerIdleMs: 0 });
    const sessions = await Promise.all(
      [1, 2, 3].map(() => s2ds.openSession({ uid: generateUid(), direction: "inbound", numConn: 2 })),
    );
    expect(s2ds.host.workerCount).toBe(2);
    for (const s of sessions) await s.close();
    expect(s2ds.host.workerCount).toBe(0);
    expect(s2ds.pool.whole).toBe(true);
    await s2ds.close();
  });
});
