/**
 * Binding rules checked against the scripted fake broker: the behaviour RabbitMQ and ActiveMQ
 * cannot produce on demand (subscribe-dest, chosen heart-beats, silence, ERROR frames, lost receipts).
 */
import { afterEach, describe, expect, it } from "vitest";
import { StompServerError } from "../src/errors.js";
import { createStompMtp, type StompMtp, type StompMtpOptions, USP_CONTENT_TYPE } from "../src/mtp.js";
import { FakeBroker, waitFor } from "./fake-broker.js";
import { decodeRecord, getRecord, Recorder } from "./helpers.js";

const AGENT = "proto::agent-1";
const CONTROLLER = "proto::controller-1";
const AGENT_DEST = "/queue/usp.agent-1";
const CONTROLLER_DEST = "/queue/usp.controller-1";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(options: ConstructorParameters<typeof FakeBroker>[0] = {}): Promise<FakeBroker> {
  const broker = await new FakeBroker(options).start();
  cleanups.push(() => broker.stop());
  return broker;
}

function agent(broker: FakeBroker, extra: Partial<StompMtpOptions> = {}): StompMtp {
  const mtp = createStompMtp({
    role: "agent",
    endpointId: AGENT,
    broker: { host: "127.0.0.1", port: broker.port },
    destination: AGENT_DEST,
    peers: [{ endpointId: CONTROLLER, destination: CONTROLLER_DEST }],
    retryDelayMs: () => 20,
    sendTimeoutMs: 10_000,
    ...extra,
  });
  cleanups.push(() => mtp.close({ abrupt: true }));
  return mtp;
}

function controller(broker: FakeBroker, extra: Partial<StompMtpOptions> = {}): StompMtp {
  const mtp = createStompMtp({
    role: "controller",
    endpointId: CONTROLLER,
    broker: { host: "127.0.0.1", port: broker.port },
    destination: CONTROLLER_DEST,
    retryDelayMs: () => 20,
    sendTimeoutMs: 10_000,
    ...extra,
  });
  cleanups.push(() => mtp.close({ abrupt: true }));
  return mtp;
}

describe("STOMP frame (R-STOMP.2-5, 8-10)", () => {
  it("connects with STOMP, escaped endpoint-id, no host and no heart-beat by default", async () => {
    const broker = await fake();
    await agent(broker).open();
    const raw = Buffer.concat(broker.connections[0]!.raw).toString("latin1");
    expect(raw.startsWith("STOMP\naccept-version:1.2\n")).toBe(true);
    expect(raw).toContain("\nendpoint-id:proto\\c\\cagent-1\n");
    const connect = broker.connectFrames[0]!;
    expect(connect.command).toBe("STOMP");
    expect(connect.headers.get("endpoint-id")).toBe(AGENT);
    expect(connect.headers.has("host")).toBe(false);
    expect(connect.headers.has("heart-beat")).toBe(false);
    expect(connect.headers.has("login")).toBe(false);
    expect(broker.received("CONNECT")).toHaveLength(0);
  });

  it("sends host, login, passcode and heart-beat when configured", async () => {
    const broker = await fake();
    await agent(broker, {
      broker: { host: "127.0.0.1", port: broker.port, virtualHost: "/", login: "u:1", passcode: "p\\w" },
      heartbeat: { outgoingMs: 15000, incomingMs: 10000 },
    }).open();
    const connect = broker.connectFrames[0]!;
    expect(connect.headers.get("host")).toBe("/");
    expect(connect.headers.get("login")).toBe("u:1");
    expect(connect.headers.get("passcode")).toBe("p\\w");
    expect(connect.headers.get("heart-beat")).toBe("15000,10000");
    expect(Buffer.concat(broker.connections[0]!.raw).toString()).toContain("\nlogin:u\\c1\n");
  });
});

