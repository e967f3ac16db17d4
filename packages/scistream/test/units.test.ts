import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BadFormatError,
  ConfigError,
  NoResourceError,
  SciStreamError,
  seedCodeForStatus,
} from "../src/errors.js";
import { Hello, Request as RequestMessage, UpdateTargets } from "../src/gen/scistream.js";
import { MetricsRegistry } from "../src/metrics.js";
import { KeyedRateLimiter } from "../src/s2cs/rate-limiter.js";
import { PortPool, parsePortRange } from "../src/s2ds/port-pool.js";
import { formatHostPort, parseHostPort } from "../src/s2ds/s2ds.js";
import { TokenBucket } from "../src/s2ds/throttle.js";
import {
  derivedIdentity,
  derivedPsk,
  generateUid,
  REFERENCE_PSK_IDENTITY,
  referencePsk,
  validateUid,
} from "../src/uid.js";

describe("UIDs and PSKs", () => {
  it("generates 128-bit hex UIDs that are distinct", () => {
    const uids = new Set(Array.from({ length: 1000 }, generateUid));
    expect(uids.size).toBe(1000);
    for (const u of uids) expect(u).toMatch(/^[0-9a-f]{32}$/);
  });

  it("derives the reference's PSK: hex of the uid without dashes, identity client1", () => {
    const uid = "4f8583bc-a4d3-11ee-9fd6-034d1fcbd7c3";
    expect(referencePsk(uid).toString("hex")).toBe("4f8583bca4d311ee9fd6034d1fcbd7c3");
    expect(REFERENCE_PSK_IDENTITY).toBe("client1");
    expect(referencePsk("not-hex-at-all-but-long-enough").toString()).toBe("nothexatallbutlongenough");
  });

  it("derives distinct 32-byte keys and identities per UID", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9._~-]{16,64}$/),
        fc.stringMatching(/^[A-Za-z0-9._~-]{16,64}$/),
        (a, b) => {
          expect(derivedPsk(a)).toHaveLength(32);
          if (a !== b) {
            expect(derivedPsk(a).equals(derivedPsk(b))).toBe(false);
            expect(derivedIdentity(a)).not.toBe(derivedIdentity(b));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("validates UIDs", () => {
    expect(() => validateUid(generateUid())).not.toThrow();
    expect(() => validateUid("4f8583bc-a4d3-11ee-9fd6-034d1fcbd7c3")).not.toThrow();
    for (const bad of ["", "short", "x".repeat(129), "has space in it......", "uid\u0000nul-0123456789"]) {
      expect(() => validateUid(bad)).toThrow(BadFormatError);
    }
  });
});

describe("port pool", () => {
  it("parses ranges", () => {
    expect(parsePortRange("5100-5200")).toEqual({ from: 5100, to: 5200 });
    expect(parsePortRange("0")).toBe("ephemeral");
    for (const bad of ["5200-5100", "abc", "0-70000", "1-"])
      expect(() => parsePortRange(bad)).toThrow(ConfigError);
  });

  it("never hands out a port twice and is whole after releasing everything (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.boolean(), { maxLength: 200 }),
        (size, ops) => {
          const pool = new PortPool({ from: 6000, to: 6000 + size - 1 });
          const held: number[] = [];
          for (const take of ops) {
            if (take) {
              if (held.length === size) {
                expect(() => pool.allocate()).toThrow(NoResourceError);
              } else {
                const p = pool.allocate();
                expect(held).not.toContain(p);
                expect(p).toBeGreaterThanOrEqual(6000);
                expect(p).toBeLessThan(6000 + size);
                held.push(p);
              }
            } else if (held.length > 0) {
              pool.release(held.shift()!);
            }
            expect(pool.allocated).toBe(held.length);
          }
          for (const p of held) pool.release(p);
          pool.release(6000); // double release is harmless
          expect(pool.whole).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("skips ports known to be busy", () => {
    const pool = new PortPool({ from: 7000, to: 7002 });
    expect(pool.allocate(new Set([7000, 7001]))).toBe(7002);
  });
});

describe("endpoints", () => {
  it("parses and formats host:port", () => {
    expect(parseHostPort("127.0.0.1:7000")).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(parseHostPort("[::1]:7000")).toEqual({ host: "::1", port: 7000 });
    expect(parseHostPort("node-1.example.org:5100")).toEqual({ host: "node-1.example.org", port: 5100 });
    expect(formatHostPort("::1", 5)).toBe("[::1]:5");
    for (const bad of ["", "host", "host:0", "host:65536", "a b:1", ":80", "host:-1"]) {
      expect(() => parseHostPort(bad)).toThrow(ConfigError);
    }
  });

  it("parseHostPort never throws anything but ConfigError (fuzz)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        try {
          const t = parseHostPort(s);
          expect(t.port).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("wire messages", () => {
  it("round-trip with the reference's field numbers", () => {
    const req = RequestMessage.encode({ uid: "u", role: "PROD", numConn: 2, rate: 10000 }).finish();
    // field 1 (uid) tag 0x0a, field 2 (role) 0x12, field 3 (num_conn) 0x18, field 4 (rate) 0x20
    expect(Buffer.from(req).toString("hex")).toBe("0a0175120450524f4418022090 4e".replace(/ /g, ""));
    const hello = Hello.encode({ uid: "u", prodListeners: ["a:1"], role: "PROD" }).finish();
    expect(Hello.decode(hello)).toEqual({ uid: "u", prodListeners: ["a:1"], role: "PROD" });
  });

  it("decoders either decode or throw on arbitrary bytes (fuzz)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const codec of [RequestMessage, Hello, UpdateTargets]) {
          try {
            codec.decode(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(Error);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("limits and metrics", () => {
  it("rate limiter allows a burst then refuses with a retry hint", () => {
    const limiter = new KeyedRateLimiter({ perSecond: 1, burst: 2 });
    limiter.take("a", 0);
    limiter.take("a", 0);
    expect(() => limiter.take("a", 0)).toThrow(/Rate limit/);
    limiter.take("b", 0);
    limiter.take("a", 1500);
  });

  it("token bucket asks for a wait proportional to the deficit", () => {
    const bucket = new TokenBucket(1000, 100);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(500)).toBeGreaterThan(400);
  });

  it("renders Prometheus text with escaped labels", async () => {
    const m = new MetricsRegistry();
    m.inc("x_total", "An x", { a: 'q"uote\\' });
    m.set("y", "A y\nline", 3);
    const text = await m.render();
    expect(text).toContain("# TYPE x_total counter");
    expect(text).toContain('x_total{a="q\\"uote\\\\"} 1');
    expect(text).toContain("# HELP y A y\\nline");
    expect(text).toMatch(/^y 3$/m);
  });

  it("errors carry code, seed code and gRPC status", () => {
    const e = new NoResourceError("full", { cause: new Error("inner") });
    expect(e).toBeInstanceOf(SciStreamError);
    expect([e.name, e.code, e.seedCode, e.grpcStatus]).toEqual([
      "NoResourceError",
      "ERR_SCISTREAM_NO_RESOURCE",
      "NO_RESOURCE",
      8,
    ]);
    expect((e.cause as Error).message).toBe("inner");
    expect(seedCodeForStatus(16)).toBe("AUTH_ERROR");
    expect(seedCodeForStatus(2)).toBe("SERVER_ERR");
  });
});
