/**
 * Agent <-> Controller through a real Mosquitto: MQTT 5, 3.1.1 and mixed versions, plain TCP and
 * TLS (Node strict verification, @x/cert-validate policies, client certificates).
 */

import { type RunningMosquitto, startMosquitto } from "@x/test-brokers";
import { createPki, type Pki } from "@x/test-certs";
import type { MtpError } from "@x/usp-record/mtp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MqttMtp, MqttMtpOptions, MqttTlsOptions, MqttVersion } from "../src/index.js";
import { identities, MtpPool, nextEvent, nextRecord, payloadText, recordBytes } from "./helpers.js";

let pki: Pki;
let plain: RunningMosquitto;
let secure: RunningMosquitto;
let mutual: RunningMosquitto;
const pool = new MtpPool();

beforeAll(async () => {
  pki = await createPki();
  const serverTls = { certPem: pki.server.chainPem, keyPem: pki.server.keyPem, caPem: pki.root.certPem };
  [plain, secure, mutual] = await Promise.all([
    startMosquitto(),
    startMosquitto({ tls: serverTls }),
    startMosquitto({ tls: { ...serverTls, requireClientCertificate: true } }),
  ]);
});
afterEach(() => pool.closeAll());
afterAll(async () => {
  await Promise.all([plain?.dispose(), secure?.dispose(), mutual?.dispose()]);
});

const FAST_RETRY = { connectRetryTime: 0.1, intervalMultiplier: 2000, maxInterval: 1 };

interface PairSetup {
  url: string;
  agentVersion: MqttVersion;
  controllerVersion: MqttVersion;
  tls?: MqttTlsOptions;
  agentTls?: MqttTlsOptions;
}

/** Controller first (so it sees the Agent's Connect Record), then the Agent. */
async function openPair(setup: PairSetup): Promise<{
  agent: MqttMtp;
  controller: MqttMtp;
  ids: ReturnType<typeof identities>;
}> {
  const ids = identities();
  const controllerOptions: MqttMtpOptions = {
    role: "controller",
    endpointId: ids.controllerId,
    url: setup.url,
    mqttVersion: setup.controllerVersion,
    responseTopic: ids.controllerTopic,
    // a 5.0 endpoint serving 3.1.1 peers must also receive `<topic>/reply-to=...`
    ...(setup.controllerVersion === "5" && setup.agentVersion === "3.1.1"
      ? { subscriptions: [`${ids.controllerTopic}/#`] }
      : {}),
    retry: FAST_RETRY,
    ...(setup.tls === undefined ? {} : { tls: setup.tls }),
  };
  const controller = pool.create(controllerOptions);
  await controller.open();
  const agent = pool.create({
    role: "agent",
    endpointId: ids.agentId,
    url: setup.url,
    mqttVersion: setup.agentVersion,
    responseTopic: ids.agentTopic,
    peers: [{ endpointId: ids.controllerId, topic: ids.controllerTopic }],
    retry: FAST_RETRY,
    ...((setup.agentTls ?? setup.tls) === undefined ? {} : { tls: setup.agentTls ?? setup.tls }),
  });
  const connectRecord = nextRecord(controller, (r) => r.fromId === ids.agentId);
  await agent.open();
  const cr = await connectRecord;
  expect(cr.record.recordType?.$case).toBe("mqttConnect");
  expect(cr.record.recordType?.value).toMatchObject({
    version: setup.agentVersion === "5" ? 1 : 0,
    subscribedTopic: ids.agentTopic,
  });
  return { agent, controller, ids };
}

