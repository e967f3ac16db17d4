/**
 * USP end to end: bundled OB-USP-Agent Records decoded, the TR-369 certificate decision, a Controller
 * and an Agent over wss:// (mutual TLS judged by @x/cert-validate) carrying an E2E Session Context
 * with segmentation, and the same pair over MQTT on the embedded broker.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { evaluateUspCertificate } from "@x/cert-validate";
import { createMqttMtp, startEmbeddedBroker } from "@x/mtp-mqtt";
import { createWebSocketMtp, tr369VerifyPeer } from "@x/mtp-websocket";
import type { Pki } from "@x/test-certs";
import {
  buildRequestMsg,
  buildResponseMsg,
  decodeMsg,
  encodeMsg,
  encodeRecord,
  noSessionContextRecord,
} from "@x/usp-record";
import type { Mtp, ReceivedRecord } from "@x/usp-record/mtp";
import { E2ESession, type SessionOutput } from "@x/usp-record/session";
import { type Report, within } from "./report.js";

const AGENT = "os::012345-DEMO-0001";
const CONTROLLER = "self::demo-controller";

const run = promisify(execFile);

function samplesDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@x/usp-record/package.json")), "samples");
}

/** The bundled OB-USP-Agent captures, decoded by the `usp-record` CLI exactly as a user would run it. */
export async function decodeSamples(report: Report): Promise<void> {
  const dir = samplesDir();
  const files = readdirSync(dir)
    .filter((f) => f.startsWith("obuspa-") && f.endsWith(".hex"))
    .sort()
    .map((f) => join(dir, f));
  const cli = join(dirname(dir), "bin", "usp-record.js");
  const { stdout } = await run(process.execPath, [cli, "decode", "--json", ...files]);
  const decoded = JSON.parse(stdout) as { source: string; size: number; record: Record<string, unknown> }[];
  for (const item of decoded) {
    const { version, toId, fromId, ...rest } = item.record as {
      version: string;
      toId: string;
      fromId: string;
    };
    const [type, body] = Object.entries(rest).find(
      ([k]) => !["payloadSecurity", "macSignature", "senderCert"].includes(k),
    ) ?? ["?", {}];
    report.add(
      "usp-record",
      `usp-record decode ${basename(item.source)}`,
      true,
      `${item.size} bytes, ${type} ${JSON.stringify(body)} from ${fromId} to ${toId} (USP ${version})`,
    );
  }
}

export function certificateDecision(report: Report, pki: Pki): void {
  // An Agent that dialled localhost and trusts the test root judges the presented chain.
  const judge = (chainPem: string, time: Date | "none", endpointId?: string) =>
    evaluateUspCertificate(chainPem, {
      role: "agent",
      initiatedBySelf: true,
      target: endpointId === undefined ? { host: "localhost" } : { host: "localhost", endpointId },
      time,
      anchors: [pki.root.certPem],
    });
  const decision = judge(pki.controller.chainPem, new Date(), "proto::controller");
  report.add(
    "cert-validate",
    "TR-369 decision for the Controller's certificate",
    decision.decision === "establish",
    `${decision.decision} (${decision.basis}); Endpoint IDs ${decision.endpointIds.join(", ")}; ${decision.trace.length} steps`,
  );
  const expired = judge(pki.expired.chainPem, new Date());
  report.add(
    "cert-validate",
    "TR-369 decision for an expired certificate",
    expired.decision === "terminate",
    `${expired.decision}: ${expired.errors.map((e) => e.code).join(", ")}`,
  );
  const noTime = judge(pki.expired.chainPem, "none");
  report.add(
    "cert-validate",
    "the same certificate without accurate time (R-MTP.2)",
    noTime.decision === "establish",
    `${noTime.decision}; warnings ${noTime.warnings.map((w) => w.code).join(", ")}`,
  );
}

/** Carries E2E Session Context Records over an MTP and collects what the engine delivers. */
class SessionOverMtp {
  readonly delivered: Uint8Array[] = [];
  records = 0;
  largest = 0;
  #timer: NodeJS.Timeout | undefined;
  #waiters: (() => void)[] = [];

