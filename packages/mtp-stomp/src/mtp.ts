/**
 * The USP STOMP MTP (TR-369 "STOMP Binding"): Agent and Controller roles on one broker connection,
 * with the STOMP retry back-off, Connect/Disconnect Records, reply-to-dest routing and R-MTP.5 errors.
 */
import { EventEmitter } from "node:events";
import {
  decodeRecord,
  disconnectRecord,
  encodeRecord,
  errorRecordFor,
  stompConnectRecord,
  type UspRecord,
} from "@x/usp-record";
import {
  type CloseOptions,
  type Mtp,
  MtpError,
  type MtpEvents,
  type MtpState,
  type PeerInfo,
  RETRY_DEFAULTS,
  type ReturnPath,
  type SendOptions,
  type StompRetryParameters,
  stompRetryDelayMs,
  type UspRole,
} from "@x/usp-record/mtp";
import { StompConnection, type StompTlsOptions } from "./connection.js";
import { StompNoDestinationError, StompOptionsError } from "./errors.js";
import type { StompFrame } from "./frame.js";
import type { HeartbeatValues } from "./heartbeat.js";
import { DEFAULT_MAX_BODY_BYTES } from "./parser.js";

/** `content-type` of every SEND (R-STOMP.20). */
export const USP_CONTENT_TYPE = "application/vnd.bbf.usp.msg";
/** The IANA-registered STOMP port. */
export const DEFAULT_STOMP_PORT = 61613;
const SUBSCRIPTION_ID = "0";

/** A peer Endpoint and the destination it is reachable at. */
export interface StompPeer {
  readonly endpointId: string;
  /** Agent: `Device.LocalAgent.Controller.{i}.MTP.{i}.STOMP.Destination`. Controller: the Agent's destination. */
  readonly destination: string;
}

export interface StompBrokerOptions {
  readonly host: string;
  /** Default 61613. */
  readonly port?: number | undefined;
  /** TLS to the broker (`Device.STOMP.Connection.{i}.EnableEncryption`). Verification is on by default. */
  readonly tls?: StompTlsOptions | undefined;
  /** `Device.STOMP.Connection.{i}.Username` / `Password` (R-STOMP.3). */
  readonly login?: string | undefined;
  readonly passcode?: string | undefined;
  /** `Device.STOMP.Connection.{i}.VirtualHost`; the `host` header is sent only when set (R-STOMP.5). */
  readonly virtualHost?: string | undefined;
}

export interface StompMtpOptions {
  readonly role: UspRole;
  /** Our Endpoint ID (`endpoint-id` header, `from_id` of Connect/Disconnect Records). */
  readonly endpointId: string;
  readonly broker: StompBrokerOptions;
  /**
   * Our own destination (`Device.LocalAgent.MTP.{i}.STOMP.Destination` for an Agent). Used when the
   * broker sends no `subscribe-dest` (R-STOMP.15); with neither, the connection is dropped and retried (R-STOMP.16).
   */
  readonly destination?: string | undefined;
  /** Agent: the Controllers to announce ourselves to. Controller: Agents known in advance (others are learned). */
  readonly peers?: ReadonlyArray<StompPeer> | undefined;
  /** Heart-beats to offer (`OutgoingHeartbeat`/`IncomingHeartbeat`, ms). Default: none (`EnableHeartbeats` false). */
  readonly heartbeat?: HeartbeatValues | undefined;
  /** Silence tolerated from the broker, in multiples of its heart-beat period (default 2). */
  readonly heartbeatGrace?: number | undefined;
  /** STOMP retry parameters (seconds, per mille); TR-181 defaults 60 / 2000 / 30720. */
  readonly retry?: Partial<StompRetryParameters> | undefined;
  /** Replaces the TR-181 formula (attempt is 1-based), e.g. for tests. */
  readonly retryDelayMs?: ((attempt: number) => number) | undefined;
  /**
   * Ask the broker for a RECEIPT for every SEND and resolve `send()` only when it arrives (default true).
   * A send whose connection drops before its RECEIPT rejects, so no Record is lost silently.
   */
  readonly receipts?: boolean | undefined;
  /** Add `persistent:true` to every SEND (brokers then store Records on disk; default false). */
  readonly persistent?: boolean | undefined;
  /** Upper bound for one `send()`, including waiting for a reconnect and the RECEIPT, ms (default 30000). */
  readonly sendTimeoutMs?: number | undefined;
  /** Upper bound for TCP/TLS + CONNECTED, ms (default 15000). */
  readonly connectTimeoutMs?: number | undefined;
  /** Largest Record accepted, bytes (default 16 MiB). */
  readonly maxRecordBytes?: number | undefined;
  /** `version` of the Records this MTP creates (Connect/Disconnect). Default: the codec's. */
  readonly uspVersion?: string | undefined;
  /** Send a STOMPConnectRecord to every peer after each (re)connection. Default: true for an Agent. */
  readonly sendConnectRecord?: boolean | undefined;
}

