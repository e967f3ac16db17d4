/**
 * The USP WebSocket MTP: one object per local Endpoint, listening and/or connecting, any number of
 * sessions, at most one per peer Endpoint ID (R-WS.4).
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ConnectionOptions, DetailedPeerCertificate, TLSSocket } from "node:tls";
import {
  decodeRecord,
  disconnectRecord,
  encodeRecord,
  errorRecordFor,
  isValidEndpointId,
  RecordError,
  type UspRecord,
  webSocketConnectRecord,
} from "@x/usp-record";
import {
  type CloseOptions,
  type Mtp,
  type MtpEvents,
  type MtpState,
  type PeerInfo,
  RETRY_DEFAULTS,
  type ReturnPath,
  type SendOptions,
  type UspRole,
} from "@x/usp-record/mtp";
import WebSocket, { WebSocketServer } from "ws";
import {
  eidFromRequestTarget,
  endpointIdsFromSubjectAltName,
  formatUspExtension,
  parseExtensions,
  pathOfRequestTarget,
  withEidQuery,
} from "./eid.js";
import { WebSocketMtpConfigError, WebSocketMtpError } from "./errors.js";
import type {
  KeepAliveOptions,
  TlsPeer,
  VerifyPeer,
  WebSocketListenOptions,
  WebSocketMtpOptions,
  WebSocketPeerOptions,
} from "./options.js";
import { RetryBackoff, realScheduler, type Scheduler, type TimerHandle } from "./scheduler.js";

/** The WebSocket subprotocol of USP (R-WS.9). */
export const USP_SUBPROTOCOL = "v1.usp";
export const DEFAULT_MAX_RECORD_SIZE = 5 * 1024 * 1024;
/** Default `sendTimeoutMs`: how long a send waits for a reconnecting peer (as `@x/mtp-stomp`). */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;
/** Default `maxQueuedBytes`: the Records waiting for reconnecting peers, all peers together. */
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/** setTimeout() fires at once above this (a 32-bit signed delay); longer bounds are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const CLOSE_NORMAL = 1000;
const CLOSE_POLICY = 1008;

interface Session {
  readonly id: string;
  readonly ws: WebSocket;
  readonly direction: "inbound" | "outbound";
  peerEid: string | undefined;
  connectRecordSeen: boolean;
  connectRecordSent: boolean;
  missedPongs: number;
  pingCounter: number;
  pingTimer: TimerHandle | undefined;
  lossReason: WebSocketMtpError | undefined;
  closedLocally: boolean;
  ended: boolean;
  readonly outbound: OutboundPeer | undefined;
}

interface OutboundPeer {
  readonly options: WebSocketPeerOptions;
  readonly backoff: RetryBackoff;
  /** The peer's Endpoint ID: configured, or learned from its last session. Sends to it may wait. */
  eid: string | undefined;
  ws: WebSocket | undefined;
  session: Session | undefined;
  timer: TimerHandle | undefined;
  firstConnected: {
    promise: Promise<void>;
    resolve: () => void;
    reject: (e: unknown) => void;
    settled: boolean;
  };
}

/** A `send()` waiting for the next session with `toId` (a peer we connect to, now reconnecting). */
interface QueuedSend {
  readonly toId: string;
  readonly bytes: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: WebSocketMtpError) => void;
  timer: TimerHandle | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Links of its {@link SendQueue}: a timeout or an abort unlinks it in O(1), wherever it is. */
  prev: QueuedSend | undefined;
  next: QueuedSend | undefined;
  queued: boolean;
}

/**
 * The sends waiting for one peer, oldest first. A doubly linked list, not an array: up to
 * `maxQueuedBytes` of small Records can wait, and removing each from the front of an array as it
 * times out would cost O(n) apiece (seconds for 100 000 Records).
 */
interface SendQueue {
  head: QueuedSend | undefined;
  tail: QueuedSend | undefined;
}

function deferred(): OutboundPeer["firstConnected"] {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  const d = {
    promise,
    settled: false,
    resolve: () => {
      d.settled = true;
      resolve();
    },
    reject: (e: unknown) => {
      d.settled = true;
      reject(e);
    },
  };
  return d;
}

function sendFailed(err: Error): WebSocketMtpError {
  return new WebSocketMtpError("ERR_MTP_SEND_FAILED", `WebSocket send failed: ${err.message}`, {
    cause: err,
  });
}

/** The hot path of `send()`: one binary frame, settled once `ws` has written it (or failed). */
function sendBytes(ws: WebSocket, bytes: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ws.send(bytes, { binary: true }, (err) => {
      if (err === undefined || err === null) resolve();
      else reject(sendFailed(err));
    });
  });
}

/** A held send, written when its session is up: settles the promise `send()` returned long ago. */
function writeQueued(ws: WebSocket, entry: QueuedSend): void {
  ws.send(entry.bytes, { binary: true }, (err) => {
    if (err === undefined || err === null) entry.resolve();
    else entry.reject(sendFailed(err));
  });
}

/** A non-negative number of ms or bytes (Infinity allowed), or the default when unset. */
function limitOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new WebSocketMtpConfigError(`${name} must be a number >= 0 (or Infinity), got ${String(value)}`);
  }
  return value;
}