describe("destinations (R-STOMP.6, 12-17, 29)", () => {
  it("subscribes to subscribe-dest from CONNECTED with ack:auto and announces it in the STOMPConnectRecord", async () => {
    const broker = await fake({
      connected: (f) =>
        f.headers.get("endpoint-id") === AGENT ? [["subscribe-dest", "/queue/from-server"]] : [],
    });
    const c = controller(broker);
    const seen = new Recorder(c);
    await c.open();
    const a = agent(broker);
    await a.open();
    expect(a.session?.destination).toBe("/queue/from-server");
    expect(a.session?.fromServer).toBe(true);
    const subscribe = broker
      .received("SUBSCRIBE")
      .find((f) => f.headers.get("destination") === "/queue/from-server");
    expect(subscribe?.headers.get("ack")).toBe("auto");
    expect(subscribe?.headers.get("id")).toBe("0");
    const connectRecord = await waitFor(() =>
      seen.records.find((r) => r.record.recordType?.$case === "stompConnect"),
    );
    const value = connectRecord.record.recordType;
    expect(value?.$case === "stompConnect" && value.value.subscribedDestination).toBe("/queue/from-server");
    expect(connectRecord.replyTo).toEqual({ mtp: "stomp", destination: "/queue/from-server" });
    expect(c.destinationOf(AGENT)).toBe("/queue/from-server");
  });

  it("uses the configured destination when the broker sends none", async () => {
    const broker = await fake();
    const a = agent(broker);
    await a.open();
    expect(a.session).toMatchObject({ destination: AGENT_DEST, fromServer: false });
    expect(broker.received("SUBSCRIBE")[0]?.headers.get("destination")).toBe(AGENT_DEST);
  });

  it("disconnects and retries when there is no destination at all (R-STOMP.16)", async () => {
    const broker = await fake({ connected: (_f, i) => (i >= 2 ? [["subscribe-dest", "/queue/late"]] : []) });
    const a = agent(broker, { destination: undefined });
    const seen = new Recorder(a);
    await a.open();
    expect(seen.errors.filter((e) => e.code === "ERR_STOMP_NO_DESTINATION")).toHaveLength(2);
    expect(broker.received("DISCONNECT").length).toBeGreaterThanOrEqual(2);
    expect(broker.connectFrames).toHaveLength(3);
    expect(a.session?.destination).toBe("/queue/late");
  });

  it("changes destination with UNSUBSCRIBE then SUBSCRIBE and re-announces (R-STOMP.29)", async () => {
    const broker = await fake();
    const a = agent(broker);
    await a.open();
    await a.changeDestination("/queue/usp.agent-1b");
    const commands = broker.connections[0]!.frames.map((f) => f.command);
    const unsub = commands.lastIndexOf("UNSUBSCRIBE");
    expect(unsub).toBeGreaterThan(0);
    expect(commands.indexOf("SUBSCRIBE", unsub)).toBeGreaterThan(unsub);
    expect(a.session?.destination).toBe("/queue/usp.agent-1b");
    const sends = broker.received("SEND");
    const last = decodeRecord(sends[sends.length - 1]!.body);
    expect(last.recordType?.$case === "stompConnect" && last.recordType.value.subscribedDestination).toBe(
      "/queue/usp.agent-1b",
    );
  });
});