/** Facts about the current broker session. */
export interface StompSessionInfo {
  /** The destination we subscribed to (`subscribe-dest` or the configured one). */
  readonly destination: string;
  /** True when the destination came from the broker's `subscribe-dest`. */
  readonly fromServer: boolean;
  readonly server: string | undefined;
  readonly sendEveryMs: number;
  readonly expectEveryMs: number;
}

interface Waiter {
  resolve: (connection: StompConnection) => void;
  reject: (error: MtpError) => void;
}

/** Creates a USP STOMP MTP endpoint. */
export function createStompMtp(options: StompMtpOptions): StompMtp {
  return new StompMtp(options);
}

export class StompMtp extends EventEmitter<MtpEvents> implements Mtp {
  readonly kind = "stomp" as const;
  readonly role: UspRole;
  readonly localEndpointId: string;
  readonly #options: StompMtpOptions;
  readonly #retry: StompRetryParameters;
  /** Peer Endpoint ID → destination: configured ones, then learned from Connect Records and reply-to-dest. */
  readonly #routes = new Map<string, { destination: string; configured: boolean }>();
  readonly #connectedPeers = new Set<string>();
  #state: MtpState = "idle";
  #connection: StompConnection | undefined;
  #session: StompSessionInfo | undefined;
  #waiters: Waiter[] = [];
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #wakeRetry: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #openPromise: Promise<void> | undefined;
  #destinationOverride: string | undefined;

  constructor(options: StompMtpOptions) {
    super();
    validateOptions(options);
    this.#options = options;
    this.role = options.role;
    this.localEndpointId = options.endpointId;
    this.#retry = { ...RETRY_DEFAULTS.stomp, ...definedOnly(options.retry ?? {}) };
    for (const peer of options.peers ?? []) {
      this.#routes.set(peer.endpointId, { destination: peer.destination, configured: true });
    }
  }

  get state(): MtpState {
    return this.#state;
  }

  /** The current broker session, when open. */
  get session(): StompSessionInfo | undefined {
    return this.#session;
  }

  /** Destination known for a peer (configured or learned). */
  destinationOf(endpointId: string): string | undefined {
    return this.#routes.get(endpointId)?.destination;
  }

