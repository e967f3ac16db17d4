import { afterEach, describe, expect, it } from "vitest";
import {
  type Candidate,
  InitiateError,
  Preconnection,
  RemoteEndpoint,
  type Resolver,
  TransportProperties,
} from "../src/index.js";
import { type BlackHole, blackHole, closedPort, type NetPeer, netServer, record } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A black hole on [::1]:P and a live server on 127.0.0.1:P (same port, so one hostname can name both). */
async function dualStackWithBlackHoledV6(): Promise<{ hole: BlackHole; live: NetPeer; port: number }> {
  for (let i = 0; i < 10; i++) {
    const hole = await blackHole("::1");
    try {
      const live = await netServer((s) => s.end(), "127.0.0.1", hole.port);
      return { hole, live, port: hole.port };
    } catch {
      await hole.close();
    }
  }
  throw new Error("could not place a black hole and a live server on one port");
}

function scriptedResolver(
  answers: Record<
    string,
    { v4?: string[]; v6?: string[]; v4Delay?: number; v6Delay?: number; fail?: boolean }
  >,
): Resolver {
  return {
    lookup(host, family) {
      const a = answers[host];
      if (!a || a.fail)
        return Promise.reject(
          Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }),
        );
      const list = (family === 6 ? a.v6 : a.v4) ?? [];
      const delay = (family === 6 ? a.v6Delay : a.v4Delay) ?? 0;
      return new Promise((r) => setTimeout(() => r(list), delay));
    },
  };
}

describe("candidate racing (RFC 8305)", () => {
  it("racing with a black-holed first address: IPv4 is started while the IPv6 attempt is still pending, and wins", async () => {
    const { hole, live, port } = await dualStackWithBlackHoledV6();
    cleanups.push(
      () => hole.close(),
      () => live.close(),
    );
    const pre = new Preconnection({
      remote: new RemoteEndpoint().withHostname("dual.test").withPort(port),
      options: { resolver: scriptedResolver({ "dual.test": { v4: ["127.0.0.1"], v6: ["::1"] } }) },
    });
    const conn = pre.initiate({ timeout: 20_000 });
    cleanups.push(() => conn.abort());
    await conn.ready;
    const tl = conn.timeline;
    const v6 = `[::1]:${port}`;
    const v4 = `127.0.0.1:${port}`;
    const idx = (event: string, candidate: string) =>
      tl.findIndex((e) => e.event === event && e.candidate === candidate);
    expect(idx("attempt", v6)).toBeGreaterThanOrEqual(0);
    expect(idx("attempt", v4)).toBeGreaterThan(idx("attempt", v6)); // IPv6 first, IPv4 staggered after it
    expect(idx("attempt-failed", v6)).toBe(-1); // the black-holed attempt never failed: it was still pending
    expect(idx("won", v4)).toBeGreaterThan(idx("attempt", v4));
    expect(idx("cancelled", v6)).toBeGreaterThan(idx("won", v4)); // the loser was closed after the win
    expect(conn.getProperties().get("_x.remote-address")).toBe("127.0.0.1");
    // Informational: the win came one stagger delay after the start (not asserted: no timing asserts).
    console.info(`black-holed v6: v4 won at ${tl[idx("won", v4)]!.t} ms (attempt delay 250 ms)`);
  });

  it("refused first address: the next attempt starts at once, without waiting for the stagger delay", async () => {
    const refused = await closedPort();
    const live = await netServer((s) => s.end());
    cleanups.push(() => live.close());
    const pre = new Preconnection({
      remote: [
        new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(refused),
        new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(live.port),
      ],
      // A stagger delay longer than the establishment timeout: only an immediate retry can succeed.
      options: { attemptDelay: 60_000 },
    });
    const conn = pre.initiate({ timeout: 15_000 });
    cleanups.push(() => conn.abort());
    await conn.ready;
    const events = conn.timeline
      .filter((e) => e.event !== "resolve" && e.event !== "resolved")
      .map((e) => `${e.event} ${e.candidate}`);
    expect(events).toEqual([
      `attempt 127.0.0.1:${refused}`,
      `attempt-failed 127.0.0.1:${refused}`,
      `attempt 127.0.0.1:${live.port}`,
      `won 127.0.0.1:${live.port}`,
    ]);
  });

  it("simulated black hole (injected attempt): earlier attempts stay alive, losers are aborted, one winner", async () => {
    const live = await netServer((s) => s.end());
    cleanups.push(() => live.close());
    const aborted: string[] = [];
    const started: string[] = [];
    const pre = new Preconnection({
      remote: new RemoteEndpoint().withHostname("three.test").withPort(live.port),
      options: {
        attemptDelay: 20,
        resolver: scriptedResolver({ "three.test": { v6: ["::1", "::2"], v4: ["127.0.0.1"] } }),
        attempt: (c: Candidate, signal, next) => {
          started.push(c.address);
          if (c.address === "127.0.0.1") return next(c, signal);
          return new Promise((_, reject) =>
            signal.addEventListener("abort", () => {
              aborted.push(c.address);
              reject(new Error("aborted"));
            }),
          );
        },
      },
    });
    const conn = pre.initiate({ timeout: 15_000 });
    cleanups.push(() => conn.abort());
    await conn.ready;
    // Families alternate: ::1, then 127.0.0.1 (which wins); ::2 is never needed.
    expect(started.slice(0, 2)).toEqual(["::1", "127.0.0.1"]);
    expect(aborted).toEqual(["::1"]);
    expect(conn.protocolStack).toBe("tcp");
  });

  it("resolution delay: AAAA within 50 ms is tried first; a late AAAA lets IPv4 go first (RFC 8305 §3)", async () => {
    const live = await netServer((s) => s.end());
    cleanups.push(() => live.close());
    const firstFamily = async (v6Delay: number) => {
      const order: number[] = [];
      const pre = new Preconnection({
        remote: new RemoteEndpoint().withHostname("slow.test").withPort(live.port),
        options: {
          resolver: scriptedResolver({ "slow.test": { v4: ["127.0.0.1"], v6: ["::1"], v6Delay } }),
          attempt: (c, s, n) => {
            order.push(c.family);
            return n(c, s);
          },
        },
      });
      const conn = pre.initiate({ timeout: 15_000 });
      await conn.ready.catch(() => {});
      conn.abort();
      return order[0];
    };
    expect(await firstFamily(20)).toBe(6);
    expect(await firstFamily(400)).toBe(4);
  });

  it("several Remote Endpoints are tried in order", async () => {
    const a = await closedPort();
    const b = await closedPort();
    const live = await netServer((s) => s.end());
    cleanups.push(() => live.close());
    const pre = new Preconnection({
      remote: [a, b, live.port].map((p) => new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(p)),
    });
    const conn = pre.initiate({ timeout: 15_000 });
    cleanups.push(() => conn.abort());
    await conn.ready;
    const attempts = conn.timeline.filter((e) => e.event === "attempt").map((e) => e.candidate);
    expect(attempts).toEqual([`127.0.0.1:${a}`, `127.0.0.1:${b}`, `127.0.0.1:${live.port}`]);
  });
});