describe("SEND and MESSAGE (R-STOMP.18-23, 26-27)", () => {
  it("sends Records with content-length, the exact content-type and reply-to-dest; replies go to reply-to-dest", async () => {
    const broker = await fake();
    const c = controller(broker);
    const cSeen = new Recorder(c);
    await c.open();
    const a = agent(broker);
    const aSeen = new Recorder(a);
    a.on("record", (r) => {
      if (r.record.recordType?.$case === "noSessionContext")
        void a.send(r.fromId, getRecord(CONTROLLER, AGENT), { replyTo: r.replyTo });
    });
    await a.open();
    await waitFor(() => c.destinationOf(AGENT));
    await c.send(AGENT, getRecord(AGENT, CONTROLLER));
    const answer = await waitFor(() => cSeen.data()[0]);
    expect(answer.fromId).toBe(AGENT);
    expect(answer.replyTo).toEqual({ mtp: "stomp", destination: AGENT_DEST });
    expect(aSeen.data()[0]!.replyTo).toEqual({ mtp: "stomp", destination: CONTROLLER_DEST });
    for (const send of broker.received("SEND")) {
      expect(send.headers.get("content-type")).toBe(USP_CONTENT_TYPE);
      expect(send.headers.get("content-length")).toBe(String(send.body.length));
      expect(send.headers.get("reply-to-dest")).toMatch(/^\/queue\/usp\./);
    }
    const forbidden = ["ACK", "NACK", "BEGIN", "COMMIT", "ABORT"];
    for (const f of broker.connections.flatMap((x) => x.frames)) expect(forbidden).not.toContain(f.command);
  });

  it("answers a malformed Request Record with an Error Record on reply-to-dest, ignores garbage and foreign Records", async () => {
    const broker = await fake();
    const a = agent(broker);
    const seen = new Recorder(a);
    await a.open();
    const probe = broker.connections[0]!;
    const valid = Buffer.from(getRecord(AGENT, CONTROLLER));
    // A Record with an out-of-range payload_security (field 4 = 7) but a readable Request inside.
    const invalid = Buffer.concat([valid, Buffer.from([0x20, 0x07])]);
    const deliver = (body: Uint8Array): void =>
      probe.deliver(AGENT_DEST, {
        command: "SEND",
        headers: new Map([["reply-to-dest", "/queue/probe"]]),
        body,
      });
    deliver(Buffer.from("not a record"));
    deliver(getRecord("proto::someone-else", CONTROLLER));
    deliver(invalid);
    await waitFor(() => seen.errors.length >= 3, 10_000, "three errors");
    expect(seen.errors.map((e) => e.code)).toEqual([
      "ERR_MTP_MALFORMED_RECORD",
      "ERR_MTP_NOT_ADDRESSED_TO_US",
      "ERR_MTP_MALFORMED_RECORD",
    ]);
    const toProbe = () =>
      broker.received("SEND").filter((f) => f.headers.get("destination") === "/queue/probe");
    await waitFor(() => toProbe().length > 0, 10_000, "the Error Record");
    await new Promise((r) => setTimeout(r, 100));
    expect(toProbe()).toHaveLength(1);
    const error = decodeRecord(toProbe()[0]!.body);
    expect(error.toId).toBe(CONTROLLER);
    expect(error.fromId).toBe(AGENT);
    expect(seen.data()).toHaveLength(0);
  });

  it("rejects sends with typed errors: not open, no route, closed", async () => {
    const broker = await fake();
    const a = agent(broker);
    await expect(a.send(CONTROLLER, getRecord(CONTROLLER, AGENT))).rejects.toMatchObject({
      code: "ERR_MTP_NOT_OPEN",
    });
    await a.open();
    await expect(a.send("proto::nobody", getRecord("proto::nobody", AGENT))).rejects.toMatchObject({
      code: "ERR_MTP_NO_ROUTE",
    });
    await expect(
      a.send(CONTROLLER, getRecord(CONTROLLER, AGENT), { replyTo: { mtp: "mqtt", topic: "x" } }),
    ).rejects.toMatchObject({ code: "ERR_MTP_NO_ROUTE" });
    await a.close();
    await expect(a.send(CONTROLLER, getRecord(CONTROLLER, AGENT))).rejects.toMatchObject({
      code: "ERR_MTP_CLOSED",
    });
  });

  it("fails a send whose connection drops before the RECEIPT, then reconnects", async () => {
    let dropNextSend = true;
    const broker = await fake({
      onFrame: (connection, frame) => {
        if (frame.command === "SEND" && dropNextSend && frame.body.length > 0) {
          const record = decodeRecord(frame.body);
          if (record.recordType?.$case !== "noSessionContext") return false;
          dropNextSend = false;
          connection.close();
          return true;
        }
        return false;
      },
    });
    const a = agent(broker);
    await a.open();
    await expect(a.send(CONTROLLER, getRecord(CONTROLLER, AGENT))).rejects.toMatchObject({
      code: "ERR_MTP_CONNECTION_LOST",
    });
    await waitFor(() => a.state === "open" && broker.connections.length === 2);
    await a.send(CONTROLLER, getRecord(CONTROLLER, AGENT));
  });
});

describe("heart-beats (R-STOMP.8-11)", () => {
  it("obeys CONNECTED: beats at max(cx, sy)", async () => {
    const broker = await fake({ connected: () => [["heart-beat", "0,60"]], beatEveryMs: 0 });
    const a = agent(broker, { heartbeat: { outgoingMs: 40, incomingMs: 0 } });
    await a.open();
    expect(a.session).toMatchObject({ sendEveryMs: 60, expectEveryMs: 0 });
    await waitFor(() => broker.connections[0]!.heartbeatsReceived >= 3, 10_000, "heart-beats");
  });

  it("accepts the TP-469 spelling with a space and sends no beats when the server wants none", async () => {
    const broker = await fake({ connected: () => [["heart-beat", "15000, 0"]] });
    const a = agent(broker, { heartbeat: { outgoingMs: 15000, incomingMs: 10000 } });
    await a.open();
    expect(a.session).toMatchObject({ sendEveryMs: 0, expectEveryMs: 15000 });
  });

  it("drops a silent broker after the negotiated period and reconnects", async () => {
    const broker = await fake({ connected: (_f, i) => [["heart-beat", i === 0 ? "50,0" : "0,0"]] });
    const a = agent(broker, { heartbeat: { outgoingMs: 0, incomingMs: 50 } });
    const seen = new Recorder(a);
    await a.open();
    await waitFor(() => seen.errors.find((e) => e.code === "ERR_STOMP_HEARTBEAT_TIMEOUT"), 10_000, "timeout");
    await waitFor(() => broker.connectFrames.length === 2 && a.state === "open", 10_000, "reconnect");
    expect(seen.states).toContain("reconnecting");
    expect(seen.peers.map((p) => p.event)).toEqual(["connected", "disconnected", "connected"]);
  });

  it("stays connected while the broker beats", async () => {
    const broker = await fake({ connected: () => [["heart-beat", "30,0"]], beatEveryMs: 30 });
    const a = agent(broker, { heartbeat: { outgoingMs: 0, incomingMs: 30 } });
    const seen = new Recorder(a);
    await a.open();
    await new Promise((r) => setTimeout(r, 400));
    expect(seen.errors).toHaveLength(0);
    expect(broker.connectFrames).toHaveLength(1);
  });
});

