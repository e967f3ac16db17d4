/**
 * Against a real RabbitMQ (STOMP plugin), started once for this file: TCP and TLS, the wire as the
 * broker delivers it, a 4 MiB Record, real ERROR frames, heart-beat loss and a broker restart.
 */

import { mtpComplianceSuite } from "@x/mtp-compliance";
import { type RunningRabbitMq, startRabbitMq } from "@x/test-brokers";
import { createPki, type Pki } from "@x/test-certs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { StompConnection } from "../src/connection.js";
import { StompServerError } from "../src/errors.js";
import { createStompMtp, type StompMtp, type StompMtpOptions, USP_CONTENT_TYPE } from "../src/mtp.js";
import { cli } from "./cli-helper.js";
import { stompPairFactory } from "./compliance-factory.js";
import { waitFor } from "./fake-broker.js";
import { decodeRecord, getRecord, Recorder, uniqueName } from "./helpers.js";
import { BlackholeProxy } from "./proxy.js";

let broker: RunningRabbitMq;
let pki: Pki;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  pki = await createPki();
  broker = await startRabbitMq({
    tls: {
      certPem: pki.server.certPem,
      keyPem: pki.server.keyPem,
      caPem: pki.intermediate.certPem + pki.root.certPem,
    },
  });
}, 120_000);