function abortHandshake(socket: Duplex, status: number, message: string): void {
  if (socket.writable) {
    const body = `${message}\n`;
    socket.once("finish", () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  } else socket.destroy();
}

function isTlsSocket(socket: unknown): socket is TLSSocket {
  return typeof (socket as TLSSocket | undefined)?.getPeerCertificate === "function";
}

function peerCertificateOf(socket: TLSSocket): DetailedPeerCertificate | undefined {
  const cert = socket.getPeerCertificate(true);
  return cert === null || Object.keys(cert).length === 0 ? undefined : cert;
}

/**
 * A USP WebSocket MTP endpoint (TR-369 "WebSocket Binding"). Implements the shared {@link Mtp}
 * contract of `@x/usp-record/mtp`.
 */
export class WebSocketMtp extends EventEmitter<MtpEvents> implements Mtp {
  readonly kind = "websocket";
  readonly role: UspRole;
  readonly localEndpointId: string;
  private currentState: MtpState = "idle";
  private readonly options: WebSocketMtpOptions;
  private readonly scheduler: Scheduler;
  private readonly maxRecordSize: number;
  private readonly malformedCloseCode: number;
  private readonly sessions = new Map<string, Session>();
  private readonly sessionsByEid = new Map<string, Session>();
  private readonly outboundPeers: OutboundPeer[] = [];
  private server: http.Server | https.Server | undefined;
  private wss: WebSocketServer | undefined;
  private listenPath = "/usp";
  private closing: Promise<void> | undefined;
  /** Endpoint IDs already found syntactically valid (bounded). */
  private readonly validIds = new Set<string>();
  /** The peers we connect to, by Endpoint ID: a send to one of them may wait for its session. */
  private readonly outboundByEid = new Map<string, OutboundPeer>();
  /**
   * Sends waiting for a session, per peer Endpoint ID, in `send()` order. A queue exists only while
   * no session with that peer is open: each one is flushed as soon as a session binds the ID.
   */
  private readonly queues = new Map<string, SendQueue>();
  private queuedBytes = 0;
  private readonly sendTimeoutMs: number;
  private readonly maxQueuedBytes: number;

  constructor(options: WebSocketMtpOptions) {
    super();
    if (options.role !== "agent" && options.role !== "controller") {
      throw new WebSocketMtpConfigError(`role must be "agent" or "controller", got ${String(options.role)}`);
    }
    if (typeof options.endpointId !== "string" || options.endpointId === "") {
      throw new WebSocketMtpConfigError("endpointId is required");
    }
    if (options.listen === undefined && (options.peers === undefined || options.peers.length === 0)) {
      throw new WebSocketMtpConfigError("set `listen`, `peers`, or both");
    }
    for (const p of options.peers ?? []) {
      if (!/^wss?:\/\//i.test(p.url))
        throw new WebSocketMtpConfigError(`peer URL must be ws:// or wss://, got ${p.url}`);
      if (p.tls?.nodeVerification === false && p.tls.verifyPeer === undefined) {
        throw new WebSocketMtpConfigError(
          "tls.nodeVerification: false needs a verifyPeer hook (e.g. tr369VerifyPeer)",
        );
      }
    }
    if (options.listen?.tls?.nodeVerification === false && options.listen.tls.verifyPeer === undefined) {
      throw new WebSocketMtpConfigError(
        "tls.nodeVerification: false needs a verifyPeer hook (e.g. tr369VerifyPeer)",
      );
    }
    this.options = options;
    this.role = options.role;
    this.localEndpointId = options.endpointId;
    this.scheduler = options.scheduler ?? realScheduler;
    this.maxRecordSize = options.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE;
    this.malformedCloseCode = options.malformedCloseCode ?? 1003;
    this.sendTimeoutMs = limitOption("sendTimeoutMs", options.sendTimeoutMs, DEFAULT_SEND_TIMEOUT_MS);
    this.maxQueuedBytes = limitOption("maxQueuedBytes", options.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES);
    for (const p of options.peers ?? []) {
      const peer: OutboundPeer = {
        options: p,
        backoff: new RetryBackoff(p.retry ?? options.retry ?? RETRY_DEFAULTS.websocket, options.random),
        eid: p.endpointId,
        ws: undefined,
        session: undefined,
        timer: undefined,
        firstConnected: deferred(),
      };
      this.outboundPeers.push(peer);
      if (p.endpointId !== undefined && !this.outboundByEid.has(p.endpointId))
        this.outboundByEid.set(p.endpointId, peer);
    }
  }

  get state(): MtpState {
    return this.currentState;
  }

  /** The listening address, once `open()` resolved with `listen` set. */
  get address(): AddressInfo | undefined {
    const a = this.server?.address();
    return a !== null && typeof a === "object" ? a : undefined;
  }

  /** `ws://host:port/path` (or wss://) of the listening side, for peers on this machine. */
  get url(): string | undefined {
    const a = this.address;
    if (a === undefined) return undefined;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `${this.options.listen?.tls !== undefined ? "wss" : "ws"}://${host}:${a.port}${this.listenPath}`;
  }

  /** Peer Endpoint IDs with an open session. */
  get connectedPeers(): string[] {
    return [...this.sessionsByEid.keys()];
  }

  /** TR-181 `CurrentRetryCount` of each configured peer, by URL. */
  get retryCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.outboundPeers) out[p.options.url] = p.backoff.retryCount;
    return out;
  }

  async open(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.currentState === "closing" || this.currentState === "closed") {
      throw new WebSocketMtpError("ERR_MTP_CLOSED", "this WebSocket MTP was closed; create a new one");
    }
    if (this.currentState !== "idle") return;
    this.setState("connecting");
    try {
      if (this.options.listen !== undefined) await this.listen(this.options.listen);
      for (const peer of this.outboundPeers) this.connectOutbound(peer);
      const all = Promise.all(this.outboundPeers.map((p) => p.firstConnected.promise));
      if (options.signal !== undefined) {
        const signal = options.signal;
        await new Promise<void>((resolve, reject) => {
          const onAbort = (): void =>
            reject(new WebSocketMtpError("ERR_MTP_TIMEOUT", "open() aborted", { cause: signal.reason }));
          if (signal.aborted) onAbort();
          signal.addEventListener("abort", onAbort, { once: true });
          all.then(() => resolve(), reject).finally(() => signal.removeEventListener("abort", onAbort));
        });
      } else await all;
    } catch (error) {
      await this.close({ abrupt: true });
      throw error;
    }
    if (this.isState("connecting")) this.setState("open");
  }

  send(toId: string, record: Uint8Array | UspRecord, options: SendOptions = {}): Promise<void> {
    // Not `async`: on the hot path the extra promise adoption costs measurable throughput.
    try {
      if (options.signal?.aborted === true) {
        throw new WebSocketMtpError("ERR_MTP_SEND_FAILED", "send aborted", { cause: options.signal.reason });
      }
      if (this.currentState === "idle")
        throw new WebSocketMtpError("ERR_MTP_NOT_OPEN", "open() the MTP first");
      if (this.currentState === "closing" || this.currentState === "closed") {
        throw new WebSocketMtpError("ERR_MTP_CLOSED", "the WebSocket MTP is closed");
      }
      const session = this.route(toId, options.replyTo);
      // No open session: only then may the send wait, so the path above stays as lean as before.
      if (session === undefined) return this.enqueue(toId, record, options.signal);
      const bytes = record instanceof Uint8Array ? record : encodeRecord(record);
      if (this.role === "agent" && !session.connectRecordSent && session.peerEid !== undefined) {
        this.sendConnectRecord(session);
      }
      return sendBytes(session.ws, bytes);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A send with no open session: held for the next session with `toId` when it is a peer we connect
   * to (it is connecting or in its R-WS.19 back-off), refused otherwise. Throws what it refuses at
   * once; `send()` turns that into a rejection.
   */
  private enqueue(
    toId: string,
    record: Uint8Array | UspRecord,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (this.sendTimeoutMs === 0 || !this.outboundByEid.has(toId)) {
      // A peer known only from its inbound sessions: we cannot dial it, so waiting could not help.
      throw new WebSocketMtpError(
        "ERR_MTP_NO_ROUTE",
        `no open WebSocket session with ${toId}${this.sendTimeoutMs === 0 ? "" : " (and it is not a peer we connect to)"}`,
      );
    }
    const bytes = record instanceof Uint8Array ? record : encodeRecord(record);
    if (this.queuedBytes + bytes.byteLength > this.maxQueuedBytes) {
      throw new WebSocketMtpError(
        "ERR_WS_QUEUE_FULL",
        `cannot hold a ${bytes.byteLength}-byte Record for ${toId}: ${this.queuedBytes} bytes already wait for reconnecting peers (maxQueuedBytes ${this.maxQueuedBytes})`,
      );
    }
    return new Promise<void>((resolve, reject) => {
      const entry: QueuedSend = {
        toId,
        bytes,
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
        prev: undefined,
        next: undefined,
        queued: true,
      };
      let queue = this.queues.get(toId);
      if (queue === undefined) {
        queue = { head: entry, tail: entry };
        this.queues.set(toId, queue);
      } else {
        entry.prev = queue.tail;
        if (queue.tail !== undefined) queue.tail.next = entry;
        queue.tail = entry;
      }
      this.queuedBytes += bytes.byteLength;
      if (this.sendTimeoutMs !== Number.POSITIVE_INFINITY) {
        const ms = Math.min(this.sendTimeoutMs, MAX_TIMER_MS);
        entry.timer = this.sendTimer(ms, () => {
          entry.timer = undefined;
          if (this.unqueue(entry)) {
            reject(
              new WebSocketMtpError(
                "ERR_MTP_TIMEOUT",
                `no WebSocket session with ${toId} within ${ms} ms (sendTimeoutMs); the Record was not sent`,
              ),
            );
          }
        });
      }
      if (signal !== undefined) {
        entry.onAbort = () => {
          if (this.unqueue(entry)) {
            reject(new WebSocketMtpError("ERR_MTP_SEND_FAILED", "send aborted", { cause: signal.reason }));
          }
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
    });
  }

  /** The `sendTimeoutMs` timer: the injected clock when there is one (tests), else an unref'd one. */
  private sendTimer(delayMs: number, fn: () => void): TimerHandle {
    if (this.options.scheduler !== undefined) return this.options.scheduler.schedule(delayMs, fn);
    // Unref'd: a Record waiting for a peer must not, on its own, keep the process alive.
    const t = setTimeout(fn, delayMs);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  }

  /** Takes one waiting send out of its queue (timeout, abort); false when it already left it. */
  private unqueue(entry: QueuedSend): boolean {
    const queue = this.queues.get(entry.toId);
    if (!entry.queued || queue === undefined) return false;
    const { prev, next } = entry;
    if (prev === undefined) queue.head = next;
    else prev.next = next;
    if (next === undefined) queue.tail = prev;
    else next.prev = prev;
    if (queue.head === undefined) this.queues.delete(entry.toId);
    this.release(entry);
    return true;
  }

  /** Frees what a send that leaves the queue holds: its bytes in the bound, its timer, its listener. */
  private release(entry: QueuedSend): void {
    entry.queued = false;
    entry.prev = undefined;
    entry.next = undefined;
    this.queuedBytes -= entry.bytes.byteLength;
    entry.timer?.cancel();
    entry.timer = undefined;
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener("abort", entry.onAbort);
    entry.onAbort = undefined;
  }

  /**
   * Sends what waited for this session's peer, in `send()` order. Called as soon as a session binds
   * its Endpoint ID, after the Agent's WebSocketConnectRecord (R-MTP.6/8) and before anything else
   * can run (no event is emitted in between), so later sends, which find the session open, queue
   * behind these in `ws`'s own FIFO.
   */
  private flushQueued(session: Session): void {
    const eid = session.peerEid;
    if (eid === undefined) return;
    const queue = this.queues.get(eid);
    if (queue === undefined) return;
    this.queues.delete(eid);
    for (let entry = queue.head; entry !== undefined; ) {
      const next = entry.next;
      this.release(entry);
      writeQueued(session.ws, entry);
      entry = next;
    }
  }

  /** close(): nothing waits for a peer that is down; every held send rejects with ERR_MTP_CLOSED. */
  private rejectQueued(): void {
    const queues = [...this.queues.values()];
    this.queues.clear();
    for (const queue of queues) {
      for (let entry = queue.head; entry !== undefined; ) {
        const next = entry.next;
        this.release(entry);
        entry.reject(
          new WebSocketMtpError(
            "ERR_MTP_CLOSED",
            `the WebSocket MTP closed before a session with ${entry.toId} came back; the Record was not sent`,
          ),
        );
        entry = next;
      }
    }
  }

  /** An outbound peer without a configured Endpoint ID is known by the one its last session had. */
  private learnPeerEid(peer: OutboundPeer, eid: string | undefined): void {
    if (eid === undefined || peer.options.endpointId !== undefined || peer.eid === eid) return;
    if (peer.eid !== undefined && this.outboundByEid.get(peer.eid) === peer)
      this.outboundByEid.delete(peer.eid);
    peer.eid = eid;
    if (!this.outboundByEid.has(eid)) this.outboundByEid.set(eid, peer);
  }

  /** Cancels pending back-off timers and retries every disconnected peer now (e.g. after a network change). */
  reconnectNow(): void {
    if (this.currentState === "closing" || this.currentState === "closed" || this.currentState === "idle")
      return;
    for (const peer of this.outboundPeers) {
      if (peer.timer !== undefined) {
        peer.timer.cancel();
        peer.timer = undefined;
        this.connectOutbound(peer);
      }
    }
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (this.currentState === "closed") return Promise.resolve();
    if (this.closing !== undefined) return this.closing;
    this.closing = this.doClose(options);
    return this.closing;
  }

  private async doClose(options: CloseOptions): Promise<void> {
    this.setState("closing");
    this.rejectQueued();
    for (const peer of this.outboundPeers) {
      peer.timer?.cancel();
      peer.timer = undefined;
      if (!peer.firstConnected.settled) {
        peer.firstConnected.reject(
          new WebSocketMtpError("ERR_MTP_CLOSED", "closed before the first connection"),
        );
      }
    }
    const sessions = [...this.sessions.values()];
    if (this.role === "agent" && options.abrupt !== true) {
      // R-MTP.7 / R-MTP.9: tell each Controller why, then close the WebSocket normally.
      await Promise.allSettled(
        sessions
          .filter((s) => s.peerEid !== undefined && s.ws.readyState === WebSocket.OPEN)
          .map(async (s) =>
            sendBytes(
              s.ws,
              encodeRecord(
                disconnectRecord({
                  toId: s.peerEid as string,
                  fromId: this.localEndpointId,
                  reason: options.reason ?? "Agent is closing the WebSocket MTP",
                  reasonCode: options.reasonCode ?? 7105,
                }),
              ),
            ),
          ),
      );
    }
    const closed = sessions.map((s) => this.endSession(s, options.abrupt === true));
    for (const peer of this.outboundPeers) {
      if (peer.ws !== undefined && peer.session === undefined) {
        peer.ws.terminate();
        peer.ws = undefined;
      }
    }
    await Promise.all(closed);
    await this.stopServer();
    this.setState("closed");
  }

  private endSession(session: Session, abrupt: boolean): Promise<void> {
    session.closedLocally = true;
    return new Promise<void>((resolve) => {
      if (session.ws.readyState === WebSocket.CLOSED) {
        resolve();
        return;
      }
      session.ws.once("close", () => resolve());
      if (abrupt) session.ws.terminate();
      else {
        session.ws.close(CLOSE_NORMAL, "closing");
        // Do not wait forever for a peer that never answers the Close frame.
        const t = setTimeout(() => session.ws.terminate(), 2000);
        session.ws.once("close", () => clearTimeout(t));
      }
    });
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.wss?.close();
    this.wss = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Reads the state afresh (TypeScript would otherwise keep a narrowing across awaits). */
  private isState(...states: MtpState[]): boolean {
    return states.includes(this.currentState);
  }

  private setState(state: MtpState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.emit("state", state);
  }

  /** Emits `error` only when someone listens: the contract says errors never throw. */
  private report(error: WebSocketMtpError): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  private route(toId: string, replyTo: ReturnPath | undefined): Session | undefined {
    if (replyTo?.mtp === "websocket" && typeof replyTo.sessionId === "string") {
      const s = this.sessions.get(replyTo.sessionId);
      if (s !== undefined && s.ws.readyState === WebSocket.OPEN) return s;
    }
    const s = this.sessionsByEid.get(toId);
    return s !== undefined && s.ws.readyState === WebSocket.OPEN ? s : undefined;
  }

  // ---------------------------------------------------------------- server side

  private async listen(listen: WebSocketListenOptions): Promise<void> {
    this.listenPath = listen.path ?? "/usp";
    const handshakeTimeout = listen.handshakeTimeoutMs ?? 10_000;
    const httpOptions: http.ServerOptions = {
      headersTimeout: handshakeTimeout,
      requestTimeout: handshakeTimeout,
      connectionsCheckingInterval: Math.min(1000, handshakeTimeout),
      maxHeaderSize: listen.maxHeaderSize ?? 16 * 1024,
      keepAliveTimeout: 1000,
    };
    let server: http.Server | https.Server;
    if (listen.tls !== undefined) {
      const mode = listen.tls.clientCertificate ?? "none";
      server = https.createServer({
        ...httpOptions,
        cert: listen.tls.cert,
        key: listen.tls.key,
        ca: listen.tls.ca as string | Buffer | (string | Buffer)[] | undefined,
        minVersion: listen.tls.minVersion ?? "TLSv1.2",
        requestCert: mode !== "none" || listen.tls.nodeVerification === false,
        rejectUnauthorized: mode === "require" && listen.tls.nodeVerification !== false,
        handshakeTimeout,
      });
      server.on("tlsClientError", (_err: Error, socket: TLSSocket) => socket.destroy());
    } else server = http.createServer(httpOptions);
    // Idle sockets that never finish a request (junk the parser is still waiting on, silent
    // connections) are dropped too; \`ws\` clears this timeout once a socket is upgraded.
    server.setTimeout(handshakeTimeout, (socket: Socket) => socket.destroy());
    server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { Connection: "close", Upgrade: "websocket", "Content-Type": "text/plain" });
      res.end("USP WebSocket endpoint: upgrade with subprotocol v1.usp\n");
    });
    server.on("clientError", (_err: Error, socket: Duplex) => {
      // Malformed requests, slow or oversized headers: answer 400 if possible and drop the socket.
      abortHandshake(socket, 400, "bad request");
    });
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(req, socket, head, listen).catch((error: unknown) => {
        abortHandshake(socket, 500, "internal error");
        this.report(
          new WebSocketMtpError("ERR_WS_HANDSHAKE", "upgrade failed", { cause: error, protocolCode: 500 }),
        );
      });
    });
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.maxRecordSize,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(USP_SUBPROTOCOL) ? USP_SUBPROTOCOL : false),
    });
    const advertise = listen.advertiseExtension ?? "when-offered";
    this.wss.on("headers", (headers: string[], req: http.IncomingMessage) => {
      if (
        advertise === "always" ||
        (advertise === "when-offered" && parseExtensions(req.headers["sec-websocket-extensions"]).hasUsp)
      ) {
        headers.push(`Sec-WebSocket-Extensions: ${formatUspExtension(this.localEndpointId)}`);
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void =>
        reject(
          new WebSocketMtpError("ERR_MTP_PROTOCOL", `cannot listen: ${error.message}`, { cause: error }),
        );
      server.once("error", onError);
      server.listen(listen.port ?? 0, listen.host ?? "127.0.0.1", () => {
        server.off("error", onError);
        resolve();
      });
    });
  }

  private refuse(socket: Duplex, status: number, code: WebSocketMtpError["code"], message: string): void {
    abortHandshake(socket, status, message);
    this.report(
      new WebSocketMtpError(code, `refused a WebSocket upgrade: ${message}`, { protocolCode: status }),
    );
  }

  private async handleUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    listen: WebSocketListenOptions,
  ): Promise<void> {
    socket.on("error", () => socket.destroy());
    const target = req.url ?? "/";
    if (this.currentState === "closing" || this.currentState === "closed" || this.wss === undefined) {
      this.refuse(socket, 503, "ERR_MTP_CLOSED", "the endpoint is closing");
      return;
    }
    if (pathOfRequestTarget(target) !== this.listenPath) {
      this.refuse(socket, 404, "ERR_WS_HANDSHAKE", `unknown path ${pathOfRequestTarget(target)}`);
      return;
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(USP_SUBPROTOCOL)) {
      // R-WS.12a: a request without the v1.usp subprotocol is not accepted.
      this.refuse(socket, 400, "ERR_WS_SUBPROTOCOL", "the v1.usp subprotocol is required");
      return;
    }
    let eid: string | undefined;
    try {
      eid = eidFromRequestTarget(target);
    } catch {
      this.refuse(socket, 400, "ERR_WS_HANDSHAKE", "malformed percent-encoding in eid");
      return;
    }
    if (eid === "") eid = undefined;
    eid ??= parseExtensions(req.headers["sec-websocket-extensions"]).uspEid;

    if (isTlsSocket(socket)) {
      const certificate = peerCertificateOf(socket);
      if (certificate !== undefined && !socket.authorized && listen.tls?.nodeVerification !== false) {
        this.refuse(
          socket,
          403,
          "ERR_MTP_TLS",
          `client certificate rejected: ${String(socket.authorizationError)}`,
        );
        return;
      }
      const certIds = endpointIdsFromSubjectAltName(certificate?.subjectaltname);
      if (certIds.length > 0) {
        if (eid === undefined && certIds.length === 1) eid = certIds[0];
        else if (eid === undefined || !certIds.includes(eid)) {
          this.refuse(
            socket,
            403,
            "ERR_WS_EID_MISMATCH",
            `eid ${eid ?? "(none)"} is not the Endpoint ID of the client certificate (${certIds.join(", ")})`,
          );
          return;
        }
      }
      if (listen.tls?.verifyPeer !== undefined) {
        try {
          await listen.tls.verifyPeer({ side: "server", socket, certificate, endpointId: eid });
        } catch (error) {
          this.refuse(
            socket,
            403,
            "ERR_MTP_TLS",
            `client refused by verifyPeer: ${(error as Error).message}`,
          );
          return;
        }
      }
    }
    // Re-check after the await: the MTP may be closing now.
    const wss = this.wss;
    if (this.isState("closing", "closed") || wss === undefined) {
      this.refuse(socket, 503, "ERR_MTP_CLOSED", "the endpoint is closing");
      return;
    }
    if (eid !== undefined && this.sessionsByEid.has(eid)) {
      if ((this.options.duplicateSessionPolicy ?? "reject-new") === "reject-new") {
        this.refuse(
          socket,
          409,
          "ERR_MTP_DUPLICATE_SESSION",
          `a session with ${eid} is already open (R-WS.4)`,
        );
        return;
      }
      const old = this.sessionsByEid.get(eid);
      if (old !== undefined) this.replaceSession(old);
    }
    const keepAlive = listen.keepAlive ?? {};
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.startSession(ws, "inbound", eid, undefined, keepAlive, 60_000);
    });
  }

  /** replace-old: forget the old session now so the new one can take the Endpoint ID. */
  private replaceSession(old: Session): void {
    if (old.peerEid !== undefined && this.sessionsByEid.get(old.peerEid) === old)
      this.sessionsByEid.delete(old.peerEid);
    old.lossReason = new WebSocketMtpError(
      "ERR_MTP_DUPLICATE_SESSION",
      "replaced by a newer session (R-WS.4)",
    );
    old.closedLocally = true;
    old.ws.close(CLOSE_NORMAL, "replaced by a newer session");
  }

  // ---------------------------------------------------------------- client side

  private connectOutbound(peer: OutboundPeer): void {
    if (this.currentState === "closing" || this.currentState === "closed") return;
    peer.timer = undefined;
    const o = peer.options;
    const tls = o.tls;
    let advertisedEid: string | undefined;
    let socket: Socket | undefined;
    let failure: WebSocketMtpError | undefined;
    const headers: Record<string, string> = {};
    if (o.offerExtension === true)
      headers["Sec-WebSocket-Extensions"] = formatUspExtension(this.localEndpointId);
    if (tls?.insecureSkipVerify === true) {
      this.report(
        new WebSocketMtpError(
          "ERR_WS_TLS_RELAXED",
          `TLS verification is OFF for ${o.url} (insecureSkipVerify)`,
        ),
      );
    }
    const clientOptions: WebSocket.ClientOptions & ConnectionOptions = {
      perMessageDeflate: false,
      maxPayload: this.maxRecordSize,
      handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
      headers,
      ca: tls?.ca as string | Buffer | (string | Buffer)[] | undefined,
      cert: tls?.cert,
      key: tls?.key,
      servername: tls?.servername,
      minVersion: tls?.minVersion ?? "TLSv1.2",
      rejectUnauthorized: tls?.insecureSkipVerify !== true && tls?.nodeVerification !== false,
      finishRequest: (request) => {
        // OB-USP-Agent's server always answers with `Sec-WebSocket-Extensions: bbf-usp-protocol;
        // eid="..."`, which `ws` would reject because it did not offer it. Read and strip it first.
        request.prependListener("upgrade", (res: http.IncomingMessage, s: Socket) => {
          socket = s;
          const header = res.headers["sec-websocket-extensions"];
          if (header === undefined) return;
          const parsed = parseExtensions(header);
          if (!parsed.hasUsp) return;
          advertisedEid = parsed.uspEid;
          if (parsed.rest === "") delete res.headers["sec-websocket-extensions"];
          else res.headers["sec-websocket-extensions"] = parsed.rest;
        });
        if (!/^wss:/i.test(o.url)) {
          request.end();
          return;
        }
        // wss: check the server certificate after the TLS handshake and BEFORE sending the
        // upgrade request, so a refused server never sees a session (request.end() sends it).
        request.once("socket", (s: Socket) => {
          const tlsSocket = s as TLSSocket;
          tlsSocket.once("secureConnect", () => {
            this.verifyServer(o, tlsSocket).then(
              () => request.end(),
              (error: unknown) => {
                failure = error as WebSocketMtpError;
                request.destroy(error as Error);
              },
            );
          });
        });
      },
    };
    const ws = new WebSocket(withEidQuery(o.url, this.localEndpointId), [USP_SUBPROTOCOL], clientOptions);
    peer.ws = ws;
    ws.on("error", (error: Error) => {
      if (failure !== undefined) return; // already classified (certificate refused before the upgrade)
      const status = /Unexpected server response: (\d+)/.exec(error.message)?.[1];
      const code = /subprotocol/i.test(error.message)
        ? "ERR_WS_SUBPROTOCOL"
        : status !== undefined
          ? "ERR_WS_HANDSHAKE"
          : /certificate|self.signed|TLS|SSL/i.test(error.message) ||
              ("code" in error && /CERT|TLS|SSL/.test(String((error as NodeJS.ErrnoException).code)))
            ? "ERR_MTP_TLS"
            : "ERR_MTP_CONNECTION_LOST";
      failure = new WebSocketMtpError(code, `WebSocket connection to ${o.url} failed: ${error.message}`, {
        cause: error,
        protocolCode: status === undefined ? undefined : Number(status),
      });
    });
    ws.on("close", () => {
      if (peer.ws === ws) peer.ws = undefined;
      if (peer.session === undefined) {
        // The attempt failed before a session existed (not worth reporting when we are closing).
        if (failure !== undefined && !this.isState("closing", "closed")) this.report(failure);
        this.scheduleReconnect(peer);
      }
    });
    ws.once("open", () => {
      this.onOutboundOpen(peer, ws, socket, advertisedEid).catch((error: unknown) => {
        failure =
          error instanceof WebSocketMtpError
            ? error
            : new WebSocketMtpError("ERR_MTP_PROTOCOL", String(error), { cause: error });
        // terminate(), not close(): the socket is paused, so a Close handshake could not complete.
        ws.terminate();
      });
    });
  }

  private async onOutboundOpen(
    peer: OutboundPeer,
    ws: WebSocket,
    socket: Socket | undefined,
    advertisedEid: string | undefined,
  ): Promise<void> {
    const o = peer.options;
    if (ws.protocol !== USP_SUBPROTOCOL) {
      throw new WebSocketMtpError(
        "ERR_WS_SUBPROTOCOL",
        `server chose subprotocol "${ws.protocol}", not v1.usp`,
      );
    }
    if (o.endpointId !== undefined && advertisedEid !== undefined && advertisedEid !== o.endpointId) {
      throw new WebSocketMtpError(
        "ERR_WS_EID_MISMATCH",
        `server announced Endpoint ID ${advertisedEid}, expected ${o.endpointId} (wrong peer)`,
      );
    }
    let peerEid = o.endpointId ?? advertisedEid;
    if (isTlsSocket(socket) && peerEid === undefined) {
      const certIds = endpointIdsFromSubjectAltName(peerCertificateOf(socket)?.subjectaltname);
      if (certIds.length === 1) peerEid = certIds[0];
    }
    if (this.isState("closing", "closed")) {
      ws.terminate();
      return;
    }
    if (peerEid !== undefined) {
      const existing = this.sessionsByEid.get(peerEid);
      // An outbound session takes precedence over an inbound one (as in OB-USP-Agent).
      if (existing !== undefined) this.replaceSession(existing);
    }
    this.learnPeerEid(peer, peerEid);
    const session = this.startSession(ws, "outbound", peerEid, peer, o.keepAlive ?? {}, 30_000);
    peer.session = session;
    peer.backoff.reset(); // R-WS.20
    if (!peer.firstConnected.settled) peer.firstConnected.resolve();
    this.updateOutboundState();
  }

  /** The server certificate: its USP Endpoint ID (when it names one) and the verifyPeer hook. */
  private async verifyServer(o: WebSocketPeerOptions, socket: TLSSocket): Promise<void> {
    const certificate = peerCertificateOf(socket);
    const certIds = endpointIdsFromSubjectAltName(certificate?.subjectaltname);
    if (certIds.length > 0 && o.endpointId !== undefined && !certIds.includes(o.endpointId)) {
      throw new WebSocketMtpError(
        "ERR_WS_EID_MISMATCH",
        `server certificate names ${certIds.join(", ")}, expected ${o.endpointId}`,
      );
    }
    const verify: VerifyPeer | undefined = o.tls?.verifyPeer;
    if (verify === undefined) return;
    const info: TlsPeer = { side: "client", socket, certificate, endpointId: o.endpointId, url: o.url };
    try {
      await verify(info);
    } catch (error) {
      throw new WebSocketMtpError(
        "ERR_MTP_TLS",
        `server refused by verifyPeer: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  private scheduleReconnect(peer: OutboundPeer): void {
    if (this.currentState === "closing" || this.currentState === "closed") return;
    const delay = peer.backoff.nextDelayMs();
    peer.timer = this.scheduler.schedule(delay, () => this.connectOutbound(peer));
    this.updateOutboundState();
  }

  private updateOutboundState(): void {
    if (this.currentState !== "open" && this.currentState !== "reconnecting") return;
    const down = this.outboundPeers.some((p) => p.session === undefined);
    this.setState(down ? "reconnecting" : "open");
  }

  // ---------------------------------------------------------------- sessions

  private startSession(
    ws: WebSocket,
    direction: "inbound" | "outbound",
    peerEid: string | undefined,
    outbound: OutboundPeer | undefined,
    keepAlive: KeepAliveOptions,
    defaultIntervalMs: number,
  ): Session {
    const session: Session = {
      id: randomUUID(),
      ws,
      direction,
      peerEid,
      connectRecordSeen: false,
      connectRecordSent: false,
      missedPongs: 0,
      pingCounter: 0,
      pingTimer: undefined,
      lossReason: undefined,
      closedLocally: false,
      ended: false,
      outbound,
    };
    this.sessions.set(session.id, session);
    if (peerEid !== undefined) this.sessionsByEid.set(peerEid, session);
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
      this.onMessage(session, data as Buffer, isBinary),
    );
    ws.on("pong", () => {
      session.missedPongs = 0;
    });
    ws.on("ping", () => {
      session.missedPongs = 0;
    });
    ws.on("error", (error: Error) => {
      session.lossReason ??= new WebSocketMtpError("ERR_MTP_CONNECTION_LOST", error.message, {
        cause: error,
      });
    });
    ws.on("close", (code: number, reason: Buffer) => this.onSessionClosed(session, code, reason.toString()));
    this.startKeepAlive(session, keepAlive.intervalMs ?? defaultIntervalMs, keepAlive.maxMissedPongs ?? 2);
    if (this.role === "agent" && peerEid !== undefined) this.sendConnectRecord(session);
    this.flushQueued(session); // before peerConnected: a send from a listener must come after these
    this.emit("peerConnected", this.peerInfo(session));
    return session;
  }

  private peerInfo(session: Session): PeerInfo {
    return { endpointId: session.peerEid, returnPath: { mtp: "websocket", sessionId: session.id } };
  }

  /** R-MTP.6 / R-MTP.8: the Agent's first Record on every new session. */
  private sendConnectRecord(session: Session): void {
    if (session.peerEid === undefined || session.connectRecordSent) return;
    session.connectRecordSent = true;
    let bytes: Uint8Array;
    try {
      bytes = encodeRecord(webSocketConnectRecord({ toId: session.peerEid, fromId: this.localEndpointId }));
    } catch (error) {
      this.report(
        new WebSocketMtpError("ERR_MTP_SEND_FAILED", "cannot encode the WebSocketConnectRecord", {
          cause: error,
        }),
      );
      return;
    }
    sendBytes(session.ws, bytes).catch((error: unknown) => {
      this.report(error as WebSocketMtpError);
    });
  }

  private startKeepAlive(session: Session, intervalMs: number, maxMissed: number): void {
    if (intervalMs <= 0) return;
    const tick = (): void => {
      session.pingTimer = undefined;
      if (session.ended || session.ws.readyState !== WebSocket.OPEN) return;
      if (session.missedPongs >= maxMissed) {
        session.lossReason = new WebSocketMtpError(
          "ERR_WS_KEEPALIVE",
          `no Pong for ${session.missedPongs} Pings (${intervalMs} ms apart); closing the session`,
        );
        session.ws.terminate();
        return;
      }
      session.missedPongs += 1;
      session.pingCounter = (session.pingCounter + 1) & 0xff;
      session.ws.ping(Buffer.from([session.pingCounter]));
      session.pingTimer = this.scheduler.schedule(intervalMs, tick);
    };
    session.pingTimer = this.scheduler.schedule(intervalMs, tick);
  }

  private onSessionClosed(session: Session, code: number, reason: string): void {
    if (session.ended) return;
    session.ended = true;
    session.pingTimer?.cancel();
    session.pingTimer = undefined;
    this.sessions.delete(session.id);
    if (session.peerEid !== undefined && this.sessionsByEid.get(session.peerEid) === session) {
      this.sessionsByEid.delete(session.peerEid);
    }
    let why = session.lossReason;
    if (why === undefined && !session.closedLocally && code !== CLOSE_NORMAL) {
      why = new WebSocketMtpError(
        "ERR_WS_CLOSED_BY_PEER",
        `peer closed the session: ${code} ${reason}`.trim(),
        {
          protocolCode: code,
        },
      );
    }
    this.emit("peerDisconnected", this.peerInfo(session), why);
    const peer = session.outbound;
    if (peer !== undefined && peer.session === session) {
      peer.session = undefined;
      this.scheduleReconnect(peer);
    }
  }

  private onMessage(session: Session, data: Buffer, isBinary: boolean): void {
    session.missedPongs = 0;
    if (!isBinary) {
      // R-WS.14: Records travel in binary frames; R-WS.16: nothing can be extracted from text.
      this.report(
        new WebSocketMtpError("ERR_WS_TEXT_FRAME", "received a text frame; closing (R-WS.14, R-WS.16)", {
          protocolCode: this.malformedCloseCode,
        }),
      );
      session.closedLocally = true;
      session.ws.close(this.malformedCloseCode, "USP Records travel in binary frames");
      return;
    }
    let record: UspRecord;
    try {
      // Endpoint ID syntax is checked below with a cache: a session sees the same two IDs again and again.
      record = decodeRecord(data, { maxSize: this.maxRecordSize, validateEndpointIds: false });
      if (this.options.validateEndpointIds !== false && !this.validIds.has(record.fromId)) {
        if (!isValidEndpointId(record.fromId)) {
          throw new RecordError(
            "ERR_USP_RECORD_INVALID_ENDPOINT_ID",
            `from_id is not an Endpoint ID: ${record.fromId}`,
            {
              field: "from_id",
            },
          );
        }
        if (this.validIds.size < 1024) this.validIds.add(record.fromId);
      }
    } catch (error) {
      this.onBadRecord(session, data, error);
      return;
    }
    if (record.toId !== this.localEndpointId) {
      this.report(
        new WebSocketMtpError("ERR_MTP_NOT_ADDRESSED_TO_US", `dropped a Record for ${record.toId} (R-MTP.5)`),
      );
      return;
    }
    if (session.peerEid === undefined) {
      if (!this.bindPeer(session, record.fromId)) return;
    } else if (record.fromId !== session.peerEid) {
      this.report(
        new WebSocketMtpError(
          "ERR_WS_EID_MISMATCH",
          `dropped a Record from ${record.fromId} on the session of ${session.peerEid}`,
        ),
      );
      return;
    }
    const kind = record.recordType?.$case;
    if (kind === "websocketConnect") session.connectRecordSeen = true;
    else if (kind === "disconnect")
      session.connectRecordSeen = false; // R-MTP.8
    else if (
      this.options.requireConnectRecord === true &&
      this.role === "controller" &&
      !session.connectRecordSeen
    ) {
      this.report(
        new WebSocketMtpError(
          "ERR_MTP_CONNECT_RECORD_EXPECTED",
          `dropped a ${kind ?? "Record"} from ${record.fromId} that came before its WebSocketConnectRecord (R-MTP.8)`,
        ),
      );
      return;
    }
    this.emit("record", {
      bytes: data,
      record,
      fromId: record.fromId,
      replyTo: { mtp: "websocket", sessionId: session.id },
    });
  }

  /** A session whose peer was unknown learns it from its first Record (R-WS.4 applies then). */
  private bindPeer(session: Session, fromId: string): boolean {
    const existing = this.sessionsByEid.get(fromId);
    if (existing !== undefined && existing !== session) {
      if ((this.options.duplicateSessionPolicy ?? "reject-new") === "reject-new") {
        this.report(
          new WebSocketMtpError(
            "ERR_MTP_DUPLICATE_SESSION",
            `a session with ${fromId} is already open (R-WS.4)`,
            {
              protocolCode: CLOSE_POLICY,
            },
          ),
        );
        session.closedLocally = true;
        session.ws.close(CLOSE_POLICY, "duplicate session (R-WS.4)");
        return false;
      }
      this.replaceSession(existing);
    }
    session.peerEid = fromId;
    this.sessionsByEid.set(fromId, session);
    if (session.outbound !== undefined) this.learnPeerEid(session.outbound, fromId);
    if (this.role === "agent") this.sendConnectRecord(session);
    this.flushQueued(session);
    return true;
  }

  private onBadRecord(session: Session, data: Buffer, error: unknown): void {
    const recordError = error instanceof RecordError ? error : undefined;
    this.report(
      new WebSocketMtpError(
        "ERR_MTP_MALFORMED_RECORD",
        `received a bad Record: ${(error as Error).message}`,
        {
          cause: error,
          protocolCode: recordError?.uspCode,
        },
      ),
    );
    // R-MTP.5: answer with an Error Record when the sender, the Request and its msg_id are known.
    let answer: Uint8Array | undefined;
    try {
      answer = errorRecordFor(data, this.localEndpointId, {
        hasReturnPath: true,
        maxSize: this.maxRecordSize,
        validateEndpointIds: this.options.validateEndpointIds,
      });
    } catch {
      answer = undefined;
    }
    if (answer !== undefined) {
      sendBytes(session.ws, answer).catch((e: unknown) => this.report(e as WebSocketMtpError));
      return;
    }
    // R-WS.16: no Record could be extracted from the frame.
    if (recordError === undefined || recordError.code === "ERR_USP_RECORD_PARSE") {
      session.closedLocally = true;
      session.lossReason = new WebSocketMtpError(
        "ERR_MTP_MALFORMED_RECORD",
        "closed after an unparseable Record",
        {
          protocolCode: this.malformedCloseCode,
        },
      );
      session.ws.close(this.malformedCloseCode, "Record could not be parsed");
    }
  }
}

/** Creates a {@link WebSocketMtp} (the `MtpFactory` of this binding). */
export function createWebSocketMtp(options: WebSocketMtpOptions): WebSocketMtp {
  return new WebSocketMtp(options);
}
