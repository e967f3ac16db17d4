/**
 * Against a real Apache ActiveMQ 5.17 (STOMP 1.2), started once for this file.
 */

import { mtpComplianceSuite } from "@x/mtp-compliance";
import { type RunningActiveMq, startActiveMq } from "@x/test-brokers";
import { createPki, type Pki } from "@x/test-certs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { StompConnection } from "../src/connection.js";
import { StompServerError } from "../src/errors.js";
import type { StompFrame } from "../src/frame.js";
import { createStompMtp, type StompMtp, type StompMtpOptions, USP_CONTENT_TYPE } from "../src/mtp.js";
import { stompPairFactory } from "./compliance-factory.js";
import { waitFor } from "./fake-broker.js";
import { decodeRecord, getRecord, Recorder, uniqueName } from "./helpers.js";

let broker: RunningActiveMq;
let pki: Pki;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  pki = await createPki();
  // The plain listener, and a stomp+ssl listener that requires a client certificate from our CA.
  broker = await startActiveMq({
    tls: {
      certPem: pki.server.certPem,
      keyPem: pki.server.keyPem,
      caPem: pki.intermediate.certPem + pki.root.certPem,
      requireClientCertificate: true,
    },
  });
}, 120_000);

type TlsOptions = NonNullable<StompMtpOptions["broker"]["tls"]>;

/** Mutual TLS to the broker: the Agent's client certificate (with its chain) and our root as anchor. */
function tlsBroker(extra: Partial<TlsOptions> = {}): StompMtpOptions["broker"] {
  return {
    host: broker.host,
    port: broker.stompTlsPort!,
    tls: { ca: pki.root.certPem, cert: pki.agent.chainPem, key: pki.agent.keyPem, ...extra },
  };
}