afterAll(async () => {
  await broker?.dispose();
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Pair {
  agent: StompMtp;
  controller: StompMtp;
  agentSeen: Recorder;
  controllerSeen: Recorder;
  agentId: string;
  controllerId: string;
  agentDest: string;
  controllerDest: string;
}

function mtp(options: StompMtpOptions): StompMtp {
  const m = createStompMtp({ retryDelayMs: () => 200, sendTimeoutMs: 60_000, ...options });
  cleanups.push(() => m.close({ abrupt: true }));
  return m;
}

function tcpBroker(): StompMtpOptions["broker"] {
  return { host: broker.host, port: broker.stompPort, login: broker.login, passcode: broker.passcode };
}

function tlsBroker(): StompMtpOptions["broker"] {
  return { ...tcpBroker(), port: broker.stompTlsPort, tls: { ca: pki.root.certPem } };
}

async function pair(
  brokerOptions: StompMtpOptions["broker"] = tcpBroker(),
  extra: Partial<StompMtpOptions> = {},
): Promise<Pair> {
  const name = uniqueName("rmq");
  const agentId = `proto::agent-${name}`;
  const controllerId = `proto::controller-${name}`;
  const agentDest = `/queue/usp.agent.${name}`;
  const controllerDest = `/queue/usp.controller.${name}`;
  const controller = mtp({
    role: "controller",
    endpointId: controllerId,
    broker: brokerOptions,
    destination: controllerDest,
    ...extra,
  });
  const controllerSeen = new Recorder(controller);
  await controller.open();
  const agent = mtp({
    role: "agent",
    endpointId: agentId,
    broker: brokerOptions,
    destination: agentDest,
    peers: [{ endpointId: controllerId, destination: controllerDest }],
    ...extra,
  });
  const agentSeen = new Recorder(agent);
  await agent.open();
  return { agent, controller, agentSeen, controllerSeen, agentId, controllerId, agentDest, controllerDest };
}

/** The agent answers every data Record on the return path it came with. */
function echo(p: Pair): void {
  p.agent.on("record", (r) => {
    if (r.record.recordType?.$case !== "noSessionContext") return;
    const payload = r.record.recordType.value.payload;
    void p.agent
      .send(r.fromId, getRecord(r.fromId, p.agentId, payload), { replyTo: r.replyTo })
      .catch(() => {});
  });
}

describe("RabbitMQ over TCP", () => {
  it("Agent announces itself, Controller learns the destination, Records go both ways", async () => {
    const p = await pair();
    echo(p);
    const connect = await waitFor(() =>
      p.controllerSeen.records.find((r) => r.record.recordType?.$case === "stompConnect"),
    );
    expect(connect.fromId).toBe(p.agentId);
    expect(connect.replyTo).toEqual({ mtp: "stomp", destination: p.agentDest });
    expect(p.controller.destinationOf(p.agentId)).toBe(p.agentDest);
    expect(p.agent.session?.server).toMatch(/^RabbitMQ/);
    await p.controller.send(p.agentId, getRecord(p.agentId, p.controllerId));
    const answer = await waitFor(() => p.controllerSeen.data()[0]);
    expect(answer.fromId).toBe(p.agentId);
    expect(answer.replyTo).toEqual({ mtp: "stomp", destination: p.agentDest });
  });

  it("delivers our SEND with content-type, content-length, reply-to-dest and a binary body intact", async () => {
    const name = uniqueName("raw");
    const rawDest = `/queue/raw.${name}`;
    const raw = await StompConnection.connect({
      host: broker.host,
      port: broker.stompPort,
      endpointId: "proto::raw",
      login: broker.login,
      passcode: broker.passcode,
    });
    cleanups.push(() => raw.destroy());
    const messages: Array<import("../src/frame.js").StompFrame> = [];
    raw.on("frame", (f) => f.command === "MESSAGE" && messages.push(f));
    await raw.request("SUBSCRIBE", [
      ["id", "1"],
      ["destination", rawDest],
      ["ack", "auto"],
    ]);
    const agent = mtp({
      role: "agent",
      endpointId: `proto::a-${name}`,
      broker: tcpBroker(),
      destination: `/queue/usp.agent.${name}`,
      peers: [{ endpointId: "proto::raw", destination: rawDest }],
    });
    await agent.open();
    const payload = Buffer.from([0, 0, 1, 0, 0xff, 0x0a, 0]);
    await agent.send("proto::raw", getRecord("proto::raw", `proto::a-${name}`, payload));
    await waitFor(() => messages.length >= 2);
    for (const m of messages) {
      expect(m.headers.get("content-type")).toBe(USP_CONTENT_TYPE);
      expect(m.headers.get("reply-to-dest")).toBe(`/queue/usp.agent.${name}`);
      expect(m.headers.get("content-length")).toBe(String(m.body.length));
    }
    expect(decodeRecord(messages[0]!.body).recordType?.$case).toBe("stompConnect");
    const data = decodeRecord(messages[1]!.body);
    expect(
      data.recordType?.$case === "noSessionContext" && Buffer.from(data.recordType.value.payload),
    ).toEqual(payload);
  });

  it("carries a 4 MiB Record", async () => {
    const p = await pair();
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff;
    payload[100] = 0;
    await p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId, payload));
    const got = await waitFor(() => p.controllerSeen.data()[0], 60_000);
    const value = got.record.recordType;
    expect(value?.$case === "noSessionContext" && Buffer.from(value.value.payload).equals(payload)).toBe(
      true,
    );
  }, 90_000);

  it("sends host only when a virtual host is configured: '/' works, an unknown one gets ERROR", async () => {
    const ok = await pair({ ...tcpBroker(), virtualHost: "/" });
    expect(ok.agent.state).toBe("open");
    const bad = mtp({
      role: "agent",
      endpointId: "proto::vhost",
      broker: { ...tcpBroker(), virtualHost: "no-such-vhost" },
      destination: "/queue/vhost",
    });
    const seen = new Recorder(bad);
    const abort = new AbortController();
    const opening = bad.open({ signal: abort.signal });
    const error = await waitFor(() => seen.errors.find((e) => e instanceof StompServerError));
    abort.abort();
    await expect(opening).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
    expect(error.message).toMatch(/vhost|virtual host|access/i);
  });

  it("surfaces a real ERROR frame (bad credentials) as a typed error and keeps retrying", async () => {
    const m = mtp({
      role: "agent",
      endpointId: "proto::badlogin",
      broker: { ...tcpBroker(), passcode: "wrong" },
      destination: "/queue/badlogin",
    });
    const seen = new Recorder(m);
    const abort = new AbortController();
    const opening = m.open({ signal: abort.signal });
    await waitFor(() => seen.errors.filter((e) => e.code === "ERR_STOMP_SERVER_ERROR").length >= 2);
    abort.abort();
    await expect(opening).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
  });

  it("fails the send that provoked an ERROR frame mid-session, then reconnects", async () => {
    const p = await pair();
    const error = await p.agent
      .send("x", getRecord("proto::x", p.agentId), {
        replyTo: { mtp: "stomp", destination: "/exchange/no-such-exchange-here/key" },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(StompServerError);
    await waitFor(() => p.agent.state === "open" && p.agentSeen.states.includes("reconnecting"), 30_000);
    await p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId));
    await waitFor(() => p.controllerSeen.data().length === 1);
  });
});

