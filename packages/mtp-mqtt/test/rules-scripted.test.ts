/**
 * R-MQTT rules that need broker behaviour Mosquitto cannot produce (CONNACK Response
 * Information, `subscribe-topic`, SUBACK failures, Maximum QoS / Retain Available, Server Keep
 * Alive, server DISCONNECT): run against the scripted broker in tools/mqtt-scripted-broker.
 */

import { type PublishPacket, type ScriptedBroker, startScriptedBroker } from "@x/mqtt-scripted-broker";
import { decodeRecord } from "@x/usp-record";
import type { MtpError } from "@x/usp-record/mtp";
import { afterEach, describe, expect, it } from "vitest";
import type { MqttMtpOptions } from "../src/index.js";
import { identities, MtpPool, nextEvent, nextRecord, payloadText, recordBytes } from "./helpers.js";

const pool = new MtpPool();
const brokers: ScriptedBroker[] = [];
afterEach(async () => {
  await pool.closeAll();
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

async function scripted(options: Parameters<typeof startScriptedBroker>[0] = {}): Promise<ScriptedBroker> {
  const b = await startScriptedBroker(options);
  brokers.push(b);
  return b;
}

const FAST_RETRY = { connectRetryTime: 0.05, intervalMultiplier: 2000, maxInterval: 1 };

function agentOptions(broker: ScriptedBroker, extra: Partial<MqttMtpOptions> = {}): MqttMtpOptions {
  const ids = identities();
  return {
    role: "agent",
    endpointId: ids.agentId,
    url: broker.url,
    responseTopic: ids.agentTopic,
    peers: [{ endpointId: ids.controllerId, topic: ids.controllerTopic }],
    retry: FAST_RETRY,
    ...extra,
  };
}

const isPublish = (p: { packet: { cmd: string } }): boolean => p.packet.cmd === "publish";

describe("CONNECT (R-MQTT.6-9, 12, 13)", () => {
  it("MQTT 5: empty ClientID, Request Response Information = 1, usp-endpoint-id, credentials, keep-alive", async () => {
    const broker = await scripted();
    const options = agentOptions(broker, { username: "user-1", password: "secret", keepAlive: 45 });
    await pool.create(options).open();
    const connect = broker.clients[0]?.connect;
    expect(connect).toBeDefined();
    expect(connect?.protocolVersion).toBe(5);
    expect(connect?.clientId).toBe("");
    expect(connect?.clean).toBe(true);
    expect(connect?.keepalive).toBe(45);
    expect(connect?.username).toBe("user-1");
    expect(Buffer.from(connect?.password ?? "").toString()).toBe("secret");
    expect(connect?.properties?.requestResponseInformation).toBe(true);
    expect(connect?.properties?.userProperties).toEqual({ "usp-endpoint-id": options.endpointId });
    // the broker is told not to send anything larger than maxRecordSize (16 MiB) plus headers
    expect(connect?.properties?.maximumPacketSize).toBe(16 * 1024 * 1024 + 70_000);
  });

  it("MQTT 5: a configured ClientID is used as is", async () => {
    const broker = await scripted();
    await pool.create(agentOptions(broker, { clientId: "my-client" })).open();
    expect(broker.clients[0]?.connect?.clientId).toBe("my-client");
  });

  it("MQTT 3.1.1: ClientID defaults to the Endpoint ID, no MQTT 5 properties", async () => {
    const broker = await scripted();
    const options = agentOptions(broker, { mqttVersion: "3.1.1" });
    await pool.create(options).open();
    const connect = broker.clients[0]?.connect;
    expect(connect?.protocolVersion).toBe(4);
    expect(connect?.clientId).toBe(options.endpointId);
    expect(connect?.properties).toBeUndefined();
  });

  it("keeps the Assigned Client Identifier for later connections (R-MQTT.9, R-MQTT.11)", async () => {
    const broker = await scripted({
      connack: (_c, client) => ({ properties: { assignedClientIdentifier: `assigned-${client.index}` } }),
    });
    const mtp = pool.create(agentOptions(broker));
    await mtp.open();
    expect(mtp.clientId).toBe("assigned-1");
    expect(mtp.session?.assignedClientIdentifier).toBe("assigned-1");
    const reopened = nextEvent(mtp, "session");
    broker.clients[0]?.disconnect(0x8b); // server shutting down
    await reopened;
    expect(broker.clients[1]?.connect?.clientId).toBe("assigned-1");
    expect(mtp.clientId).toBe("assigned-1");
  });

  it("does not ask for Response Information when told not to", async () => {
    const broker = await scripted();
    await pool.create(agentOptions(broker, { requestResponseInformation: false })).open();
    expect(broker.clients[0]?.connect?.properties?.requestResponseInformation).toBeUndefined();
  });

  it("a refused CONNECT is an error with the reason code, followed by a retry", async () => {
    let refusals = 1;
    const broker = await scripted({
      connack: () => (refusals-- > 0 ? { reasonCode: 0x87 } : undefined),
    });
    const mtp = pool.create(agentOptions(broker));
    const retry = nextEvent<[{ attempt: number; cause: MtpError }]>(mtp, "retry");
    await mtp.open();
    const [info] = await retry;
    expect(info.attempt).toBe(1);
    expect(info.cause.code).toBe("ERR_MQTT_CONNECT_REFUSED");
    expect(info.cause.protocolCode).toBe(0x87);
    expect(broker.clients).toHaveLength(2);
  });
});

describe("subscriptions (R-MQTT.15-17)", () => {
  it("subscribes to configured filters, every subscribe-topic and the Response Information, with usp-endpoint-id", async () => {
    const broker = await scripted({
      connack: () => ({
        properties: {
          responseInformation: "usp/from-broker/reply",
          userProperties: { "subscribe-topic": ["usp/from-broker/a", "usp/from-broker/b"] },
        },
      }),
    });
    const options = agentOptions(broker, { subscriptions: ["usp/configured/+"] });
    const mtp = pool.create(options);
    await mtp.open();
    const sub = await broker.waitFor((p) => p.packet.cmd === "subscribe");
    const packet = sub.packet as {
      subscriptions: { topic: string; qos: number }[];
      properties?: { userProperties?: unknown };
    };
    expect(packet.subscriptions.map((s) => s.topic).sort()).toEqual(
      ["usp/configured/+", "usp/from-broker/a", "usp/from-broker/b", "usp/from-broker/reply"].sort(),
    );
    expect(packet.properties?.userProperties).toEqual({ "usp-endpoint-id": options.endpointId });
    // R-MQTT.21: the Response Information is our reply-to topic, and what the Connect Record announces
    expect(mtp.replyTopic).toBe("usp/from-broker/reply");
    const pub = await broker.waitFor(isPublish);
    const publish = pub.packet as PublishPacket;
    expect(publish.properties?.responseTopic).toBe("usp/from-broker/reply");
    const record = decodeRecord(publish.payload as Uint8Array);
    expect(record.recordType?.$case).toBe("mqttConnect");
    expect(record.recordType?.value).toMatchObject({ version: 1, subscribedTopic: "usp/from-broker/reply" });
  });

  it("does not subscribe twice to a topic a configured filter already covers", async () => {
    const broker = await scripted({
      connack: () => ({ properties: { responseInformation: "usp/agents/me" } }),
    });
    await pool.create(agentOptions(broker, { subscriptions: ["usp/agents/#"] })).open();
    const sub = await broker.waitFor((p) => p.packet.cmd === "subscribe");
    expect((sub.packet as { subscriptions: { topic: string }[] }).subscriptions.map((s) => s.topic)).toEqual([
      "usp/agents/#",
    ]);
  });

  it("a subscribe-topic alone is enough for an agent without configuration", async () => {
    const broker = await scripted({
      connack: () => ({ properties: { userProperties: { "subscribe-topic": "usp/only/this" } } }),
    });
    const mtp = pool.create(agentOptions(broker, { responseTopic: undefined, peers: [] }));
    await mtp.open();
    expect(mtp.session?.subscribed).toEqual(["usp/only/this"]);
    expect(mtp.session?.connectRecordTopic).toBe("usp/only/this");
  });

  it("R-MQTT.16: with nothing to subscribe to it DISCONNECTs and disables the MTP", async () => {
    const broker = await scripted();
    const mtp = pool.create(agentOptions(broker, { responseTopic: undefined }));
    await expect(mtp.open()).rejects.toMatchObject({ code: "ERR_MQTT_NO_SUBSCRIPTION" });
    await broker.waitFor((p) => p.packet.cmd === "disconnect");
    expect(mtp.state).toBe("closed");
    expect(broker.received.some((p) => p.packet.cmd === "subscribe")).toBe(false);
    await expect(mtp.send("proto::x", new Uint8Array([1]))).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
  });

  it("R-MQTT.17: when every SUBACK fails it publishes nothing, DISCONNECTs and retries", async () => {
    let failing = true;
    const broker = await scripted({ suback: (s) => (failing ? 0x87 : s.qos) });
    const mtp = pool.create(agentOptions(broker));
    const retry = nextEvent<[{ attempt: number; cause: MtpError }]>(mtp, "retry");
    const opened = mtp.open();
    const [info] = await retry;
    expect(info.cause.code).toBe("ERR_MQTT_SUBSCRIBE_FAILED");
    expect(info.cause.protocolCode).toBe(0x87);
    await broker.waitFor((p) => p.packet.cmd === "disconnect" && p.client.index === 1);
    expect(broker.received.filter((p) => p.client.index === 1).some(isPublish)).toBe(false);
    failing = false;
    await opened;
    expect(mtp.state).toBe("open");
  });

  it("R-MQTT.17 on 3.1.1: SUBACK 0x80 for the only filter means no PUBLISH", async () => {
    let failing = true;
    const broker = await scripted({ suback: (s) => (failing ? 0x80 : s.qos) });
    const mtp = pool.create(agentOptions(broker, { mqttVersion: "3.1.1" }));
    const retry = nextEvent<[{ cause: MtpError }]>(mtp, "retry");
    const opened = mtp.open();
    expect((await retry)[0].cause.code).toBe("ERR_MQTT_SUBSCRIBE_FAILED");
    expect(broker.received.filter((p) => p.client.index === 1).some(isPublish)).toBe(false);
    failing = false;
    await opened;
  });

  it("a partial SUBACK failure is reported and the rest is used", async () => {
    const broker = await scripted({ suback: (s) => (s.topic === "usp/denied" ? 0x87 : s.qos) });
    const mtp = pool.create(agentOptions(broker, { subscriptions: ["usp/denied"] }));
    const error = nextEvent<[MtpError]>(mtp, "error", (e) => e.code === "ERR_MQTT_SUBSCRIBE_FAILED");
    await mtp.open();
    expect((await error)[0].message).toContain("usp/denied");
    expect(mtp.session?.subscribed).toEqual([mtp.replyTopic]);
  });
});

describe("PUBLISH (R-MQTT.20-27)", () => {
  it("MQTT 5: Content Type usp.msg, Response Topic, configured QoS, no retain", async () => {
    const broker = await scripted();
    const options = agentOptions(broker, { qos: 1 });
    const mtp = pool.create(options);
    await mtp.open();
    const peer = options.peers?.[0];
    await mtp.send(peer?.endpointId ?? "", recordBytes(peer?.endpointId ?? "", options.endpointId, "x"));
    const pubs = broker.received.filter(isPublish).map((p) => p.packet as PublishPacket);
    expect(pubs).toHaveLength(2); // MQTTConnectRecord, then ours
    for (const p of pubs) {
      expect(p.topic).toBe(peer?.topic);
      expect(p.qos).toBe(1);
      expect(p.retain).toBe(false);
      expect(p.properties?.contentType).toBe("usp.msg");
      expect(p.properties?.responseTopic).toBe(options.responseTopic);
      expect(p.properties?.payloadFormatIndicator).toBeUndefined();
    }
  });

  it("QoS is lowered to the CONNACK Maximum QoS; retain only when configured and available", async () => {
    const broker = await scripted({
      connack: () => ({ properties: { maximumQoS: 0, retainAvailable: true } }),
    });
    const options = agentOptions(broker, { qos: 1, retain: true });
    const mtp = pool.create(options);
    await mtp.open();
    expect(mtp.session?.publishQos).toBe(0);
    const pub = (await broker.waitFor(isPublish)).packet as PublishPacket;
    expect(pub.qos).toBe(0);
    expect(pub.retain).toBe(true);

    const noRetain = await scripted({ connack: () => ({ properties: { retainAvailable: false } }) });
    const other = pool.create(agentOptions(noRetain, { retain: true }));
    await other.open();
    const pub2 = (await noRetain.waitFor(isPublish)).packet as PublishPacket;
    expect(pub2.retain).toBe(false);
  });

  it("MQTT 3.1.1: /reply-to= with %2F in the Topic Name, wildcard subscription on the reply topic", async () => {
    const broker = await scripted();
    const options = agentOptions(broker, { mqttVersion: "3.1.1" });
    await pool.create(options).open();
    const sub = await broker.waitFor((p) => p.packet.cmd === "subscribe");
    expect((sub.packet as { subscriptions: { topic: string }[] }).subscriptions.map((s) => s.topic)).toEqual([
      `${options.responseTopic}/#`,
    ]);
    const pub = (await broker.waitFor(isPublish)).packet as PublishPacket;
    expect(pub.topic).toBe(
      `${options.peers?.[0]?.topic}/reply-to=${(options.responseTopic ?? "").replaceAll("/", "%2F")}`,
    );
    expect(pub.properties).toBeUndefined();
    // the Connect Record names the topic without the /#
    const record = decodeRecord(pub.payload as Uint8Array);
    expect(record.recordType?.value).toMatchObject({ subscribedTopic: options.responseTopic });
  });

  it("the MQTTConnectRecord is the first Record on every connection, even with Records queued (R-MTP.8)", async () => {
    let answer = false;
    const broker = await scripted({ connack: () => (answer ? undefined : "ignore"), suback: (s) => s.qos });
    const options = agentOptions(broker, { connectTimeoutMs: 300 });
    const mtp = pool.create(options);
    const opened = mtp.open();
    const peer = options.peers?.[0]?.endpointId ?? "";
    await broker.waitForConnections(1);
    const queued = mtp.send(peer, recordBytes(peer, options.endpointId, "queued"));
    answer = true;
    await opened;
    await queued;
    const pubs = broker.received
      .filter(isPublish)
      .map((p) => decodeRecord((p.packet as PublishPacket).payload as Uint8Array));
    expect(pubs.map((r) => r.recordType?.$case)).toEqual(["mqttConnect", "noSessionContext"]);
  });
});

describe("receiving (R-MQTT.25-27a)", () => {
  async function connectedAgent(mqttVersion: "5" | "3.1.1" = "5", extra: Partial<MqttMtpOptions> = {}) {
    const broker = await scripted();
    const options = agentOptions(broker, { mqttVersion, ...extra });
    const mtp = pool.create(options);
    await mtp.open();
    return { broker, options, mtp, peer: options.peers?.[0]?.endpointId ?? "" };
  }

  for (const contentType of ["usp.msg", "application/vnd.bbf.usp.msg", undefined]) {
    it(`accepts Content Type ${contentType ?? "(none)"} and answers on the Response Topic`, async () => {
      const { broker, options, mtp, peer } = await connectedAgent();
      const got = nextRecord(mtp);
      broker.publish({
        topic: options.responseTopic ?? "",
        payload: Buffer.from(recordBytes(options.endpointId, peer, "ct")),
        qos: 0,
        properties: { responseTopic: "usp/answer/here", ...(contentType ? { contentType } : {}) },
      });
      const r = await got;
      expect(payloadText(r.record)).toBe("ct");
      expect(r.replyTo).toEqual({ mtp: "mqtt", topic: "usp/answer/here", mqttVersion: "5" });
      await mtp.send(peer, recordBytes(peer, options.endpointId, "answer"), { replyTo: r.replyTo });
      const answer = await broker.waitFor(
        (p) => isPublish(p) && (p.packet as PublishPacket).topic === "usp/answer/here",
      );
      expect(payloadText(decodeRecord((answer.packet as PublishPacket).payload as Uint8Array))).toBe(
        "answer",
      );
    });
  }

  it("drops another Content Type with an error", async () => {
    const { broker, options, mtp, peer } = await connectedAgent();
    const error = nextEvent<[MtpError]>(mtp, "error", (e) => e.code === "ERR_MQTT_CONTENT_TYPE");
    let records = 0;
    mtp.on("record", () => records++);
    broker.publish({
      topic: options.responseTopic ?? "",
      payload: Buffer.from(recordBytes(options.endpointId, peer, "bad")),
      qos: 0,
      properties: { contentType: "text/plain", responseTopic: "usp/x" },
    });
    await error;
    expect(records).toBe(0);
  });

  it("3.1.1: takes the reply topic after the last /reply-to= and decodes only %2F", async () => {
    const { broker, options, mtp, peer } = await connectedAgent("3.1.1");
    const got = nextRecord(mtp);
    broker.publish({
      topic: `${options.responseTopic}/reply-to=ignored/reply-to=usp%2Fcontroller%2Fa%3Ab`,
      payload: Buffer.from(recordBytes(options.endpointId, peer, "suffix")),
      qos: 0,
    });
    const r = await got;
    expect(r.replyTo).toMatchObject({ mtp: "mqtt", topic: "usp/controller/a%3Ab" });
  });

  it("a 5.0 endpoint also understands a 3.1.1 peer's /reply-to= and answers it with the suffix", async () => {
    // a 5.0 endpoint that serves 3.1.1 peers configures the wildcard filter itself
    const { broker, options, mtp, peer } = await connectedAgent("5", { subscriptions: ["usp/agent/#"] });
    expect(mtp.session?.subscribed).toEqual(["usp/agent/#"]);
    const got = nextRecord(mtp);
    broker.publish({
      topic: `${options.responseTopic}/reply-to=usp%2Fold%2Fpeer`,
      payload: Buffer.from(recordBytes(options.endpointId, peer, "old")),
      qos: 0,
    });
    const r = await got;
    expect(r.replyTo).toEqual({ mtp: "mqtt", topic: "usp/old/peer", mqttVersion: "3.1.1" });
    await mtp.send(peer, recordBytes(peer, options.endpointId, "back"), { replyTo: r.replyTo });
    const answer = await broker.waitFor(
      (p) => isPublish(p) && (p.packet as PublishPacket).topic.startsWith("usp/old/peer/reply-to="),
    );
    expect((answer.packet as PublishPacket).topic).toBe(
      `usp/old/peer/reply-to=${(options.responseTopic ?? "").replaceAll("/", "%2F")}`,
    );
  });

  it("ignores Records addressed to someone else and reports malformed ones", async () => {
    const { broker, options, mtp, peer } = await connectedAgent();
    const notOurs = nextEvent<[MtpError]>(mtp, "error", (e) => e.code === "ERR_MTP_NOT_ADDRESSED_TO_US");
    const malformed = nextEvent<[MtpError]>(mtp, "error", (e) => e.code === "ERR_MTP_MALFORMED_RECORD");
    let records = 0;
    mtp.on("record", () => records++);
    broker.publish({
      topic: options.responseTopic ?? "",
      payload: Buffer.from(recordBytes("proto::someone-else", peer, "x")),
      qos: 0,
      properties: { responseTopic: "usp/x" },
    });
    broker.publish({
      topic: options.responseTopic ?? "",
      payload: Buffer.from([0xff, 0xff, 0xff]),
      qos: 0,
      properties: { responseTopic: "usp/x" },
    });
    await notOurs;
    await malformed;
    expect(records).toBe(0);
  });

  it("drops byte-identical duplicates", async () => {
    const { broker, options, mtp, peer } = await connectedAgent();
    const bytes = Buffer.from(recordBytes(options.endpointId, peer, "dup"));
    const seen: string[] = [];
    mtp.on("record", (r) => seen.push(payloadText(r.record)));
    const dup = nextEvent(mtp, "duplicate");
    broker.publish({ topic: options.responseTopic ?? "", payload: bytes, qos: 0 });
    broker.publish({ topic: options.responseTopic ?? "", payload: bytes, qos: 0 });
    const last = nextRecord(mtp, (r) => payloadText(r.record) === "after");
    broker.publish({
      topic: options.responseTopic ?? "",
      payload: Buffer.from(recordBytes(options.endpointId, peer, "after")),
      qos: 0,
    });
    await dup;
    await last;
    expect(seen).toEqual(["dup", "after"]);
    expect(mtp.duplicatesDropped).toBe(1);
  });
});

describe("de-duplication exemptions", () => {
  it("never drops a repeated Connect Record (one arrives per connection, byte for byte the same)", async () => {
    const broker = await scripted();
    const ids = identities();
    const controller = pool.create({
      role: "controller",
      endpointId: ids.controllerId,
      url: broker.url,
      responseTopic: ids.controllerTopic,
    });
    await controller.open();
    const { mqttConnectRecord, encodeRecord } = await import("@x/usp-record");
    const bytes = Buffer.from(
      encodeRecord(
        mqttConnectRecord({
          toId: ids.controllerId,
          fromId: ids.agentId,
          mqttVersion: "5",
          subscribedTopic: ids.agentTopic,
        }),
      ),
    );
    let connects = 0;
    controller.on("record", (r) => {
      if (r.record.recordType?.$case === "mqttConnect") connects++;
    });
    const second = nextRecord(controller, () => connects === 2);
    broker.publish({ topic: ids.controllerTopic, payload: bytes, qos: 0 });
    broker.publish({ topic: ids.controllerTopic, payload: bytes, qos: 0 });
    await second;
    expect(controller.duplicatesDropped).toBe(0);
    expect(controller.routeTo(ids.agentId)).toEqual({ mtp: "mqtt", topic: ids.agentTopic, mqttVersion: "5" });
  });
});

describe("keep-alive, server DISCONNECT and retry (R-MQTT.10, 14, 33)", () => {
  it("honours the CONNACK Server Keep Alive over its own KeepAliveTime", async () => {
    const broker = await scripted({ connack: () => ({ properties: { serverKeepAlive: 1 } }) });
    const mtp = pool.create(agentOptions(broker, { keepAlive: 600 }));
    await mtp.open();
    expect(broker.clients[0]?.connect?.keepalive).toBe(600);
    expect(mtp.session?.serverKeepAlive).toBe(1);
    expect(mtp.session?.keepAlive).toBe(1);
    // with 600 s no PINGREQ could arrive during this test; with 1 s it must
    await broker.waitFor((p) => p.packet.cmd === "pingreq", 20_000);
  });

  it("after a server DISCONNECT it reconnects after a delay in [T, T*k/1000]", async () => {
    const broker = await scripted();
    const retry = { connectRetryTime: 0.2, intervalMultiplier: 3000, maxInterval: 100 };
    const mtp = pool.create(agentOptions(broker, { retry, random: () => 0.5 }));
    await mtp.open();
    const scheduled = nextEvent<[{ attempt: number; delayMs: number; cause: MtpError }]>(mtp, "retry");
    const reopened = nextEvent(mtp, "session");
    const disconnectedAt = performance.now();
    broker.clients[0]?.disconnect(0x89, { reasonString: "server busy" });
    const [info] = await scheduled;
    expect(info.attempt).toBe(1);
    expect(info.cause.code).toBe("ERR_MQTT_SERVER_DISCONNECT");
    expect(info.cause.protocolCode).toBe(0x89);
    expect(info.delayMs).toBeGreaterThanOrEqual(200);
    expect(info.delayMs).toBeLessThanOrEqual(600);
    await reopened;
    const second = broker.clients[1];
    const connectAt = broker.received.find((p) => p.client === second && p.packet.cmd === "connect")?.at ?? 0;
    // a lower bound only: the reconnect never comes before the scheduled delay
    expect(connectAt - disconnectedAt).toBeGreaterThanOrEqual(info.delayMs - 5);
  });

  it("retry delays grow per TR-181 while the broker keeps refusing, and reset after success", async () => {
    let refuse = 3;
    const broker = await scripted({ connack: () => (refuse-- > 0 ? { reasonCode: 0x88 } : undefined) });
    const retry = { connectRetryTime: 0.01, intervalMultiplier: 2000, maxInterval: 0.05 };
    const mtp = pool.create(agentOptions(broker, { retry, random: () => 1 }));
    const infos: { attempt: number; delayMs: number }[] = [];
    mtp.on("retry", (i) => infos.push({ attempt: i.attempt, delayMs: i.delayMs }));
    await mtp.open();
    expect(infos).toEqual([
      { attempt: 1, delayMs: 20 },
      { attempt: 2, delayMs: 40 },
      { attempt: 3, delayMs: 50 }, // clamped to ConnectRetryMaxInterval
    ]);
    const again = nextEvent<[{ attempt: number }]>(mtp, "retry");
    broker.clients.at(-1)?.destroy();
    expect((await again)[0].attempt).toBe(1);
  });

  it("close() sends a DisconnectRecord to the Controllers, then MQTT DISCONNECT (R-MTP.7, R-MQTT.35)", async () => {
    const broker = await scripted();
    const options = agentOptions(broker);
    const mtp = pool.create(options);
    await mtp.open();
    await mtp.close({ reason: "bye", reasonCode: 7105 });
    expect(mtp.state).toBe("closed");
    const pubs = broker.received
      .filter(isPublish)
      .map((p) => decodeRecord((p.packet as PublishPacket).payload as Uint8Array));
    const last = pubs.at(-1);
    expect(last?.recordType?.$case).toBe("disconnect");
    expect(last?.recordType?.value).toMatchObject({ reason: "bye", reasonCode: 7105 });
    const disconnect = await broker.waitFor((p) => p.packet.cmd === "disconnect");
    expect((disconnect.packet as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
    await mtp.close(); // idempotent
  });
});

describe("subscriptions changed while connected (TP-469 11.9, R-MQTT.34)", () => {
  it("MQTT 5: SUBSCRIBE and UNSUBSCRIBE carry usp-endpoint-id; the connection stays up", async () => {
    const broker = await scripted();
    const options = agentOptions(broker);
    const mtp = pool.create(options);
    await mtp.open();
    await mtp.subscribe("usp/extra/+");
    const subscribe = await broker.waitFor(
      (p) => p.packet.cmd === "subscribe" && p.packet.subscriptions.some((s) => s.topic === "usp/extra/+"),
    );
    expect(subscribe.packet.cmd === "subscribe" && subscribe.packet.properties?.userProperties).toEqual({
      "usp-endpoint-id": options.endpointId,
    });
    expect(broker.clients[0]?.subscriptions.has("usp/extra/+")).toBe(true);
    await mtp.unsubscribe("usp/extra/+");
    const unsubscribe = await broker.waitFor((p) => p.packet.cmd === "unsubscribe");
    expect(unsubscribe.packet.cmd === "unsubscribe" && unsubscribe.packet.unsubscriptions).toEqual([
      "usp/extra/+",
    ]);
    expect(unsubscribe.packet.cmd === "unsubscribe" && unsubscribe.packet.properties?.userProperties).toEqual(
      {
        "usp-endpoint-id": options.endpointId,
      },
    );
    expect(broker.clients[0]?.subscriptions.has("usp/extra/+")).toBe(false);
    expect(broker.clients).toHaveLength(1);
    expect(mtp.state).toBe("open");
  });

  it("a refused SUBSCRIBE rejects with the SUBACK code and drops the filter; a refused UNSUBSCRIBE says so", async () => {
    const broker = await scripted({
      suback: (s) => (s.topic === "usp/denied" ? 0x87 : s.qos),
      unsuback: (t) => (t === "usp/sticky" ? 0x83 : 0),
    });
    const mtp = pool.create(agentOptions(broker));
    await mtp.open();
    await expect(mtp.subscribe("usp/denied")).rejects.toMatchObject({
      code: "ERR_MQTT_SUBSCRIBE_FAILED",
      protocolCode: 0x87,
    });
    expect(mtp.subscriptions).toEqual([]);
    expect(mtp.session?.subscribed).toEqual([mtp.replyTopic]);
    await mtp.subscribe("usp/sticky");
    await expect(mtp.unsubscribe("usp/sticky")).rejects.toMatchObject({
      code: "ERR_MQTT_UNSUBSCRIBE_FAILED",
      protocolCode: 0x83,
    });
    // dropped from our list (not used on the next connection), still held by the broker now
    expect(mtp.subscriptions).toEqual([]);
    expect(broker.clients[0]?.subscriptions.has("usp/sticky")).toBe(true);
    expect(mtp.state).toBe("open");
  });

  it("while reconnecting, subscribe() only records the filter and the next connection subscribes to it", async () => {
    const broker = await scripted();
    const mtp = pool.create(agentOptions(broker));
    await mtp.open();
    const back = nextEvent(mtp, "session", () => true, 15_000);
    broker.clients[0]?.destroy();
    await nextEvent(mtp, "state", (s) => s === "reconnecting");
    await mtp.subscribe("usp/later");
    await back;
    expect(mtp.session?.subscribed).toContain("usp/later");
    expect(broker.clients.at(-1)?.subscriptions.has("usp/later")).toBe(true);
  });

  it("refuses to unsubscribe the last subscription (R-MQTT.16)", async () => {
    const broker = await scripted();
    const mtp = pool.create(agentOptions(broker, { responseTopic: undefined, subscriptions: ["usp/only"] }));
    await mtp.open();
    await expect(mtp.unsubscribe("usp/only")).rejects.toMatchObject({ code: "ERR_MQTT_NO_SUBSCRIPTION" });
    expect(mtp.session?.subscribed).toEqual(["usp/only"]);
  });
});