describe("ERROR frames and retry (R-STOMP.7, 25)", () => {
  it("surfaces an ERROR frame as StompServerError and reconnects", async () => {
    const broker = await fake();
    const a = agent(broker);
    const seen = new Recorder(a);
    await a.open();
    broker.connections[0]!.send("ERROR", [["message", "queue gone"]], Buffer.from("details here"));
    const error = await waitFor(() => seen.errors.find((e) => e instanceof StompServerError));
    expect(error).toMatchObject({
      code: "ERR_STOMP_SERVER_ERROR",
      brokerMessage: "queue gone",
      body: "details here",
    });
    await waitFor(() => broker.connectFrames.length === 2 && a.state === "open");
  });

  it("retries a refused connect with the STOMP back-off counter, which resets after success", async () => {
    const broker = await fake({ connected: (_f, i) => (i < 3 ? { error: "access refused" } : []) });
    const attempts: number[] = [];
    const a = agent(broker, {
      retryDelayMs: (n) => {
        attempts.push(n);
        return 10;
      },
    });
    const seen = new Recorder(a);
    await a.open();
    expect(attempts).toEqual([1, 2, 3]);
    expect(seen.errors.filter((e) => e.code === "ERR_STOMP_SERVER_ERROR")).toHaveLength(3);
    broker.connections[3]!.close();
    await waitFor(() => broker.connectFrames.length === 5 && a.state === "open");
    expect(attempts).toEqual([1, 2, 3, 1]);
  });

  it("uses the TR-181 formula by default: the first retry waits within [0, I]", async () => {
    const broker = await fake({ connected: (_f, i) => (i === 0 ? { error: "busy" } : []) });
    const a = agent(broker, { retryDelayMs: undefined, retry: { initialInterval: 0.05 } });
    await a.open();
    expect(broker.connectFrames).toHaveLength(2);
  });

  it("open() can be aborted while retrying", async () => {
    const broker = await fake({ connected: () => ({ error: "never" }) });
    const a = agent(broker, { retryDelayMs: () => 50 });
    const controllerAbort = new AbortController();
    const opening = a.open({ signal: controllerAbort.signal });
    await waitFor(() => broker.connectFrames.length >= 2);
    controllerAbort.abort();
    await expect(opening).rejects.toMatchObject({ code: "ERR_MTP_CLOSED" });
    await waitFor(() => a.state === "closed");
  });
});

describe("sending while the broker is away", () => {
  it("waits for the reconnect within sendTimeoutMs, then fails with ERR_MTP_TIMEOUT", async () => {
    const broker = await fake({ connected: (_f, i) => (i === 0 ? [] : { error: "down for maintenance" }) });
    const a = agent(broker, { sendTimeoutMs: 300, retryDelayMs: () => 50 });
    await a.open();
    broker.connections[0]!.close();
    await waitFor(() => a.state === "reconnecting");
    await expect(a.send(CONTROLLER, getRecord(CONTROLLER, AGENT))).rejects.toMatchObject({
      code: "ERR_MTP_TIMEOUT",
    });
  });

  it("reconnectNow() skips a long back-off wait", async () => {
    const broker = await fake();
    const a = agent(broker, { retryDelayMs: () => 3_600_000 });
    await a.open();
    broker.connections[0]!.close();
    await waitFor(() => a.state === "reconnecting");
    await new Promise((r) => setTimeout(r, 100));
    expect(broker.connectFrames).toHaveLength(1);
    a.reconnectNow();
    await waitFor(() => a.state === "open" && broker.connectFrames.length === 2);
  });
});

describe("close (R-MTP.7, R-STOMP.28)", () => {
  it("sends a DisconnectRecord, UNSUBSCRIBE and DISCONNECT", async () => {
    const broker = await fake();
    const a = agent(broker);
    const seen = new Recorder(a);
    await a.open();
    await a.close({ reason: "shutdown", reasonCode: 7105 });
    const frames = broker.connections[0]!.frames.map((f) => f.command);
    expect(frames.slice(-2)).toEqual(["UNSUBSCRIBE", "DISCONNECT"]);
    const sends = broker.received("SEND").map((f) => decodeRecord(f.body));
    const last = sends[sends.length - 1]!;
    expect(last.recordType?.$case).toBe("disconnect");
    expect(last.recordType?.$case === "disconnect" && last.recordType.value.reasonCode).toBe(7105);
    expect(a.state).toBe("closed");
    expect(seen.states).toEqual(["connecting", "open", "closing", "closed"]);
    await a.close();
  });
});