/** A request/response round trip in both directions, the Agent answering on the received reply-to. */
async function roundTrip(
  agent: MqttMtp,
  controller: MqttMtp,
  ids: ReturnType<typeof identities>,
): Promise<void> {
  const atAgent = nextRecord(agent, (r) => payloadText(r.record) === "get");
  await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "get"));
  const request = await atAgent;
  expect(request.fromId).toBe(ids.controllerId);
  expect(request.replyTo).toMatchObject({ mtp: "mqtt", topic: ids.controllerTopic });
  const atController = nextRecord(controller, (r) => payloadText(r.record) === "get-resp");
  await agent.send(ids.controllerId, recordBytes(ids.controllerId, ids.agentId, "get-resp"), {
    replyTo: request.replyTo,
  });
  const response = await atController;
  expect(response.replyTo).toMatchObject({ mtp: "mqtt", topic: ids.agentTopic });
  // an Agent-initiated Record (a Notify) goes to the configured Controller topic
  const notify = nextRecord(controller, (r) => payloadText(r.record) === "notify");
  await agent.send(ids.controllerId, recordBytes(ids.controllerId, ids.agentId, "notify"));
  await notify;
}

const MATRIX: { name: string; agentVersion: MqttVersion; controllerVersion: MqttVersion }[] = [
  { name: "MQTT 5", agentVersion: "5", controllerVersion: "5" },
  { name: "MQTT 3.1.1", agentVersion: "3.1.1", controllerVersion: "3.1.1" },
  { name: "mixed: 3.1.1 Agent, 5.0 Controller", agentVersion: "3.1.1", controllerVersion: "5" },
];

describe("Mosquitto over TCP", () => {
  for (const m of MATRIX) {
    it(`${m.name}: Connect Record, request/response on reply-to, Agent-initiated Record`, async () => {
      const { agent, controller, ids } = await openPair({ url: plain.url, ...m });
      await roundTrip(agent, controller, ids);
    });
  }

  it("MQTT 5: Mosquitto's Assigned Client Identifier is kept (R-MQTT.9)", async () => {
    const ids = identities();
    const agent = pool.create({
      role: "agent",
      endpointId: ids.agentId,
      url: plain.url,
      responseTopic: ids.agentTopic,
    });
    await agent.open();
    expect(agent.session?.assignedClientIdentifier).toMatch(/^auto-/);
    expect(agent.clientId).toBe(agent.session?.assignedClientIdentifier);
  });

  it("QoS 0 and QoS 1 both deliver", async () => {
    for (const qos of [0, 1] as const) {
      const ids = identities();
      const controller = pool.create({
        role: "controller",
        endpointId: ids.controllerId,
        url: plain.url,
        responseTopic: ids.controllerTopic,
        qos,
      });
      await controller.open();
      const agent = pool.create({
        role: "agent",
        endpointId: ids.agentId,
        url: plain.url,
        responseTopic: ids.agentTopic,
        peers: [{ endpointId: ids.controllerId, topic: ids.controllerTopic }],
        qos,
      });
      await agent.open();
      expect(agent.session?.publishQos).toBe(qos);
      const got = nextRecord(controller, (r) => payloadText(r.record) === `qos${qos}`);
      await agent.send(ids.controllerId, recordBytes(ids.controllerId, ids.agentId, `qos${qos}`));
      await got;
    }
  });

  it("a Controller learns the Agent's topic and version from its MQTTConnectRecord", async () => {
    const { agent, controller, ids } = await openPair({
      url: plain.url,
      agentVersion: "3.1.1",
      controllerVersion: "5",
    });
    expect(controller.routeTo(ids.agentId)).toEqual({
      mtp: "mqtt",
      topic: ids.agentTopic,
      mqttVersion: "3.1.1",
    });
    const got = nextRecord(agent);
    await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "learned"));
    expect(payloadText((await got).record)).toBe("learned");
  });

  it("the Controller sees the Agent's DisconnectRecord on close", async () => {
    const { agent, controller, ids } = await openPair({
      url: plain.url,
      agentVersion: "5",
      controllerVersion: "5",
    });
    const disconnect = nextRecord(controller, (r) => r.record.recordType?.$case === "disconnect");
    const peerGone = nextEvent(controller, "peerDisconnected");
    await agent.close({ reason: "shutting down", reasonCode: 7105 });
    const r = await disconnect;
    expect(r.fromId).toBe(ids.agentId);
    expect(r.record.recordType?.value).toMatchObject({ reason: "shutting down", reasonCode: 7105 });
    await peerGone;
  });

  it("send() before open() and after close() reject with MtpError codes", async () => {
    const ids = identities();
    const mtp = pool.create({
      role: "agent",
      endpointId: ids.agentId,
      url: plain.url,
      responseTopic: ids.agentTopic,
    });
    await expect(mtp.send("proto::x", new Uint8Array([1]))).rejects.toMatchObject({
      code: "ERR_MTP_NOT_OPEN",
    });
    await mtp.open();
    await expect(mtp.send("proto::nobody", new Uint8Array([1]))).rejects.toMatchObject({
      code: "ERR_MTP_NO_ROUTE",
    });
    await mtp.close();
    await expect(mtp.send("proto::x", new Uint8Array([1]))).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
  });
});