describe("establishment failures", () => {
  it("a closed port gives InitiateError (not ConnectionError) and no Ready", async () => {
    const port = await closedPort();
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
    }).initiate();
    const log = record(conn);
    const error = await conn.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InitiateError);
    expect((error as InitiateError).reason).toBe("refused");
    expect((error as InitiateError).syscallCode).toBe("ECONNREFUSED");
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(["initiateError"]);
  });

  it("Initiate(timeout) against a loopback black hole gives InitiateError with reason timeout", async () => {
    const hole = await blackHole("127.0.0.1");
    cleanups.push(() => hole.close());
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(hole.port),
    }).initiate({ timeout: 300 });
    const [error] = await new Promise<[InitiateError]>((r) => conn.once("establishmentError", (e) => r([e])));
    expect(error.reason).toBe("timeout");
    expect(conn.timeline.map((e) => e.event)).toContain("cancelled");
  });

  it("an unresolvable name gives InitiateError with reason resolution", async () => {
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withHostname("nowhere.test").withPort(1),
      options: { resolver: scriptedResolver({ "nowhere.test": { fail: true } }) },
    }).initiate();
    const error = (await conn.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error).toBeInstanceOf(InitiateError);
    expect(error.reason).toBe("resolution");
  });

  it("an unresolvable name through the system resolver fails without hanging", async () => {
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withHostname("no-such-host.invalid").withPort(1),
    }).initiate({ timeout: 8000 });
    const error = (await conn.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error).toBeInstanceOf(InitiateError);
    expect(["resolution", "timeout"]).toContain(error.reason);
  });

  it("every candidate unreachable (loopback, all refused) gives one InitiateError listing them", async () => {
    const ports = [await closedPort(), await closedPort()];
    const conn = new Preconnection({
      remote: ports.map((p) => new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(p)),
      transportProperties: new TransportProperties(),
    }).initiate();
    const error = (await conn.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error.reason).toBe("refused");
    for (const p of ports) expect(error.message).toContain(String(p));
  });
});
