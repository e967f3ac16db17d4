import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EndpointError,
  LocalEndpoint,
  MessageContext,
  PROPERTY_REGISTRY,
  Preconnection,
  PropertyError,
  RemoteEndpoint,
  StateError,
  TransportProperties,
} from "../src/index.js";

describe("TransportProperties", () => {
  it("has the -06 defaults", () => {
    const tp = new TransportProperties();
    expect(tp.get("reliability")).toBe("require");
    expect(tp.get("preserve-msg-boundaries")).toBe("prefer");
    expect(tp.get("multistreaming")).toBe("prefer");
    expect(tp.get("multipath")).toBe("Disabled");
    expect(tp.get("conn-prio")).toBe(100);
    expect(tp.get("msg-lifetime")).toBe(Number.POSITIVE_INFINITY);
  });

  it("accepts RFC 9622 names as aliases (case-insensitive) and noPreference as ignore", () => {
    const tp = new TransportProperties().add("preserveMsgBoundaries", "require").add("CONNPRIORITY", 7);
    expect(tp.get("preserve-msg-boundaries")).toBe("require");
    expect(tp.get("conn-prio")).toBe(7);
    tp.add("fullChecksumSend", "noPreference");
    expect(tp.get("per-msg-checksum-len-send")).toBe("ignore");
    tp.add("safelyReplayable", true);
    expect(tp.get("idempotent")).toBe(true);
  });

  it("Default resets to the implementation default and never shows up in queries", () => {
    const tp = new TransportProperties().avoid("reliability");
    tp.default("reliability");
    expect(tp.get("reliability")).toBe("require");
    tp.add("reliability", "default");
    expect(tp.has("reliability")).toBe(false);
  });

  it("lists every value of enumerated properties (-06 §4.2.2)", () => {
    expect(TransportProperties.values("direction")).toEqual([
      "Bidirectional",
      "Unidirectional send",
      "Unidirectional receive",
    ]);
    expect(TransportProperties.values("reliability")).toEqual([
      "require",
      "prefer",
      "ignore",
      "avoid",
      "prohibit",
    ]);
    expect(TransportProperties.values("conn-capacity-profile")).toContain("Scavenger");
  });

  it("profiles match -06 Appendix A.2", () => {
    const u = TransportProperties.profile("unreliable-datagram");
    expect([
      u.get("reliability"),
      u.get("preserve-order"),
      u.get("congestion-control"),
      u.get("preserve-msg-boundaries"),
      u.get("idempotent"),
    ]).toEqual(["ignore", "ignore", "ignore", "require", true]);
    expect(TransportProperties.profile("reliable-inorder-stream").get("preserve-msg-boundaries")).toBe(
      "ignore",
    );
    expect(TransportProperties.profile("reliable-message").get("preserve-msg-boundaries")).toBe("require");
  });

  it("rejects unknown names, wrong types and read-only properties with PropertyError (fast-check)", () => {
    const known = new Set(PROPERTY_REGISTRY.flatMap((r) => [r.name, r.rfcName?.toLowerCase()]));
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.anything(), (name, value) => {
        const tp = new TransportProperties();
        try {
          tp.add(name, value);
        } catch (error) {
          expect(error).toBeInstanceOf(PropertyError);
          return;
        }
        expect(
          known.has(name.toLowerCase()) || name.startsWith("_x.") || name.toLowerCase() === "nosegmentation",
        ).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(() => new TransportProperties().add("state", "Closed")).toThrow(PropertyError);
    expect(() => new TransportProperties().add("direction", "sideways")).toThrow(PropertyError);
    expect(() => new TransportProperties().add("conn-prio", 1.5)).toThrow(PropertyError);
  });
});

describe("MessageContext", () => {
  it("holds Message properties and framer-scoped metadata, and freezes once used in Send", async () => {
    const framer = {};
    const ctx = new MessageContext().add("msg-lifetime", 500).add(framer, "type", 3);
    expect(ctx.get("msgLifetime")).toBe(500);
    expect(ctx.get(framer, "type")).toBe(3);
    expect(() => ctx.add("reliability", "require")).toThrow(PropertyError);
    expect(() => ctx.add("msg-prio", -1)).toThrow(PropertyError);
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(1),
    }).initiate();
    void conn.send("x", ctx).catch(() => {});
    expect(() => ctx.add("final", true)).toThrow(StateError);
    await conn.ready.catch(() => {});
    const reply = ctx.reply();
    expect(reply.getOriginalRequest()).toBe(ctx);
  });
});

describe("Endpoints", () => {
  it("validate identifiers and keep several per endpoint", () => {
    const r = new RemoteEndpoint().withIPv4Address("192.0.2.21").withIPv6Address("2001:db8::1").withPort(443);
    const s = r.snapshot();
    expect([s.ipv4, s.ipv6, s.port]).toEqual([["192.0.2.21"], ["2001:db8::1"], 443]);
    expect(new RemoteEndpoint().withHostname("10.0.0.1").snapshot().ipv4).toEqual(["10.0.0.1"]);
    expect(new LocalEndpoint().withIPv4Address("233.252.0.0").isMulticast).toBe(true);
    expect(() => new RemoteEndpoint().withIPv4Address("::1")).toThrow(EndpointError);
    expect(() => new LocalEndpoint().withInterface("no-such-if0")).toThrow(EndpointError);
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), (port) => {
        const ok = port >= 0 && port <= 65535;
        if (ok) expect(new RemoteEndpoint().withPort(port).snapshot().port).toBe(port);
        else expect(() => new RemoteEndpoint().withPort(port)).toThrow(EndpointError);
      }),
      { numRuns: 200 },
    );
  });

  it("a snapshot is not affected by later changes (-06 §6.1)", () => {
    const r = new RemoteEndpoint().withHostname("a.example").withPort(1);
    const s = r.snapshot();
    r.withHostname("b.example").withPort(2);
    expect([s.hostnames, s.port]).toEqual([["a.example"], 1]);
  });
});

describe("events", () => {
  it("an error event with no listener does not crash the process; RFC names are aliases", async () => {
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(1),
    }).initiate();
    // no listeners at all
    await conn.ready.catch(() => {});
    const second = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(1),
    }).initiate();
    const seen: string[] = [];
    second.on("establishmentError", () => seen.push("establishmentError"));
    second.on("InitiateError", () => seen.push("InitiateError"));
    await second.ready.catch(() => {});
    await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual(["establishmentError", "InitiateError"]); // both handlers, one event
  });
});