describe("mtp-stomp CLI through RabbitMQ", () => {
  it("an agent in --echo mode answers a controller that sends a Record", async () => {
    const name = uniqueName("cli");
    const [a, c] = [`proto::agent-${name}`, `proto::controller-${name}`];
    const [da, dc] = [`/queue/usp.agent.${name}`, `/queue/usp.controller.${name}`];
    const common = [
      "--host",
      broker.host,
      "--port",
      String(broker.stompPort),
      "--login",
      "guest",
      "--passcode",
      "guest",
    ];
    const record = Buffer.from(getRecord(a, c)).toString("hex");
    const [agentRun, controllerRun] = await Promise.all([
      cli(
        [
          "agent",
          ...common,
          "--endpoint-id",
          a,
          "--destination",
          da,
          "--peer",
          `${c}=${dc}`,
          "--echo",
          "--count",
          "1",
          "--timeout",
          "60",
          "--json",
        ],
        90_000,
      ),
      cli(
        [
          "controller",
          ...common,
          "--endpoint-id",
          c,
          "--destination",
          dc,
          "--peer",
          `${a}=${da}`,
          "--send-hex",
          record,
          "--count",
          "2",
          "--timeout",
          "60",
          "--json",
        ],
        90_000,
      ),
    ]);
    expect(agentRun.code, agentRun.stderr).toBe(0);
    expect(controllerRun.code, controllerRun.stderr).toBe(0);
    const events = controllerRun.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const records = events.filter((e) => e.event === "record");
    expect(records.map((r) => r.type).sort()).toEqual(["noSessionContext", "stompConnect"]);
    expect(records.every((r) => r.fromId === a && r.replyTo === da)).toBe(true);
  }, 120_000);
});

