/** Unit tests: topic helpers (with fast-check), option validation, de-duplication, embedded broker. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RecordDeduplicator } from "../src/dedup.js";
import {
  appendReplyTo,
  createMqttMtp,
  filterCovers,
  MqttMtpError,
  splitReplyTo,
  startEmbeddedBroker,
  topicMatches,
} from "../src/index.js";
import { topicFilterProblem, topicNameProblem } from "../src/topics.js";
import { parseBrokerUrl } from "../src/transport.js";
import { identities, MtpPool, nextRecord, payloadText, recordBytes } from "./helpers.js";

const level = fc.stringMatching(/^[a-zA-Z0-9:._-]{1,12}$/);
const topic = fc.array(level, { minLength: 1, maxLength: 6 }).map((l) => l.join("/"));

describe("reply-to topics (R-MQTT.24/25)", () => {
  it("matches the TR-369 example", () => {
    expect(
      appendReplyTo(
        "usp/agents/cid:3AA3F8:my-unique-usp-id-42",
        "usp/controllers/oui:00256D:my-unique-bbf-id-42",
      ),
    ).toBe(
      "usp/agents/cid:3AA3F8:my-unique-usp-id-42/reply-to=usp%2Fcontrollers%2Foui:00256D:my-unique-bbf-id-42",
    );
  });

  it("round-trips any topic without % and /reply-to=", () => {
    fc.assert(
      fc.property(topic, topic, (t, reply) => {
        const split = splitReplyTo(appendReplyTo(t, reply));
        expect(split).toEqual({ topic: t, replyTo: reply });
      }),
      { numRuns: 300 },
    );
  });

  it("uses the last /reply-to=, decodes %2F in either case and nothing else", () => {
    expect(splitReplyTo("a/reply-to=x/reply-to=b%2fc%3Ad")).toEqual({
      topic: "a/reply-to=x",
      replyTo: "b/c%3Ad",
    });
    expect(splitReplyTo("a/b")).toEqual({ topic: "a/b", replyTo: undefined });
    expect(splitReplyTo("a/reply-to=")).toEqual({ topic: "a", replyTo: undefined });
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = splitReplyTo(s);
        expect(typeof r.topic).toBe("string");
      }),
      { numRuns: 300 },
    );
  });
});

describe("topic filters", () => {
  it("matches per MQTT 5.0 §4.7", () => {
    expect(topicMatches("a/#", "a")).toBe(true);
    expect(topicMatches("a/#", "a/b/c")).toBe(true);
    expect(topicMatches("a/+", "a/b")).toBe(true);
    expect(topicMatches("a/+", "a/b/c")).toBe(false);
    expect(topicMatches("+/b", "a/b")).toBe(true);
    expect(topicMatches("#", "$SYS/x")).toBe(false);
    expect(topicMatches("a/b", "a/b")).toBe(true);
    expect(topicMatches("a/b", "a/c")).toBe(false);
  });

  it("a covering filter matches every topic the inner filter matches", () => {
    const filterLevel = fc.oneof(level, fc.constant("+"));
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([ls, hash]) => [...ls, ...(hash ? ["#"] : [])].join("/"));
    fc.assert(
      fc.property(filter, filter, topic, (outer, inner, t) => {
        if (filterCovers(outer, inner) && topicMatches(inner, t)) expect(topicMatches(outer, t)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(filterCovers("usp/#", "usp/a/+")).toBe(true);
    expect(filterCovers("usp/+", "usp/a")).toBe(true);
    expect(filterCovers("usp/a", "usp/+")).toBe(false);
  });

  it("validates names and filters", () => {
    expect(topicNameProblem("a/+/b")).toMatch(/wildcard/);
    expect(topicNameProblem("")).toMatch(/empty/);
    expect(topicNameProblem("usp/a")).toBeUndefined();
    expect(topicFilterProblem("a/#/b")).toMatch(/#/);
    expect(topicFilterProblem("a/b+")).toMatch(/\+/);
    expect(topicFilterProblem("a/+/#")).toBeUndefined();
  });
});

describe("options", () => {
  const base = {
    role: "agent" as const,
    endpointId: "proto::a",
    url: "mqtt://127.0.0.1:1883",
    responseTopic: "t",
  };
  const bad: [string, Record<string, unknown>][] = [
    ["role", { role: "broker" }],
    ["endpointId", { endpointId: "no-colons" }],
    ["url scheme", { url: "http://x" }],
    ["url", { url: "::::" }],
    ["mqttVersion", { mqttVersion: "3.1" }],
    ["qos", { qos: 2 }],
    ["keepAlive", { keepAlive: -1 }],
    ["subscription", { subscriptions: ["a/#/b"] }],
    ["responseTopic", { responseTopic: "a/+" }],
    ["peer topic", { peers: [{ endpointId: "proto::c", topic: "$SYS/x" }] }],
    ["retry multiplier", { retry: { intervalMultiplier: 999 } }],
    ["retry time", { retry: { connectRetryTime: 0 } }],
    ["tls on mqtt://", { tls: { ca: "x" } }],
  ];
  for (const [name, patch] of bad) {
    it(`rejects a bad ${name} with ERR_MQTT_CONFIG`, () => {
      let caught: unknown;
      try {
        createMqttMtp({ ...base, ...patch } as never);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(MqttMtpError);
      expect((caught as MqttMtpError).code).toBe("ERR_MQTT_CONFIG");
      expect((caught as MqttMtpError).name).toBe("MqttMtpError");
    });
  }

  it("parses broker URLs with defaults", () => {
    expect(parseBrokerUrl("mqtt://h")).toEqual({ secure: false, host: "h", port: 1883 });
    expect(parseBrokerUrl("mqtts://h")).toEqual({ secure: true, host: "h", port: 8883 });
    expect(parseBrokerUrl("mqtt://[::1]:1900")).toEqual({ secure: false, host: "::1", port: 1900 });
  });

  it("defaults: ClientID empty on 5.0 and the Endpoint ID on 3.1.1", () => {
    expect(createMqttMtp(base).clientId).toBe("");
    expect(createMqttMtp({ ...base, mqttVersion: "3.1.1" }).clientId).toBe("proto::a");
  });
});

describe("RecordDeduplicator", () => {
  it("drops repeats within the window and forgets the oldest beyond it", () => {
    const d = new RecordDeduplicator(2);
    const a = Uint8Array.of(1);
    const b = Uint8Array.of(2);
    const c = Uint8Array.of(3);
    expect(d.firstTime(a)).toBe(true);
    expect(d.firstTime(a)).toBe(false);
    expect(d.firstTime(b)).toBe(true);
    expect(d.firstTime(c)).toBe(true); // evicts a
    expect(d.firstTime(a)).toBe(true);
    expect(d.size).toBe(2);
    // large Records (keyed by digest) and small ones, as Buffer or plain Uint8Array alike
    const big = new Uint8Array(2048).fill(7);
    const bigOther = big.slice();
    bigOther[2047] = 8;
    const w = new RecordDeduplicator(3);
    expect(w.firstTime(big)).toBe(true);
    expect(w.firstTime(Buffer.from(big))).toBe(false);
    expect(w.firstTime(bigOther)).toBe(true);
    expect(w.firstTime(Buffer.of(1))).toBe(true);
    expect(w.firstTime(a)).toBe(false);
    expect(w.firstTime(b)).toBe(true); // evicts big (bigOther was seen after it)
    expect(w.firstTime(big)).toBe(true);
    expect(w.firstTime(bigOther)).toBe(true); // evicted by big
    const off = new RecordDeduplicator(0);
    expect(off.firstTime(a) && off.firstTime(a)).toBe(true);
  });
});

describe("embedded broker (aedes, MQTT 3.1.1 only)", () => {
  it("carries Records between a 3.1.1 Agent and Controller", async () => {
    const broker = await startEmbeddedBroker();
    const pool = new MtpPool();
    try {
      expect(broker.mqttVersions).toEqual(["3.1.1"]);
      const ids = identities();
      const controller = pool.create({
        role: "controller",
        endpointId: ids.controllerId,
        url: broker.url,
        mqttVersion: "3.1.1",
        responseTopic: ids.controllerTopic,
      });
      await controller.open();
      const agent = pool.create({
        role: "agent",
        endpointId: ids.agentId,
        url: broker.url,
        mqttVersion: "3.1.1",
        responseTopic: ids.agentTopic,
        peers: [{ endpointId: ids.controllerId, topic: ids.controllerTopic }],
      });
      const connect = nextRecord(controller);
      await agent.open();
      expect((await connect).record.recordType?.$case).toBe("mqttConnect");
      const got = nextRecord(agent);
      await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "via aedes"));
      expect(payloadText((await got).record)).toBe("via aedes");
    } finally {
      await pool.closeAll();
      await broker.stop();
    }
  });
});
