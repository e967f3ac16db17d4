/** Shared helpers for the @x/mtp-websocket tests. */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { MtpPair, PairContext } from "@x/mtp-compliance";
import { buildRequestMsg, encodeMsg, encodeRecord, noSessionContextRecord } from "@x/usp-record";
import type { ExponentialRetryParameters, MtpError, PeerInfo, ReceivedRecord } from "@x/usp-record/mtp";
import { createWebSocketMtp, type WebSocketMtp } from "../src/index.js";
import type { ClientTlsOptions, ServerTlsOptions, WebSocketMtpOptions } from "../src/options.js";
import type { Scheduler, TimerHandle } from "../src/scheduler.js";

export interface PairTls {
  readonly server: ServerTlsOptions;
  readonly client: ClientTlsOptions;
}

/**
 * A compliance pair: `serverRole` listens, the other side connects. `restartPeer` closes the
 * listening MTP abruptly and opens a new one on the same port.
 */
export async function websocketPair(
  serverRole: "agent" | "controller",
  ctx: PairContext,
  tls?: PairTls,
  ids?: { agent: string; controller: string },
): Promise<MtpPair> {
  const agentId = ids?.agent ?? `proto::agent-${ctx.index}`;
  const controllerId = ids?.controller ?? `proto::controller-${ctx.index}`;
  const serverId = serverRole === "agent" ? agentId : controllerId;
  const clientId = serverRole === "agent" ? controllerId : agentId;
  const clientRole = serverRole === "agent" ? "controller" : "agent";
  const retry: ExponentialRetryParameters = ctx.retry.exponential;
  const makeServer = (port: number): WebSocketMtp =>
    createWebSocketMtp({
      role: serverRole,
      endpointId: serverId,
      listen: { host: "127.0.0.1", port, path: "/usp", tls: tls?.server },
    });
  let server = makeServer(0);
  const clientOptions = (): WebSocketMtpOptions => {
    const url = server.url;
    if (url === undefined) throw new Error("server not listening");
    return {
      role: clientRole,
      endpointId: clientId,
      peers: [{ url, endpointId: serverId, retry, tls: tls?.client }],
    };
  };
  // The client needs the server's port, known only once the server listens: open the server here
  // (it has no session before the client connects, so the suite misses nothing).
  await server.open();
  const client = createWebSocketMtp(clientOptions());
  const lazyClient = (): WebSocketMtp => client;
  const pair: MtpPair = {
    get agent() {
      const mtp = serverRole === "agent" ? server : lazyClient();
      return { mtp, endpointId: agentId };
    },
    get controller() {
      const mtp = serverRole === "controller" ? server : lazyClient();
      return { mtp, endpointId: controllerId };
    },
    openOrder: [serverRole, clientRole],
    async restartPeer() {
      const port = server.address?.port;
      if (port === undefined) throw new Error("server not listening");
      await server.close({ abrupt: true });
      server = makeServer(port);
      await server.open();
    },
    async teardown() {
      await Promise.allSettled([server.close({ abrupt: true }), client.close({ abrupt: true })]);
    },
  };
  return pair;
}

/** A fake clock: records every scheduled delay; the test fires timers by hand. */
export class FakeScheduler implements Scheduler {
  readonly pending: { delayMs: number; fn: () => void; cancelled: boolean }[] = [];
  readonly delays: number[] = [];

  schedule(delayMs: number, fn: () => void): TimerHandle {
    const entry = { delayMs, fn, cancelled: false };
    this.pending.push(entry);
    this.delays.push(delayMs);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Runs every timer that is due now (all pending ones); returns how many ran. */
  fireAll(): number {
    const due = this.pending.splice(0).filter((e) => !e.cancelled);
    for (const e of due) e.fn();
    return due.length;
  }

  get live(): number {
    return this.pending.filter((e) => !e.cancelled).length;
  }
}

/** Polls `predicate` every 10 ms until it holds or `timeoutMs` passes. */
export async function until<T>(
  what: string,
  predicate: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = predicate();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 10));
  }
}

/** Collects the events of an MTP. */
export function collect(mtp: WebSocketMtp) {
  const records: ReceivedRecord[] = [];
  const errors: MtpError[] = [];
  const connected: PeerInfo[] = [];
  const disconnected: { peer: PeerInfo; reason: MtpError | undefined }[] = [];
  mtp.on("record", (r) => records.push(r));
  mtp.on("error", (e) => errors.push(e));
  mtp.on("peerConnected", (p) => connected.push(p));
  mtp.on("peerDisconnected", (peer, reason) => disconnected.push({ peer, reason }));
  return { records, errors, connected, disconnected };
}

/** A NoSessionContext Record with a GET Msg. */
export function getRecord(toId: string, fromId: string, msgId = "1"): Uint8Array {
  return encodeRecord(
    noSessionContextRecord({
      toId,
      fromId,
      payload: encodeMsg(
        buildRequestMsg(msgId, { $case: "get", value: { paramPaths: ["Device.DeviceInfo."], maxDepth: 0 } }),
      ),
    }),
  );
}

/** Closes every MTP and bare ws peer a test created. */
export class Cleanup {
  private readonly tasks: (() => Promise<unknown> | unknown)[] = [];
  add<T>(task: () => Promise<unknown> | unknown, value: T): T {
    this.tasks.push(task);
    return value;
  }
  mtp(m: WebSocketMtp): WebSocketMtp {
    return this.add(() => m.close({ abrupt: true }), m);
  }
  async run(): Promise<void> {
    const tasks = this.tasks.splice(0).reverse();
    for (const t of tasks)
      await Promise.resolve()
        .then(t)
        .catch(() => undefined);
  }
}

/** A loopback port that was free a moment ago (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