describe("RabbitMQ over TLS", () => {
  it("works end to end with the test CA, and the verify hook sees the broker certificate", async () => {
    const subjects: string[] = [];
    const options = tlsBroker();
    const p = await pair({
      ...options,
      tls: {
        ...options.tls,
        verifyPeer: (socket) => void subjects.push(String(socket.getPeerCertificate().subject?.CN)),
      },
    });
    echo(p);
    await waitFor(() => p.controller.destinationOf(p.agentId));
    await p.controller.send(p.agentId, getRecord(p.agentId, p.controllerId));
    await waitFor(() => p.controllerSeen.data()[0]);
    expect(subjects).toEqual(["localhost", "localhost"]);
  });

  const refused = async (tls: NonNullable<StompMtpOptions["broker"]["tls"]>): Promise<string> => {
    const m = mtp({
      role: "agent",
      endpointId: "proto::tls-refused",
      broker: { ...tlsBroker(), tls },
      destination: "/queue/tls-refused",
    });
    const seen = new Recorder(m);
    const abort = new AbortController();
    const opening = m.open({ signal: abort.signal });
    const error = await waitFor(() => seen.errors[0]);
    abort.abort();
    await expect(opening).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
    expect(error.code).toBe("ERR_MTP_TLS");
    return error.message;
  };

  it("validates the broker with an @x/cert-validate policy (accept, and refuse the wrong anchor or IP)", async () => {
    const policy = (anchor: string, ip = "127.0.0.1") =>
      ({
        kind: "path",
        options: { anchors: [anchor], time: new Date(), purpose: "serverAuth", ip },
      }) as const;
    const options = tlsBroker();
    const p = await pair({ ...options, tls: { peerPolicy: policy(pki.root.certPem) } });
    await waitFor(() => p.controller.destinationOf(p.agentId));
    expect(await refused({ peerPolicy: policy(pki.untrustedRoot.certPem) })).toMatch(/refused|reject/i);
    expect(await refused({ peerPolicy: policy(pki.root.certPem, "10.9.8.7") })).toMatch(/refused|reject/i);
  });

  it("insecureSkipVerify connects to an untrusted broker only with an explicit, reported relaxation", async () => {
    const m = mtp({
      role: "agent",
      endpointId: "proto::insecure",
      broker: { ...tlsBroker(), tls: { ca: pki.untrustedRoot.certPem, insecureSkipVerify: true } },
      destination: "/queue/insecure",
    });
    const seen = new Recorder(m);
    await m.open();
    expect(seen.errors.map((e) => e.code)).toContain("ERR_STOMP_TLS_UNVERIFIED");
  });

  it("refuses an untrusted broker, a wrong name and a rejecting verify hook", async () => {
    expect(await refused({ ca: pki.untrustedRoot.certPem })).toMatch(/certificate|issuer/i);
    expect(await refused({ ca: pki.root.certPem, servername: "wrong.example" })).toMatch(
      /wrong\.example|altname|host/i,
    );
    expect(
      await refused({
        ca: pki.root.certPem,
        verifyPeer: () => {
          throw new Error("not our broker");
        },
      }),
    ).toMatch(/not our broker/);
  });
});