  constructor(
    readonly engine: E2ESession,
    readonly mtp: Mtp,
    readonly peerId: string,
  ) {
    mtp.on("record", (r: ReceivedRecord) => {
      if (r.fromId !== peerId || r.record.recordType?.$case !== "sessionContext") return;
      this.#apply(engine.receive(r.bytes, Date.now()));
    });
  }

  send(msg: Uint8Array): void {
    this.#apply(this.engine.send(msg, Date.now()));
  }

  #apply(out: SessionOutput): void {
    for (const record of out.records) {
      this.records++;
      this.largest = Math.max(this.largest, record.length);
      this.mtp.send(this.peerId, record).catch(() => {});
    }
    this.delivered.push(...out.messages);
    if (out.messages.length > 0) for (const w of this.#waiters.splice(0)) w();
    clearTimeout(this.#timer);
    const deadline = this.engine.nextDeadline();
    if (deadline !== undefined) {
      this.#timer = setTimeout(
        () => this.#apply(this.engine.tick(Date.now())),
        Math.max(0, deadline - Date.now()),
      );
      this.#timer.unref();
    }
  }

  async next(): Promise<Uint8Array> {
    while (this.delivered.length === 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.delivered.shift()!;
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

function getRequest(msgId: string): Uint8Array {
  return encodeMsg(
    buildRequestMsg(msgId, { $case: "get", value: { paramPaths: ["Device.DeviceInfo."], maxDepth: 0 } }),
  );
}

function getResponse(msgId: string, parameters: number): Uint8Array {
  const resultParams: Record<string, string> = {};
  for (let i = 0; i < parameters; i++) resultParams[`Parameter${i}`] = `value-${i}-${"x".repeat(40)}`;
  return encodeMsg(
    buildResponseMsg(msgId, {
      $case: "getResp",
      value: {
        reqPathResults: [
          {
            requestedPath: "Device.DeviceInfo.",
            errCode: 0,
            errMsg: "",
            resolvedPathResults: [{ resolvedPath: "Device.DeviceInfo.", resultParams }],
          },
        ],
      },
    }),
  );
}

export async function webSocketWithSession(report: Report, pki: Pki): Promise<void> {
  const maxRecordSize = 1024;
  const trust = { time: new Date(), anchors: [pki.root.certPem] };
  const controller = createWebSocketMtp({
    role: "controller",
    endpointId: "proto::controller",
    listen: {
      host: "127.0.0.1",
      port: 0,
      tls: {
        cert: pki.controller.chainPem,
        key: pki.controller.keyPem,
        ca: pki.root.certPem,
        clientCertificate: "require",
        verifyPeer: tr369VerifyPeer({ ...trust, role: "controller" }),
      },
    },
  });
  await controller.open();
  const url = controller.url!.replace("127.0.0.1", "localhost");
  const agent = createWebSocketMtp({
    role: "agent",
    endpointId: "proto::agent",
    peers: [
      {
        url,
        endpointId: "proto::controller",
        tls: {
          ca: pki.root.certPem,
          cert: pki.agent.chainPem,
          key: pki.agent.keyPem,
          verifyPeer: tr369VerifyPeer({ ...trust, role: "agent" }),
        },
      },
    ],
  });
  try {
    const connected = new Promise<ReceivedRecord>((resolve) => {
      const onRecord = (r: ReceivedRecord) => {
        if (r.record.recordType?.$case === "websocketConnect") {
          controller.off("record", onRecord);
          resolve(r);
        }
      };
      controller.on("record", onRecord);
    });
    await agent.open();
    const connect = await within(connected, 15_000, "the WebSocketConnectRecord");
    report.add(
      "mtp-websocket",
      "wss:// with mutual TLS, both chains judged by the TR-369 flow",
      true,
      `Controller listening at ${url}; WebSocketConnectRecord from ${connect.fromId} arrived first`,
    );

    const parameters = { MaxUSPRecordSize: maxRecordSize, MaxRetransmitTries: 3 };
    const atController = new SessionOverMtp(
      new E2ESession({
        localEndpointId: "proto::controller",
        remoteEndpointId: "proto::agent",
        role: "controller",
        parameters,
      }),
      controller,
      "proto::agent",
    );
    const atAgent = new SessionOverMtp(
      new E2ESession({
        localEndpointId: "proto::agent",
        remoteEndpointId: "proto::controller",
        role: "agent",
        parameters,
      }),
      agent,
      "proto::controller",
    );
    const started = Date.now();
    atController.send(getRequest("demo-1"));
    const request = decodeMsg(await within(atAgent.next(), 15_000, "the Get at the Agent"));
    const answer = getResponse(request.header?.msgId ?? "?", 400);
    atAgent.send(answer);
    const response = decodeMsg(await within(atController.next(), 15_000, "the GetResp at the Controller"));
    const body = response.body?.msgBody;
    const params =
      body?.$case === "response" && body.value.respType?.$case === "getResp"
        ? Object.keys(body.value.respType.value.reqPathResults[0]?.resolvedPathResults[0]?.resultParams ?? {})
            .length
        : 0;
    report.add(
      "usp-record/session",
      "Get / GetResp in an E2E Session Context with segmentation",
      params === 400,
      `GetResp of ${answer.length} bytes in ${atAgent.records} Records of at most ${atAgent.largest} bytes ` +
        `(MaxUSPRecordSize ${maxRecordSize}), reassembled with ${params} parameters in ${Date.now() - started} ms`,
      { sessionId: atController.engine.snapshot.sessionId?.toString() },
    );
    atController.stop();
    atAgent.stop();
  } finally {
    await agent.close();
    await controller.close();
  }
}

export async function mqttOnEmbeddedBroker(report: Report): Promise<void> {
  const broker = await startEmbeddedBroker();
  const controllerTopic = `usp/controller/${CONTROLLER}`;
  const agentTopic = `usp/agent/${AGENT}`;
  const controller = createMqttMtp({
    role: "controller",
    endpointId: CONTROLLER,
    url: broker.url,
    mqttVersion: "3.1.1",
    responseTopic: controllerTopic,
    subscriptions: [`${controllerTopic}/#`],
  });
  const agent = createMqttMtp({
    role: "agent",
    endpointId: AGENT,
    url: broker.url,
    mqttVersion: "3.1.1",
    responseTopic: agentTopic,
    subscriptions: [`${agentTopic}/#`],
    peers: [{ endpointId: CONTROLLER, topic: controllerTopic }],
  });
  try {
    const seen: string[] = [];
    const answered = new Promise<ReceivedRecord>((resolve) => {
      controller.on("record", (r: ReceivedRecord) => {
        seen.push(r.record.recordType?.$case ?? "?");
        if (r.record.recordType?.$case === "mqttConnect") {
          // Answer on the return path the Agent gave (its `/reply-to=` topic).
          const get = noSessionContextRecord({
            toId: AGENT,
            fromId: CONTROLLER,
            payload: getRequest("mqtt-1"),
          });
          controller.send(AGENT, encodeRecord(get), { replyTo: r.replyTo }).catch(() => {});
        }
      });
      agent.on("record", (r: ReceivedRecord) => {
        if (r.record.recordType?.$case === "noSessionContext") {
          const msg = decodeMsg(r.record.recordType.value.payload);
          const reply = noSessionContextRecord({
            toId: CONTROLLER,
            fromId: AGENT,
            payload: getResponse(msg.header?.msgId ?? "?", 3),
          });
          agent.send(CONTROLLER, encodeRecord(reply), { replyTo: r.replyTo }).catch(() => {});
        }
      });
      controller.on("record", (r: ReceivedRecord) => {
        if (r.record.recordType?.$case === "noSessionContext") resolve(r);
      });
    });
    await controller.open();
    await agent.open();
    const reply = await within(answered, 15_000, "the GetResp over MQTT");
    report.add(
      "mtp-mqtt",
      "Agent and Controller on the embedded MQTT 3.1.1 broker",
      true,
      `${seen.join(" then ")}; the GetResp came back on ${JSON.stringify(reply.replyTo)} (broker ${broker.url})`,
    );
  } finally {
    await agent.close();
    await controller.close();
    await broker.stop();
  }
}
