/**
 * send() while a peer we connect to is down: held in send() order and delivered on its next
 * session right after the WebSocketConnectRecord (R-MTP.6/8), bounded by `sendTimeoutMs` and
 * `maxQueuedBytes`, cancelled by an abort signal or close(). Real servers on loopback.
 */
import { buildRequestMsg, encodeMsg, encodeRecord, noSessionContextRecord } from "@x/usp-record";
import type { MtpError } from "@x/usp-record/mtp";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  createWebSocketMtp,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_SEND_TIMEOUT_MS,
  type WebSocketMtp,
  WebSocketMtpConfigError,
  type WebSocketMtpOptions,
} from "../src/index.js";
import { Cleanup, collect, FakeScheduler, freePort, getRecord, until } from "./helpers.js";

const AGENT = "proto::agent";
const CONTROLLER = "proto::controller";
const FAST_RETRY = { minimumWaitInterval: 0.02, intervalMultiplier: 2000, maxInterval: 0.1 };
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function controllerOn(port: number): Promise<WebSocketMtp> {
  const mtp = cleanup.mtp(
    createWebSocketMtp({ role: "controller", endpointId: CONTROLLER, listen: { port } }),
  );
  await mtp.open();
  return mtp;
}

function agentTo(port: number, extra: Partial<WebSocketMtpOptions> = {}, configuredEid = true): WebSocketMtp {
  return cleanup.mtp(
    createWebSocketMtp({
      role: "agent",
      endpointId: AGENT,
      peers: [
        {
          url: `ws://127.0.0.1:${port}/usp`,
          ...(configuredEid ? { endpointId: CONTROLLER } : { offerExtension: true }),
          retry: FAST_RETRY,
          keepAlive: { intervalMs: 0 },
        },
      ],
      ...extra,
    }),
  );
}

/** How a Record received by the Controller reads in the assertions: its type, or its label. */
function labeller(sent: Map<string, string>) {
  return (r: { bytes: Uint8Array; record: { recordType?: { $case: string } | undefined } }): string =>
    sent.get(Buffer.from(r.bytes).toString("hex")) ?? r.record.recordType?.$case ?? "?";
}

/** A labelled Record from the Agent to the Controller; its bytes are remembered in `sent`. */
function labelled(sent: Map<string, string>, label: string): Uint8Array {
  const bytes = getRecord(CONTROLLER, AGENT, label);
  sent.set(Buffer.from(bytes).toString("hex"), label);
  return bytes;
}

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => "resolved",
    (e: MtpError) => e.code,
  );