describe("Mosquitto over TLS (mqtts)", () => {
  const trust = (): MqttTlsOptions => ({ ca: pki.root.certPem });

  for (const m of MATRIX) {
    it(`${m.name} over TLS`, async () => {
      const { agent, controller, ids } = await openPair({ url: secure.tlsUrl ?? "", tls: trust(), ...m });
      await roundTrip(agent, controller, ids);
    });
  }

  async function expectTlsFailure(tls: MqttTlsOptions, url = secure.tlsUrl ?? ""): Promise<MtpError> {
    const ids = identities();
    const mtp = pool.create({
      role: "agent",
      endpointId: ids.agentId,
      url,
      responseTopic: ids.agentTopic,
      tls,
      retry: FAST_RETRY,
    });
    const retry = nextEvent<[{ cause: MtpError }]>(mtp, "retry");
    void mtp.open().catch(() => {});
    const [info] = await retry;
    expect(mtp.state).toBe("reconnecting");
    await mtp.close();
    return info.cause;
  }

  it("refuses a broker whose certificate does not chain to the configured CA", async () => {
    const cause = await expectTlsFailure({ ca: pki.untrustedRoot.certPem });
    expect(cause.code).toBe("ERR_MQTT_TLS");
  });

  it("refuses a broker whose certificate does not carry the expected name", async () => {
    const cause = await expectTlsFailure({ ca: pki.root.certPem, servername: "broker.example" });
    expect(cause.code).toBe("ERR_MQTT_TLS");
  });

  it("verifyPeer can refuse a broker Node accepted, before CONNECT is sent", async () => {
    let sawSocket = false;
    const cause = await expectTlsFailure({
      ca: pki.root.certPem,
      verifyPeer: (socket) => {
        sawSocket = socket.authorized;
        return new Error("pinned fingerprint mismatch");
      },
    });
    expect(sawSocket).toBe(true);
    expect(cause.code).toBe("ERR_MQTT_TLS");
    expect(cause.message).toContain("pinned fingerprint mismatch");
  });

  it("with a @x/cert-validate peerPolicy, the policy decides (Trusted Broker CA accepted, other CA refused)", async () => {
    const policy = (anchor: string): MqttTlsOptions => ({
      peerPolicy: {
        kind: "usp",
        context: { initiatedBySelf: true, time: new Date(), anchors: [], brokers: [anchor] },
      },
    });
    const { agent, controller, ids } = await openPair({
      url: secure.tlsUrl ?? "",
      agentVersion: "5",
      controllerVersion: "5",
      tls: trust(),
      agentTls: policy(pki.root.certPem),
    });
    await roundTrip(agent, controller, ids);
    const cause = await expectTlsFailure(policy(pki.untrustedRoot.certPem));
    expect(cause.code).toBe("ERR_MQTT_TLS");
  });

  it("presents a client certificate to a broker that requires one", async () => {
    const url = mutual.tlsUrl ?? "";
    const cause = await expectTlsFailure(trust(), url);
    expect(["ERR_MQTT_TLS", "ERR_MQTT_CONNECT_FAILED", "ERR_MQTT_CONNECTION_LOST"]).toContain(cause.code);
    const withCert: MqttTlsOptions = { ...trust(), cert: pki.agent.chainPem, key: pki.agent.keyPem };
    const { agent, controller, ids } = await openPair({
      url,
      agentVersion: "5",
      controllerVersion: "5",
      tls: { ...trust(), cert: pki.controller.chainPem, key: pki.controller.keyPem },
      agentTls: withCert,
    });
    await roundTrip(agent, controller, ids);
  });

  it("insecureSkipVerify connects to an untrusted broker but says so", async () => {
    const ids = identities();
    const mtp = pool.create({
      role: "agent",
      endpointId: ids.agentId,
      url: secure.tlsUrl ?? "",
      responseTopic: ids.agentTopic,
      tls: { insecureSkipVerify: true },
    });
    const warnings: MtpError[] = [];
    mtp.on("error", (e) => warnings.push(e));
    await mtp.open();
    expect(warnings.some((w) => w.code === "ERR_MQTT_TLS" && /disabled/.test(w.message))).toBe(true);
  });
});