afterAll(async () => {
  await broker?.dispose();
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function mtp(options: Omit<StompMtpOptions, "broker"> & Partial<Pick<StompMtpOptions, "broker">>): StompMtp {
  const m = createStompMtp({
    broker: { host: broker.host, port: broker.stompPort },
    retryDelayMs: () => 200,
    sendTimeoutMs: 60_000,
    ...options,
  });
  cleanups.push(() => m.close({ abrupt: true }));
  return m;
}

async function pair(extra: Partial<StompMtpOptions> = {}) {
  const name = uniqueName("amq");
  const agentId = `proto::agent-${name}`;
  const controllerId = `proto::controller-${name}`;
  const agentDest = `/queue/usp.agent.${name}`;
  const controllerDest = `/queue/usp.controller.${name}`;
  const controller = mtp({
    role: "controller",
    endpointId: controllerId,
    destination: controllerDest,
    ...extra,
  });
  const controllerSeen = new Recorder(controller);
  await controller.open();
  const agent = mtp({
    role: "agent",
    endpointId: agentId,
    destination: agentDest,
    peers: [{ endpointId: controllerId, destination: controllerDest }],
    ...extra,
  });
  const agentSeen = new Recorder(agent);
  agent.on("record", (r) => {
    if (r.record.recordType?.$case !== "noSessionContext") return;
    void agent.send(r.fromId, getRecord(r.fromId, agentId, r.record.recordType.value.payload), {
      replyTo: r.replyTo,
    });
  });
  await agent.open();
  await waitFor(() => controller.destinationOf(agentId));
  return { agent, controller, agentSeen, controllerSeen, agentId, controllerId, agentDest, controllerDest };
}

describe("ActiveMQ", () => {
  it("Agent and Controller exchange Connect and data Records; replies use reply-to-dest", async () => {
    const p = await pair();
    expect(p.agent.session?.server).toMatch(/ActiveMQ/);
    await p.controller.send(p.agentId, getRecord(p.agentId, p.controllerId));
    const answer = await waitFor(() => p.controllerSeen.data()[0]);
    expect(answer.replyTo).toEqual({ mtp: "stomp", destination: p.agentDest });
    expect(p.agentSeen.data()[0]?.replyTo).toEqual({ mtp: "stomp", destination: p.controllerDest });
  });

  it("preserves our headers and a binary body (ActiveMQ adds its own, escaped)", async () => {
    const name = uniqueName("raw");
    const rawDest = `/queue/raw.${name}`;
    const raw = await StompConnection.connect({
      host: broker.host,
      port: broker.stompPort,
      endpointId: "proto::raw",
    });
    cleanups.push(() => raw.destroy());
    const messages: StompFrame[] = [];
    raw.on("frame", (f) => f.command === "MESSAGE" && messages.push(f));
    await raw.request("SUBSCRIBE", [
      ["id", "1"],
      ["destination", rawDest],
      ["ack", "auto"],
    ]);
    const agent = mtp({
      role: "agent",
      endpointId: `proto::a-${name}`,
      destination: `/queue/usp.agent.${name}`,
      peers: [{ endpointId: "proto::raw", destination: rawDest }],
    });
    await agent.open();
    const payload = Buffer.from([0, 1, 0, 0, 0xfe]);
    await agent.send("proto::raw", getRecord("proto::raw", `proto::a-${name}`, payload));
    await waitFor(() => messages.length >= 2);
    for (const m of messages) {
      expect(m.headers.get("content-type")).toBe(USP_CONTENT_TYPE);
      expect(m.headers.get("reply-to-dest")).toBe(`/queue/usp.agent.${name}`);
      // ActiveMQ's message-id contains ':' and arrives escaped as \c; the parser unescapes it.
      expect(m.headers.get("message-id")).toContain(":");
    }
    const data = decodeRecord(messages[1]!.body);
    expect(
      data.recordType?.$case === "noSessionContext" && Buffer.from(data.recordType.value.payload),
    ).toEqual(payload);
  });

  it("carries a 4 MiB Record", async () => {
    const p = await pair();
    const payload = Buffer.alloc(4 * 1024 * 1024, 7);
    payload[0] = 0;
    await p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId, payload));
    const got = await waitFor(() => p.controllerSeen.data()[0], 60_000);
    const value = got.record.recordType;
    expect(value?.$case === "noSessionContext" && Buffer.from(value.value.payload).equals(payload)).toBe(
      true,
    );
  }, 90_000);

  it("negotiates heart-beats with the broker and keeps the session alive", async () => {
    const p = await pair({ heartbeat: { outgoingMs: 500, incomingMs: 500 } });
    expect(p.agent.session?.sendEveryMs).toBeGreaterThanOrEqual(500);
    await new Promise((r) => setTimeout(r, 2500));
    // Codes, not objects, so that a failure says which side gave up.
    expect(p.agentSeen.errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
    expect(p.controllerSeen.errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
    expect(p.agent.state).toBe("open");
  });

  it("turns an ERROR frame into a typed error (raw connection, SUBSCRIBE without destination)", async () => {
    const raw = await StompConnection.connect({
      host: broker.host,
      port: broker.stompPort,
      endpointId: "proto::raw",
    });
    cleanups.push(() => raw.destroy());
    const closed = new Promise((resolve) => raw.once("close", resolve));
    const reply = await raw.request("SUBSCRIBE", [["id", "1"]]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(reply).toBeInstanceOf(StompServerError);
    expect(await closed).toBeInstanceOf(StompServerError);
  });

  it("reconnects after the broker is killed and restarted; a send made while it is down is delivered", async () => {
    const p = await pair();
    await broker.kill();
    await waitFor(() => p.agent.state === "reconnecting" && p.controller.state === "reconnecting", 30_000);
    const sending = p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId));
    await broker.restart();
    await sending;
    await waitFor(() => p.controllerSeen.data().length === 1, 30_000);
    expect(p.agentSeen.errors.some((e) => e.code === "ERR_MTP_CONNECTION_LOST")).toBe(true);
  }, 120_000);
});

describe("ActiveMQ over mutual TLS", () => {
  it("exchanges Records over stomp+ssl, and the verify hook sees the broker certificate", async () => {
    const subjects: string[] = [];
    const p = await pair({
      broker: tlsBroker({
        verifyPeer: (socket) => void subjects.push(String(socket.getPeerCertificate().subject?.CN)),
      }),
    });
    await p.controller.send(p.agentId, getRecord(p.agentId, p.controllerId));
    const answer = await waitFor(() => p.controllerSeen.data()[0]);
    expect(answer.replyTo).toEqual({ mtp: "stomp", destination: p.agentDest });
    expect(subjects).toEqual(["localhost", "localhost"]);
  });

  it("validates the broker with an @x/cert-validate policy", async () => {
    const p = await pair({
      broker: tlsBroker({
        peerPolicy: {
          kind: "path",
          options: { anchors: [pki.root.certPem], time: new Date(), purpose: "serverAuth", ip: "127.0.0.1" },
        },
      }),
    });
    await p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId));
    await waitFor(() => p.controllerSeen.data()[0]);
  });

  const refusal = async (tls: TlsOptions): Promise<string> => {
    const m = mtp({
      role: "agent",
      endpointId: `proto::${uniqueName("refused")}`,
      destination: "/queue/tls-refused",
      broker: { ...tlsBroker(), tls },
    });
    const errors: string[] = [];
    m.on("error", (e) => errors.push(`${e.code}: ${e.message}`));
    const abort = new AbortController();
    const opening = m.open({ signal: abort.signal });
    await waitFor(() => errors[0]);
    abort.abort();
    await expect(opening).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
    return errors[0]!;
  };

  it("is refused by the broker without a client certificate", async () => {
    // The broker ends the handshake (TLS 1.3 reports it after the client finished) or closes at once.
    expect(await refusal({ ca: pki.root.certPem })).toMatch(/^ERR_MTP_(TLS|CONNECTION_LOST|CONNECT)/);
  });

  it("refuses a broker whose certificate does not chain to the given anchor", async () => {
    const refused = await refusal({
      ca: pki.untrustedRoot.certPem,
      cert: pki.agent.chainPem,
      key: pki.agent.keyPem,
    });
    expect(refused).toMatch(/^ERR_MTP_TLS: .*(certificate|issuer)/i);
  });
});

mtpComplianceSuite(
  "compliance: STOMP over ActiveMQ (mutual TLS), agent -> controller",
  stompPairFactory({
    options: tlsBroker,
    restart: async () => {
      await broker.kill();
      await broker.restart();
    },
  }),
  { caseTimeoutMs: 180_000, waitTimeoutMs: 60_000 },
);

mtpComplianceSuite(
  "compliance: STOMP over ActiveMQ (TCP), agent -> controller",
  stompPairFactory({
    options: () => ({ host: broker.host, port: broker.stompPort }),
    restart: async () => {
      await broker.kill();
      await broker.restart();
    },
  }),
  { caseTimeoutMs: 180_000, waitTimeoutMs: 60_000 },
);