describe("send() while a peer we connect to is reconnecting", () => {
  for (const configuredEid of [true, false]) {
    it(`holds sends while the server is down and delivers them after the Connect Record, in order (${configuredEid ? "configured" : "learned"} peer Endpoint ID)`, async () => {
      const port = await freePort();
      const first = await controllerOn(port);
      const agent = agentTo(port, {}, configuredEid);
      await agent.open();
      expect(agent.connectedPeers).toEqual([CONTROLLER]);
      await first.close({ abrupt: true });
      await until("the session is lost", () => agent.connectedPeers.length === 0);

      const sent = new Map<string, string>();
      const q1 = agent.send(CONTROLLER, labelled(sent, "queued-1"));
      // A UspRecord object is encoded when it is queued.
      const q2Record = noSessionContextRecord({
        toId: CONTROLLER,
        fromId: AGENT,
        payload: encodeMsg(
          buildRequestMsg("queued-2", { $case: "get", value: { paramPaths: ["Device."], maxDepth: 0 } }),
        ),
      });
      sent.set(Buffer.from(encodeRecord(q2Record)).toString("hex"), "queued-2");
      const q2 = agent.send(CONTROLLER, q2Record);
      const q3 = agent.send(CONTROLLER, labelled(sent, "queued-3"));
      // A send from a peerConnected listener finds the session open and goes behind the held ones.
      let onConnect: Promise<void> | undefined;
      agent.once("peerConnected", () => {
        onConnect = agent.send(CONTROLLER, labelled(sent, "from-peerConnected"));
      });

      const second = await controllerOn(port);
      const seen = collect(second);
      await Promise.all([q1, q2, q3]);
      await until("the peerConnected send", () => onConnect);
      await onConnect;
      await agent.send(CONTROLLER, labelled(sent, "after"));
      await until("five Records", () => seen.records.length >= 5);
      expect(seen.records.map(labeller(sent))).toEqual([
        "websocketConnect",
        "queued-1",
        "queued-2",
        "queued-3",
        "from-peerConnected",
        "after",
      ]);
    });
  }

  it("holds sends made before the first session (open() still pending)", async () => {
    const port = await freePort();
    const agent = agentTo(port);
    const opened = agent.open();
    const sent = new Map<string, string>();
    const early = agent.send(CONTROLLER, labelled(sent, "early"));
    const server = await controllerOn(port);
    const seen = collect(server);
    await opened;
    await early;
    await until("two Records", () => seen.records.length >= 2);
    expect(seen.records.map(labeller(sent))).toEqual(["websocketConnect", "early"]);
  });

  it("rejects with ERR_MTP_TIMEOUT after sendTimeoutMs (fake clock), frees the room and cancels the timers", async () => {
    const port = await freePort();
    const clock = new FakeScheduler();
    const record = getRecord(CONTROLLER, AGENT, "late");
    const agent = agentTo(port, { scheduler: clock, sendTimeoutMs: 1234, maxQueuedBytes: record.length });
    void agent.open().catch(() => undefined);
    const timedOut = codeOf(agent.send(CONTROLLER, record));
    const timers = clock.pending.filter((p) => p.delayMs === 1234 && !p.cancelled);
    expect(timers).toHaveLength(1);
    // Fire it as FakeScheduler.fireAll() would: out of the pending list first.
    clock.pending.splice(clock.pending.indexOf(timers[0] as (typeof timers)[0]), 1);
    timers[0]?.fn();
    expect(await timedOut).toBe("ERR_MTP_TIMEOUT");
    // The first attempt failed (nobody listens) and its back-off waits on the fake clock.
    await until("a retry scheduled", () => clock.pending.some((p) => !p.cancelled && p.delayMs !== 1234));

    // Its bytes left the bound: the next send of the same size is held, then delivered.
    const sent = new Map<string, string>();
    const held = agent.send(CONTROLLER, labelled(sent, "held"));
    const server = await controllerOn(port);
    const seen = collect(server);
    agent.reconnectNow();
    await held;
    await until("two Records", () => seen.records.length >= 2);
    expect(seen.records.map(labeller(sent))).toEqual(["websocketConnect", "held"]);
    // The delivered send's timeout timer was cancelled.
    expect(clock.pending.filter((p) => p.delayMs === 1234 && !p.cancelled)).toEqual([]);
  });

  it("takes aborted and timed-out sends out anywhere in the queue, keeps the order of the others and frees their room", async () => {
    const port = await freePort();
    const clock = new FakeScheduler();
    const size = getRecord(CONTROLLER, AGENT, "q-00").length;
    const agent = agentTo(port, { scheduler: clock, sendTimeoutMs: 1234, maxQueuedBytes: 12 * size });
    void agent.open().catch(() => undefined);
    const sent = new Map<string, string>();
    const aborts = new Map<number, AbortController>();
    const results: Promise<string | undefined>[] = [];
    for (let i = 0; i < 12; i++) {
      const abort = new AbortController();
      aborts.set(i, abort);
      const label = `q-${String(i).padStart(2, "0")}`;
      results.push(codeOf(agent.send(CONTROLLER, labelled(sent, label), { signal: abort.signal })));
    }
    expect(await codeOf(agent.send(CONTROLLER, getRecord(CONTROLLER, AGENT, "q-99")))).toBe(
      "ERR_WS_QUEUE_FULL",
    );
    // Head, two neighbours in the middle, the tail; then one times out in the middle.
    for (const i of [0, 5, 6, 11]) aborts.get(i)?.abort();
    const timers = clock.pending.filter((p) => p.delayMs === 1234 && !p.cancelled);
    expect(timers).toHaveLength(8);
    const third = timers[2] as (typeof timers)[0]; // the send timer of q-03
    clock.pending.splice(clock.pending.indexOf(third), 1);
    third.fn();
    const gone = {
      0: "ERR_MTP_SEND_FAILED",
      3: "ERR_MTP_TIMEOUT",
      5: "ERR_MTP_SEND_FAILED",
      6: "ERR_MTP_SEND_FAILED",
      11: "ERR_MTP_SEND_FAILED",
    };
    for (const [i, code] of Object.entries(gone)) expect(await results[Number(i)]).toBe(code);
    // Five sends left the queue: five more of the same size fit, a sixth does not.
    for (let i = 12; i < 17; i++) results.push(codeOf(agent.send(CONTROLLER, labelled(sent, `q-${i}`))));
    expect(await codeOf(agent.send(CONTROLLER, getRecord(CONTROLLER, AGENT, "q-99")))).toBe(
      "ERR_WS_QUEUE_FULL",
    );
    await until("a retry scheduled", () => clock.pending.some((p) => !p.cancelled && p.delayMs !== 1234));
    const server = await controllerOn(port);
    const seen = collect(server);
    agent.reconnectNow();
    await until("thirteen Records", () => seen.records.length >= 13);
    const settled = await Promise.all(results);
    expect(settled.filter((c) => c === "resolved")).toHaveLength(12);
    expect(seen.records.map(labeller(sent))).toEqual([
      "websocketConnect",
      ...["q-01", "q-02", "q-04", "q-07", "q-08", "q-09", "q-10", "q-12", "q-13", "q-14", "q-15", "q-16"],
    ]);
  });

  it("rejects with ERR_MTP_TIMEOUT on the real clock too", async () => {
    const port = await freePort();
    const agent = agentTo(port, { sendTimeoutMs: 20 });
    void agent.open().catch(() => undefined);
    const error = await agent.send(CONTROLLER, getRecord(CONTROLLER, AGENT)).catch((e: MtpError) => e);
    expect(error).toMatchObject({ code: "ERR_MTP_TIMEOUT" });
  });

  it("an aborted send leaves the queue, rejects, and is never sent", async () => {
    const port = await freePort();
    const agent = agentTo(port);
    void agent.open().catch(() => undefined);
    const sent = new Map<string, string>();
    const controller = new AbortController();
    const aborted = agent
      .send(CONTROLLER, labelled(sent, "aborted"), { signal: controller.signal })
      .catch((e: MtpError) => e);
    const kept = agent.send(CONTROLLER, labelled(sent, "kept"));
    controller.abort(new Error("changed my mind"));
    const error = await aborted;
    expect(error).toMatchObject({ code: "ERR_MTP_SEND_FAILED" });
    expect((error as Error).cause).toMatchObject({ message: "changed my mind" });
    const server = await controllerOn(port);
    const seen = collect(server);
    await kept;
    await agent.send(CONTROLLER, labelled(sent, "after"));
    await until("three Records", () => seen.records.length >= 3);
    expect(seen.records.map(labeller(sent))).toEqual(["websocketConnect", "kept", "after"]);
  });

  it("refuses a send beyond maxQueuedBytes at once with ERR_WS_QUEUE_FULL; close() rejects what waits with ERR_MTP_CLOSED", async () => {
    const port = await freePort();
    const record = getRecord(CONTROLLER, AGENT, "x");
    const agent = agentTo(port, { maxQueuedBytes: 2 * record.length });
    const seen = collect(agent);
    const opened = codeOf(agent.open());
    const a = codeOf(agent.send(CONTROLLER, record));
    const abort = new AbortController();
    const b = codeOf(agent.send(CONTROLLER, record, { signal: abort.signal }));
    const full = await agent.send(CONTROLLER, record).catch((e: MtpError) => e);
    expect(full).toMatchObject({ code: "ERR_WS_QUEUE_FULL" });
    expect((full as Error).message).toMatch(/maxQueuedBytes/);
    abort.abort();
    expect(await b).toBe("ERR_MTP_SEND_FAILED");
    const c = codeOf(agent.send(CONTROLLER, record));
    // A graceful close does not wait for the peer that is down.
    await agent.close();
    expect(await a).toBe("ERR_MTP_CLOSED");
    expect(await c).toBe("ERR_MTP_CLOSED");
    expect(await opened).toBe("ERR_MTP_CLOSED");
    expect(agent.state).toBe("closed");
    expect(seen.connected).toEqual([]);
  });

  it("a peer known only from its inbound sessions still rejects at once with ERR_MTP_NO_ROUTE", async () => {
    const port = await freePort();
    const server = await controllerOn(port);
    const seen = collect(server);
    const ws = new WebSocket(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    cleanup.add(() => ws.terminate(), undefined);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    await until("the session", () => server.connectedPeers.length === 1);
    await server.send(AGENT, getRecord(AGENT, CONTROLLER, "while-connected"));
    ws.terminate();
    await until("the session is lost", () => seen.disconnected.length === 1);
    const error = await server.send(AGENT, getRecord(AGENT, CONTROLLER)).catch((e: MtpError) => e);
    expect(error).toMatchObject({ code: "ERR_MTP_NO_ROUTE" });
    expect(await codeOf(server.send("proto::stranger", getRecord("proto::stranger", CONTROLLER)))).toBe(
      "ERR_MTP_NO_ROUTE",
    );
  });

  it("an Endpoint ID that is none of our peers, or sendTimeoutMs: 0, gives ERR_MTP_NO_ROUTE at once", async () => {
    const port = await freePort();
    const agent = agentTo(port, { sendTimeoutMs: 0 });
    void agent.open().catch(() => undefined);
    expect(await codeOf(agent.send(CONTROLLER, getRecord(CONTROLLER, AGENT)))).toBe("ERR_MTP_NO_ROUTE");
    const waiting = agentTo(port);
    void waiting.open().catch(() => undefined);
    expect(await codeOf(waiting.send("proto::other", getRecord("proto::other", AGENT)))).toBe(
      "ERR_MTP_NO_ROUTE",
    );
  });

  it("checks the options and exports the defaults", () => {
    expect(DEFAULT_SEND_TIMEOUT_MS).toBe(30_000);
    expect(DEFAULT_MAX_QUEUED_BYTES).toBe(16 * 1024 * 1024);
    expect(() => agentTo(1, { sendTimeoutMs: -1 })).toThrow(WebSocketMtpConfigError);
    expect(() => agentTo(1, { maxQueuedBytes: Number.NaN })).toThrow(/maxQueuedBytes/);
    expect(() => agentTo(1, { sendTimeoutMs: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});