describe("RabbitMQ failures", () => {
  it("the broker closes on missed heart-beats during a partition; we reconnect", async () => {
    const proxy = await new BlackholeProxy(broker.host, broker.stompPort).start();
    cleanups.push(() => proxy.stop());
    const p = await pair(
      { ...tcpBroker(), port: proxy.port },
      // Our own silence check is lenient, so the broker's heart-beat check acts first.
      { heartbeat: { outgoingMs: 1000, incomingMs: 1000 }, heartbeatGrace: 15 },
    );
    expect(p.agent.session).toMatchObject({ sendEveryMs: 1000, expectEveryMs: 1000 });
    proxy.blackhole = true;
    await waitFor(() => proxy.brokerClosed >= 2, 30_000, "RabbitMQ to drop both silent clients");
    proxy.blackhole = false;
    await waitFor(() => p.agent.state === "open" && p.controller.state === "open", 30_000);
    expect(p.agentSeen.states).toContain("reconnecting");
    await p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId));
    await waitFor(() => p.controllerSeen.data().length === 1);
  }, 90_000);

  it("loses no Record silently across a broker restart", async () => {
    const p = await pair(tcpBroker(), { persistent: true });
    const total = 60;
    const outcomes: Array<"ok" | "failed" | undefined> = [];
    const failures: string[] = [];
    let restart: Promise<void> | undefined;
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < total; i++) {
      if (i === 20) restart = broker.restart();
      const payload = Buffer.from(`record-${i}`);
      sends.push(
        p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId, payload)).then(
          () => void (outcomes[i] = "ok"),
          (e: { code?: string }) => {
            outcomes[i] = "failed";
            failures.push(String(e.code));
          },
        ),
      );
      await new Promise((r) => setTimeout(r, i < 20 ? 10 : 300));
    }
    await restart;
    await Promise.all(sends);
    const delivered = (): Set<string> =>
      new Set(
        p.controllerSeen.data().map((r) => {
          const t = r.record.recordType;
          return t?.$case === "noSessionContext" ? Buffer.from(t.value.payload).toString() : "";
        }),
      );
    const confirmed = outcomes.flatMap((o, i) => (o === "ok" ? [`record-${i}`] : []));
    await waitFor(() => confirmed.every((c) => delivered().has(c)), 60_000, "every confirmed Record");
    // The restart really happened mid-stream: both ends went through reconnecting.
    expect(p.agentSeen.states).toContain("reconnecting");
    expect(p.controllerSeen.states).toContain("reconnecting");
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(0);
    expect(outcomes).toHaveLength(total);
    // Each failure is typed and visible to the caller.
    for (const code of failures) expect(code).toMatch(/^ERR_/);
    expect(confirmed.length).toBeGreaterThan(20);
  }, 240_000);

  it("a broker crash (SIGKILL) with SENDs in flight: each Record is confirmed and kept, or its send rejects", async () => {
    // The Controller is away during the crash, so what is measured is the sender's guarantee: a
    // RECEIPT means the broker holds the Record. (With the ack:auto subscription TR-369 mandates,
    // Records already pushed towards a connected subscriber can die with the broker; see README.)
    const p = await pair(tcpBroker(), { persistent: true, sendTimeoutMs: 90_000 });
    // Graceful: after the DISCONNECT receipt the broker no longer pushes Records to this subscriber.
    await p.controller.close();
    const total = 600;
    const outcomes: Array<"ok" | "failed"> = [];
    const failureCodes = new Set<string>();
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < total; i++) {
      const payload = Buffer.concat([Buffer.from(`crash-${i}|`), Buffer.alloc(4096)]);
      sends.push(
        p.agent.send(p.controllerId, getRecord(p.controllerId, p.agentId, payload)).then(
          () => void (outcomes[i] = "ok"),
          (e: { code?: string }) => {
            outcomes[i] = "failed";
            failureCodes.add(String(e.code));
          },
        ),
      );
    }
    // Crash while many SENDs still wait for their RECEIPT, then bring the broker back.
    await broker.kill();
    await broker.restart();
    await Promise.all(sends);
    const controller = mtp({
      role: "controller",
      endpointId: p.controllerId,
      broker: tcpBroker(),
      destination: p.controllerDest,
    });
    const seen = new Recorder(controller);
    await controller.open();
    const confirmed = outcomes.flatMap((o, i) => (o === "ok" ? [`crash-${i}`] : []));
    const delivered = (): Set<string> =>
      new Set(
        seen.data().map((r) => {
          const t = r.record.recordType;
          return t?.$case === "noSessionContext"
            ? Buffer.from(t.value.payload).toString().split("|")[0]!
            : "";
        }),
      );
    await waitFor(() => confirmed.every((c) => delivered().has(c)), 60_000, "every confirmed Record");
    expect(outcomes.filter((o) => o !== undefined)).toHaveLength(total);
    for (const code of failureCodes) expect(code).toMatch(/^ERR_MTP_(CONNECTION_LOST|TIMEOUT)$/);
    expect(confirmed.length).toBeGreaterThan(0);
  }, 240_000);
});

const restartRabbitMq = async (): Promise<void> => {
  await broker.kill();
  await broker.restart();
};

mtpComplianceSuite(
  "compliance: STOMP over RabbitMQ (TCP), agent -> controller",
  stompPairFactory({ options: () => tcpBroker(), restart: restartRabbitMq }),
  { caseTimeoutMs: 180_000, waitTimeoutMs: 60_000 },
);

mtpComplianceSuite(
  "compliance: STOMP over RabbitMQ (TLS), agent -> controller",
  stompPairFactory({ options: () => tlsBroker(), restart: restartRabbitMq }),
  { caseTimeoutMs: 180_000, waitTimeoutMs: 60_000 },
);