describe("subscriptions changed while connected (TP-469 11.9, R-MQTT.34)", () => {
  for (const version of ["5", "3.1.1"] as const) {
    it(`MQTT ${version}: subscribe() and unsubscribe() act at once and survive a reconnect`, async () => {
      const broker = await startMosquitto();
      try {
        const { agent, controller, ids } = await openPair({
          url: broker.url,
          agentVersion: version,
          controllerVersion: version,
        });
        // `#` also matches the parent level, so this filter takes both the 5.0 topic and the
        // 3.1.1 `<topic>/reply-to=...` form.
        const extraTopic = `${ids.agentTopic}-extra`;
        const extra = `${extraTopic}/#`;
        const viaExtra = { replyTo: { mtp: "mqtt", topic: extraTopic, mqttVersion: version } } as const;
        const seen: string[] = [];
        agent.on("record", (r) => seen.push(payloadText(r.record)));
        const changes: (readonly string[])[] = [];
        agent.on("subscriptions", (s) => changes.push(s));

        // Before: a Record on the extra topic reaches nobody; the one after it proves it had its turn.
        await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "early"), viaExtra);
        const marker1 = nextRecord(agent, (r) => payloadText(r.record) === "marker-1");
        await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "marker-1"));
        await marker1;

        await agent.subscribe(extra);
        expect(agent.session?.subscribed).toContain(extra);
        expect(agent.subscriptions).toEqual([extra]);
        expect(changes.at(-1)).toContain(extra);
        const onExtra = nextRecord(agent, (r) => payloadText(r.record) === "on-extra");
        await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "on-extra"), viaExtra);
        await onExtra;

        // A reconnect subscribes to the changed list again.
        const agentBack = nextEvent(agent, "session", () => true, 30_000);
        const controllerBack = nextEvent(controller, "session", () => true, 30_000);
        await broker.stop();
        await broker.restart();
        await Promise.all([agentBack, controllerBack]);
        expect(agent.session?.subscribed).toContain(extra);
        const again = nextRecord(agent, (r) => payloadText(r.record) === "again");
        await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "again"), viaExtra);
        await again;

        await agent.unsubscribe(extra);
        expect(agent.session?.subscribed).not.toContain(extra);
        expect(agent.subscriptions).toEqual([]);
        await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "late"), viaExtra);
        const marker2 = nextRecord(agent, (r) => payloadText(r.record) === "marker-2");
        await controller.send(ids.agentId, recordBytes(ids.agentId, ids.controllerId, "marker-2"));
        await marker2;
        expect(seen.filter((t) => ["early", "on-extra", "again", "late"].includes(t))).toEqual([
          "on-extra",
          "again",
        ]);
      } finally {
        await pool.closeAll();
        await broker.dispose();
      }
    }, 60_000);
  }

  it("refuses to drop the reply topic or the last subscription, and rejects invalid filters", async () => {
    const { agent, ids } = await openPair({ url: plain.url, agentVersion: "5", controllerVersion: "5" });
    await expect(agent.subscribe("a/#/b")).rejects.toMatchObject({ code: "ERR_MQTT_CONFIG" });
    await expect(agent.unsubscribe(ids.agentTopic)).rejects.toMatchObject({ code: "ERR_MQTT_CONFIG" });
    expect(agent.session?.subscribed).toEqual([ids.agentTopic]);
    // a filter we never had is ignored
    await agent.unsubscribe("never/subscribed");
    await agent.close();
    await expect(agent.subscribe("x/y")).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
  });
});