  /**
   * Connects, subscribes and (Agent) sends the STOMPConnectRecords. Failed attempts are retried with
   * the STOMP back-off (each failure is emitted as `error`); rejects only when aborted or closed.
   */
  open(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#openPromise) return this.#openPromise;
    if (this.#state !== "idle") return Promise.reject(new MtpError("ERR_MTP_CLOSED", "this MTP was closed"));
    this.#setState("connecting");
    const signal = options.signal;
    this.#openPromise = new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        reject(new MtpError("ERR_MTP_CLOSED", "open() aborted", { cause: signal?.reason }));
        void this.close({ abrupt: true });
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push({
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
    });
    void this.#connectLoop(true);
    return this.#openPromise;
  }

  async send(toId: string, record: Uint8Array | UspRecord, options: SendOptions = {}): Promise<void> {
    const bytes = record instanceof Uint8Array ? record : encodeRecord(record);
    const destination = this.#route(toId, options.replyTo);
    const deadline = Date.now() + (this.#options.sendTimeoutMs ?? 30_000);
    const current = this.#connection;
    // Fast path: open and no abort signal, no extra promise.
    const connection =
      this.#state === "open" && current && !current.closed && !options.signal
        ? current
        : await this.#usableConnection(deadline, options.signal);
    await this.#sendOn(connection, destination, bytes, deadline);
  }

  /**
   * Changes our destination (R-STOMP.29: UNSUBSCRIBE then SUBSCRIBE; the Agent re-announces itself
   * with a STOMPConnectRecord). Ignored for the subscription while the broker imposes `subscribe-dest`.
   */
  async changeDestination(destination: string): Promise<void> {
    if (destination.length === 0) throw new StompOptionsError("destination must not be empty");
    this.#destinationOverride = destination;
    const connection = this.#connection;
    const session = this.#session;
    if (!connection || connection.closed || !session || session.fromServer || this.#state !== "open") return;
    if (session.destination === destination) return;
    connection.write("UNSUBSCRIBE", [["id", SUBSCRIPTION_ID]]);
    await connection.request("SUBSCRIBE", subscribeHeaders(destination), undefined, this.#sendTimeout());
    this.#session = { ...session, destination };
    if (this.#sendsConnectRecords()) await this.#announce(connection, destination);
  }

  /** Skips the current back-off wait and resets the attempt counter (e.g. on a network change). */
  reconnectNow(): void {
    this.#attempt = 0;
    this.#wakeRetry?.();
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#close(options);
    return this.#closing;
  }

  async #close(options: CloseOptions): Promise<void> {
    const wasOpen = this.#state === "open";
    this.#setState("closing");
    clearTimeout(this.#retryTimer);
    this.#wakeRetry?.();
    const connection = this.#connection;
    if (connection && !connection.closed) {
      if (!options.abrupt && wasOpen) {
        if (this.role === "agent") {
          const deadline = Date.now() + Math.min(this.#sendTimeout(), 5_000);
          await Promise.allSettled(
            [...this.#connectedPeers].map((peerId) => {
              const route = this.#routes.get(peerId);
              if (!route) return Promise.resolve();
              const bytes = encodeRecord(
                disconnectRecord({
                  toId: peerId,
                  fromId: this.localEndpointId,
                  reason: options.reason,
                  reasonCode: options.reasonCode,
                  ...this.#versionOption(),
                }),
              );
              return this.#sendOn(connection, route.destination, bytes, deadline);
            }),
          );
        }
        try {
          connection.write("UNSUBSCRIBE", [["id", SUBSCRIPTION_ID]]);
        } catch {
          // Already gone: nothing to unsubscribe.
        }
        await connection.disconnect();
      } else {
        connection.destroy();
      }
    }
    this.#connection = undefined;
    this.#session = undefined;
    this.#dropPeers(undefined);
    this.#rejectWaiters(new MtpError("ERR_MTP_CLOSED", "the MTP was closed"));
    this.#setState("closed");
  }

  // ---- connection management -------------------------------------------------------------

  async #connectLoop(first: boolean): Promise<void> {
    let initial = first;
    while (!this.#closing) {
      if (!initial) {
        this.#attempt++;
        const delay = this.#options.retryDelayMs
          ? this.#options.retryDelayMs(this.#attempt)
          : stompRetryDelayMs(this.#attempt, this.#retry);
        await this.#sleep(delay);
        if (this.#closing) return;
      }
      initial = false;
      try {
        await this.#establish();
        return;
      } catch (error) {
        this.#emitError(
          error instanceof MtpError
            ? error
            : new MtpError("ERR_STOMP_CONNECT_FAILED", String(error), { cause: error }),
        );
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(this.#retryTimer);
        this.#wakeRetry = undefined;
        resolve();
      };
      this.#wakeRetry = done;
      this.#retryTimer = setTimeout(done, Math.max(0, ms));
    });
  }

  async #establish(): Promise<void> {
    const broker = this.#options.broker;
    const connection = await StompConnection.connect({
      host: broker.host,
      port: broker.port ?? DEFAULT_STOMP_PORT,
      tls: broker.tls,
      endpointId: this.localEndpointId,
      login: broker.login,
      passcode: broker.passcode,
      virtualHost: broker.virtualHost,
      heartbeat: this.#options.heartbeat,
      heartbeatGrace: this.#options.heartbeatGrace,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      limits: { maxBodyBytes: this.#options.maxRecordBytes ?? DEFAULT_MAX_BODY_BYTES },
    });
    if (broker.tls?.insecureSkipVerify) {
      this.#emitError(
        new MtpError(
          "ERR_STOMP_TLS_UNVERIFIED",
          `connected to ${broker.host} WITHOUT verifying its certificate (insecureSkipVerify)`,
        ),
      );
    }
    if (this.#closing) {
      connection.destroy();
      return;
    }
    const connected = connection.connectedFrame!;
    const serverDestination = nonEmpty(connected.headers.get("subscribe-dest"));
    const destination = serverDestination ?? this.#destinationOverride ?? nonEmpty(this.#options.destination);
    if (destination === undefined) {
      await connection.disconnect();
      throw new StompNoDestinationError();
    }
    connection.on("frame", (frame) => this.#onFrame(frame));
    try {
      await connection.request("SUBSCRIBE", subscribeHeaders(destination), undefined, this.#sendTimeout());
      this.#session = {
        destination,
        fromServer: serverDestination !== undefined,
        server: connected.headers.get("server"),
        sendEveryMs: connection.heartbeat.sendEveryMs,
        expectEveryMs: connection.heartbeat.expectEveryMs,
      };
      // R-MTP.6/8: the Connect Record goes out before any other Record on this channel.
      if (this.#sendsConnectRecords()) await this.#announce(connection, destination);
    } catch (error) {
      connection.destroy();
      throw error;
    }
    if (this.#closing || connection.closed) {
      connection.destroy();
      if (this.#closing) return;
      throw new MtpError("ERR_MTP_CONNECTION_LOST", "the broker closed the connection during setup");
    }
    this.#connection = connection;
    connection.once("close", (reason) => this.#onConnectionLost(connection, reason));
    this.#attempt = 0;
    this.#setState("open");
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve(connection);
  }

  async #announce(connection: StompConnection, destination: string): Promise<void> {
    const deadline = Date.now() + this.#sendTimeout();
    for (const [peerId, route] of this.#routes) {
      if (!route.configured) continue;
      const bytes = encodeRecord(
        stompConnectRecord({
          toId: peerId,
          fromId: this.localEndpointId,
          subscribedDestination: destination,
          ...this.#versionOption(),
        }),
      );
      await this.#sendOn(connection, route.destination, bytes, deadline);
      if (!this.#connectedPeers.has(peerId)) {
        this.#connectedPeers.add(peerId);
        this.emit("peerConnected", {
          endpointId: peerId,
          returnPath: { mtp: "stomp", destination: route.destination },
        });
      }
    }
  }

  #onConnectionLost(connection: StompConnection, reason: MtpError | undefined): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    this.#session = undefined;
    if (this.#closing) return;
    const error = reason ?? new MtpError("ERR_MTP_CONNECTION_LOST", "the STOMP connection closed");
    this.#emitError(error);
    this.#dropPeers(error);
    this.#setState("reconnecting");
    void this.#connectLoop(false);
  }

  #dropPeers(reason: MtpError | undefined): void {
    for (const peerId of this.#connectedPeers) {
      const route = this.#routes.get(peerId);
      this.emit(
        "peerDisconnected",
        {
          endpointId: peerId,
          returnPath: route ? { mtp: "stomp", destination: route.destination } : undefined,
        },
        reason,
      );
    }
    this.#connectedPeers.clear();
  }

  #usableConnection(deadline: number, signal: AbortSignal | undefined): Promise<StompConnection> {
    if (signal?.aborted) {
      return Promise.reject(new MtpError("ERR_MTP_SEND_FAILED", "send aborted", { cause: signal.reason }));
    }
    const connection = this.#connection;
    if (this.#state === "open" && connection && !connection.closed) return Promise.resolve(connection);
    if (this.#state === "idle") {
      return Promise.reject(new MtpError("ERR_MTP_NOT_OPEN", "open() the STOMP MTP before sending"));
    }
    if (this.#state === "closing" || this.#state === "closed") {
      return Promise.reject(new MtpError("ERR_MTP_CLOSED", "the STOMP MTP is closed"));
    }
    // Connecting or reconnecting: wait, bounded by the send deadline.
    return new Promise<StompConnection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (c) => {
          cleanup();
          resolve(c);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const timer = setTimeout(
        () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          cleanup();
          reject(new MtpError("ERR_MTP_TIMEOUT", "the STOMP MTP did not reconnect before the send timeout"));
        },
        Math.max(0, deadline - Date.now()),
      );
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        cleanup();
        reject(new MtpError("ERR_MTP_SEND_FAILED", "send aborted", { cause: signal?.reason }));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  async #sendOn(
    connection: StompConnection,
    destination: string,
    bytes: Uint8Array,
    deadline: number,
  ): Promise<void> {
    const headers: Array<readonly [string, string]> = [
      ["content-length", String(bytes.byteLength)],
      ["content-type", USP_CONTENT_TYPE],
      ["reply-to-dest", this.#session?.destination ?? this.#ownDestinationFallback()],
      ["destination", destination],
    ];
    if (this.#options.persistent) headers.push(["persistent", "true"]);
    if (this.#options.receipts === false) {
      connection.write("SEND", headers, bytes);
      return;
    }
    await connection.request("SEND", headers, bytes, Math.max(1, deadline - Date.now()));
  }

  #ownDestinationFallback(): string {
    return this.#destinationOverride ?? this.#options.destination ?? "";
  }

  #rejectWaiters(error: MtpError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  // ---- receiving ----------------------------------------------------------------------------

  #onFrame(frame: StompFrame): void {
    if (frame.command !== "MESSAGE") return;
    const replyDestination = nonEmpty(frame.headers.get("reply-to-dest"));
    const bytes = frame.body;
    let record: UspRecord;
    try {
      record = decodeRecord(bytes, { maxSize: this.#options.maxRecordBytes ?? DEFAULT_MAX_BODY_BYTES });
    } catch (error) {
      this.#emitError(
        new MtpError("ERR_MTP_MALFORMED_RECORD", `malformed Record from the broker: ${messageOf(error)}`, {
          cause: error,
          protocolCode: (error as { uspCode?: number }).uspCode,
        }),
      );
      // R-MTP.5: answer with an Error Record only when every condition holds (errorRecordFor decides).
      if (replyDestination !== undefined) {
        const answer = errorRecordFor(bytes, this.localEndpointId, { hasReturnPath: true });
        if (answer) this.#sendBestEffort(replyDestination, answer);
      }
      return;
    }
    if (record.toId !== this.localEndpointId) {
      this.#emitError(
        new MtpError(
          "ERR_MTP_NOT_ADDRESSED_TO_US",
          `ignored a Record for ${JSON.stringify(record.toId)} from ${JSON.stringify(record.fromId)}`,
        ),
      );
      return;
    }
    const fromId = record.fromId;
    const replyTo: ReturnPath | undefined =
      replyDestination === undefined ? undefined : { mtp: "stomp", destination: replyDestination };
    const type = record.recordType?.$case;
    if (type === "stompConnect") {
      const destination = nonEmpty(record.recordType?.value.subscribedDestination) ?? replyDestination;
      if (destination !== undefined) this.#learn(fromId, destination);
      if (!this.#connectedPeers.has(fromId)) {
        this.#connectedPeers.add(fromId);
        this.emit("peerConnected", { endpointId: fromId, returnPath: this.#returnPathOf(fromId) ?? replyTo });
      }
    } else if (replyDestination !== undefined && !this.#routes.has(fromId)) {
      this.#learn(fromId, replyDestination);
    }
    this.emit("record", { bytes, record, fromId, replyTo });
    if (type === "disconnect" && this.#connectedPeers.delete(fromId)) {
      const peer: PeerInfo = { endpointId: fromId, returnPath: this.#returnPathOf(fromId) ?? replyTo };
      this.emit("peerDisconnected", peer, undefined);
    }
  }

  #learn(endpointId: string, destination: string): void {
    const existing = this.#routes.get(endpointId);
    if (existing?.configured) return;
    this.#routes.set(endpointId, { destination, configured: false });
  }

  #returnPathOf(endpointId: string): ReturnPath | undefined {
    const route = this.#routes.get(endpointId);
    return route ? { mtp: "stomp", destination: route.destination } : undefined;
  }

  #sendBestEffort(destination: string, bytes: Uint8Array): void {
    const connection = this.#connection;
    if (!connection || connection.closed) return;
    this.#sendOn(connection, destination, bytes, Date.now() + this.#sendTimeout()).catch((error: unknown) =>
      this.#emitError(
        error instanceof MtpError
          ? error
          : new MtpError("ERR_MTP_SEND_FAILED", messageOf(error), { cause: error }),
      ),
    );
  }

  // ---- helpers ------------------------------------------------------------------------------

  #route(toId: string, replyTo: ReturnPath | undefined): string {
    if (replyTo !== undefined) {
      if (
        replyTo.mtp === "stomp" &&
        typeof replyTo.destination === "string" &&
        replyTo.destination.length > 0
      ) {
        return replyTo.destination;
      }
      throw new MtpError(
        "ERR_MTP_NO_ROUTE",
        `return path ${JSON.stringify(replyTo)} is not a STOMP destination`,
      );
    }
    const route = this.#routes.get(toId);
    if (!route)
      throw new MtpError("ERR_MTP_NO_ROUTE", `no STOMP destination known for ${JSON.stringify(toId)}`);
    return route.destination;
  }

  #sendsConnectRecords(): boolean {
    return this.#options.sendConnectRecord ?? this.role === "agent";
  }

  #sendTimeout(): number {
    return this.#options.sendTimeoutMs ?? 30_000;
  }

  #versionOption(): { version?: string } {
    return this.#options.uspVersion === undefined ? {} : { version: this.#options.uspVersion };
  }

  #setState(state: MtpState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit("state", state);
  }

  #emitError(error: MtpError): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }
}

function subscribeHeaders(destination: string): Array<readonly [string, string]> {
  // R-STOMP.17: ack:auto; we never send ACK/NACK or transactions (R-STOMP.26/27).
  return [
    ["id", SUBSCRIPTION_ID],
    ["destination", destination],
    ["ack", "auto"],
  ];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validateOptions(options: StompMtpOptions): void {
  if (options.role !== "agent" && options.role !== "controller") {
    throw new StompOptionsError(`role must be "agent" or "controller", got ${JSON.stringify(options.role)}`);
  }
  if (typeof options.endpointId !== "string" || options.endpointId.length === 0) {
    throw new StompOptionsError("endpointId is required");
  }
  if (!options.broker || typeof options.broker.host !== "string" || options.broker.host.length === 0) {
    throw new StompOptionsError("broker.host is required");
  }
  const port = options.broker.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new StompOptionsError(`broker.port must be 1..65535, got ${port}`);
  }
  for (const peer of options.peers ?? []) {
    if (!peer.endpointId || !peer.destination) {
      throw new StompOptionsError("every peer needs an endpointId and a destination");
    }
  }
  const hb = options.heartbeat;
  if (hb && (!(hb.outgoingMs >= 0) || !(hb.incomingMs >= 0))) {
    throw new StompOptionsError("heart-beat values must be non-negative milliseconds");
  }
}
