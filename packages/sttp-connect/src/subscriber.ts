/**
 * The STTP subscriber: connects to a publisher (forward) or listens for one (reverse), negotiates,
 * requests metadata, subscribes, and emits measurements. Reconnects and resubscribes automatically.
 */
import { EventEmitter } from "node:events";
import { gunzipSync } from "node:zlib";
import { buildSubscribeConnectionString, type SubscriptionSettings } from "./connection-string.js";
import {
  Connector,
  type ReconnectingEvent,
  type ReconnectOptions,
  resolveReconnectOptions,
} from "./connector.js";
import { ServerCommand } from "./constants.js";
import { SttpClosedError, SttpConfigError, SttpDecodeError, SttpError } from "./errors.js";
import type { Response } from "./framing.js";
import type { Measurement } from "./measurement.js";
import type { SignalIndexCache } from "./signal-index-cache.js";
import { type SubscriberProtocolOptions, SubscriberSession } from "./subscriber-session.js";
import type { SecurityWarning, TlsOptions } from "./tls-policy.js";
import {
  dial,
  type Endpoint,
  type Established,
  type Listener,
  listen,
  normalizeAddress,
} from "./transport.js";

export interface SubscriberOptions {
  /** Protocol version 1–3 (default 2). */
  readonly version?: number;
  /** Request TSSC compression over TCP (default true). Must be false with a UDP data channel. */
  readonly compressPayload?: boolean;
  /** gzip metadata (default true). */
  readonly compressMetadata?: boolean;
  /** gzip the signal index cache (default true). */
  readonly compressSignalIndexCache?: boolean;
  readonly receiveExternalMetadata?: boolean;
  readonly receiveInternalMetadata?: boolean;
  readonly extension?: number;
  /** Wait this long for the optional DefineOperationalModes answer, ms (default 1000). */
  readonly operationalModesTimeoutMs?: number;
  /** Data-loss watchdog, ms (default 10000; 0 disables). */
  readonly dataLossIntervalMs?: number;
  readonly maxFrameSize?: number;
  readonly dotNetGuids?: boolean;
  /** UDP data channel for DataPacket/BufferBlock (TCP stays the command channel). */
  readonly udp?: { readonly host?: string; readonly port?: number };
  readonly tls?: TlsOptions;
  /** Forward connections: reconnect policy. */
  readonly reconnect?: ReconnectOptions;
  /** Request metadata after every (re)connection (default false). */
  readonly autoRequestMetadata?: boolean;
  /** Metadata filter expressions sent with automatic metadata requests. */
  readonly metadataFilters?: string;
  /** Identification sent in the connection string. */
  readonly assemblyInfo?: { readonly source: string; readonly version: string; readonly updatedOn: string };
}

export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number | undefined;
  readonly tlsProtocol: string | undefined;
  readonly direction: "forward" | "reverse";
}

export interface HandshakeInfo {
  /** true = Succeeded, false = Failed, undefined = no answer (gsfapi publishers). */
  readonly accepted: boolean | undefined;
  readonly message: string;
}

export interface SubscribedInfo {
  readonly cache: SignalIndexCache;
  readonly message: string;
}

export interface SubscriberEvents {
  connected: [info: ConnectionInfo];
  handshake: [info: HandshakeInfo];
  metadata: [xml: string];
  signalIndexCache: [cache: SignalIndexCache, cacheIndex: 0 | 1];
  subscribed: [info: SubscribedInfo];
  measurements: [measurements: Measurement[], channel: "tcp" | "udp"];
  dataStartTime: [ticks: bigint];
  /** UpdateBaseTimes: active time index and both base times (ticks). */
  baseTimes: [timeIndex: number, baseTimes: [bigint, bigint]];
  /** UpdateCipherKeys for the UDP data channel: the active key index. */
  cipherKeys: [activeIndex: 0 | 1];
  configurationChanged: [];
  notification: [message: string];
  processingComplete: [message: string];
  bufferBlock: [block: { sequence: number; signalId: string | undefined; data: Buffer }];
  userResponse: [index: number, inResponseTo: number, payload: Buffer];
  tsscReset: [sequenceBeforeReset: number];
  securityWarning: [warning: SecurityWarning];
  warning: [message: string];
  reconnecting: [event: ReconnectingEvent];
  disconnected: [reason: Error | undefined];
}

function protocolOptions(o: SubscriberOptions): SubscriberProtocolOptions {
  const version = o.version ?? 2;
  if (!Number.isInteger(version) || version < 1 || version > 3)
    throw new SttpConfigError("version must be 1, 2 or 3");
  if (o.udp !== undefined && o.compressPayload === true) {
    throw new SttpConfigError(
      "TSSC (compressPayload) needs reliable delivery and cannot be used with a UDP data channel",
    );
  }
  return {
    version,
    compressPayload: o.udp === undefined && (o.compressPayload ?? true),
    compressMetadata: o.compressMetadata ?? true,
    compressSignalIndexCache: o.compressSignalIndexCache ?? true,
    receiveExternalMetadata: o.receiveExternalMetadata ?? false,
    receiveInternalMetadata: o.receiveInternalMetadata ?? false,
    extension: o.extension ?? 0,
    operationalModesTimeoutMs: o.operationalModesTimeoutMs ?? 1000,
    dataLossIntervalMs: o.dataLossIntervalMs ?? 10_000,
    maxFrameSize: o.maxFrameSize ?? 64 * 1024 * 1024,
    dotNetGuids: o.dotNetGuids ?? false,
    udp: o.udp,
  };
}

export class Subscriber extends EventEmitter<SubscriberEvents> {
  readonly #options: SubscriberOptions;
  readonly #protocol: SubscriberProtocolOptions;
  #session: SubscriberSession | undefined;
  #connector: Connector<SubscriberSession> | undefined;
  #listener: Listener | undefined;
  #subscription: SubscriptionSettings | undefined;
  #closed = false;

  constructor(options: SubscriberOptions = {}) {
    super();
    this.#options = options;
    this.#protocol = protocolOptions(options);
  }

  /** The connection in use, if any. */
  get session(): SubscriberSession | undefined {
    return this.#session;
  }

  get isConnected(): boolean {
    return this.#session !== undefined && !this.#session.isClosed;
  }

  get signalIndexCache(): SignalIndexCache | undefined {
    return this.#session?.activeSignalIndexCache;
  }

  /**
   * Forward connection: dial the publisher. Resolves after the handshake of the first successful
   * connection; retries per `reconnect` before that, and reconnects (and resubscribes) after drops.
   */
  async connect(
    endpoint: Endpoint & { readonly localAddress?: string; readonly signal?: AbortSignal },
  ): Promise<ConnectionInfo> {
    this.#assertOpen();
    if (this.#connector || this.#listener)
      throw new SttpConfigError("subscriber is already connecting or listening");
    const connector = new Connector<SubscriberSession>(resolveReconnectOptions(this.#options.reconnect), {
      connect: async (signal) => {
        const established = await dial({
          host: endpoint.host,
          port: endpoint.port,
          ...(endpoint.localAddress ? { localAddress: endpoint.localAddress } : {}),
          ...(this.#options.tls ? { tls: this.#options.tls } : {}),
          signal,
        });
        return this.#startSession(established, "forward");
      },
      onReconnecting: (event) => this.emit("reconnecting", event),
      onGiveUp: (error) => this.emit("warning", `giving up reconnecting: ${error.message}`),
    });
    this.#connector = connector;
    const session = await connector.start(endpoint.signal);
    return this.#info(session, "forward");
  }

  /**
   * Reverse connection: listen for one publisher at a time (further ones are refused with a warning).
   * Resolves with the bound address once listening.
   */
  async listen(endpoint: Endpoint & { readonly ipv6Only?: boolean }): Promise<Endpoint> {
    this.#assertOpen();
    if (this.#connector || this.#listener)
      throw new SttpConfigError("subscriber is already connecting or listening");
    this.#listener = await listen(
      { ...endpoint, ...(this.#options.tls ? { tls: this.#options.tls } : {}) },
      (established) => {
        if (this.#session && !this.#session.isClosed) {
          this.emit(
            "warning",
            `refused a second publisher from ${normalizeAddress(established.socket.remoteAddress)}: one publisher at a time`,
          );
          established.socket.destroy();
          return;
        }
        this.#startSession(established, "reverse").catch((error: Error) => {
          this.emit("warning", `publisher connection failed: ${error.message}`);
        });
      },
      (error) => this.emit("warning", `rejected publisher connection: ${error.message}`),
    );
    return this.#listener.address;
  }

  async #startSession(
    established: Established,
    direction: "forward" | "reverse",
  ): Promise<SubscriberSession> {
    const session = new SubscriberSession(established, this.#protocol, {
      onHandshake: (accepted, message) => this.emit("handshake", { accepted, message }),
      onSignalIndexCache: (cache, index) => this.emit("signalIndexCache", cache, index),
      onMeasurements: (measurements, channel) => this.emit("measurements", measurements, channel),
      onResponse: (response) => this.#onUnsolicited(response),
      onNotification: (message) => this.emit("notification", message),
      onWarning: (message) => this.emit("warning", message),
      onTsscReset: (sequence) => this.emit("tsscReset", sequence),
      onBufferBlock: (block) => this.emit("bufferBlock", block),
    });
    if (this.#closed) {
      session.close(new SttpClosedError("subscriber closed"));
      throw new SttpClosedError("subscriber closed");
    }
    this.#session = session;
    for (const warning of established.warnings) this.emit("securityWarning", warning);
    void session.closed.then((reason) => {
      if (this.#session === session) this.#session = undefined;
      this.emit("disconnected", reason);
    });
    this.emit("connected", this.#info(session, direction));
    try {
      await session.start();
      if (this.#options.autoRequestMetadata)
        await this.#requestMetadataOn(session, this.#options.metadataFilters);
      if (this.#subscription) await this.#subscribeOn(session, this.#subscription);
    } catch (error) {
      session.close(error as Error);
      throw error;
    }
    return session;
  }

  #info(session: SubscriberSession, direction: "forward" | "reverse"): ConnectionInfo {
    return {
      remoteAddress: session.remoteAddress,
      remotePort: session.socket.remotePort,
      tlsProtocol: session.tlsProtocol,
      direction,
    };
  }

  #onUnsolicited(response: Response): void {
    const payload = Buffer.from(response.payload);
    switch (response.code) {
      case 0x86:
        if (payload.length >= 8) this.emit("dataStartTime", payload.readBigInt64BE(0));
        return;
      case 0x84:
        if (payload.length >= 20)
          this.emit("baseTimes", payload.readInt32BE(0), [
            payload.readBigInt64BE(4),
            payload.readBigInt64BE(12),
          ]);
        return;
      case 0x85:
        this.emit("cipherKeys", payload[0] ? 1 : 0);
        return;
      case 0x87:
        this.emit("processingComplete", payload.toString("utf8"));
        return;
      case 0x8a:
        this.emit("configurationChanged");
        return;
      default:
        if (response.code >= 0xe0 && response.code <= 0xef) {
          this.emit("userResponse", response.code - 0xe0, response.inResponseTo, payload);
        }
    }
  }

  #requireSession(): SubscriberSession {
    const session = this.#session;
    if (!session || session.isClosed) throw new SttpClosedError("not connected to a publisher");
    return session;
  }

  /** Requests metadata; resolves with the DataSet XML (decompressed when gzip was negotiated). */
  async requestMetadata(filters?: string): Promise<string> {
    return this.#requestMetadataOn(this.#requireSession(), filters);
  }

  async #requestMetadataOn(session: SubscriberSession, filters?: string): Promise<string> {
    let payload: Buffer | undefined;
    if (filters) {
      const text = Buffer.from(filters, "utf8");
      payload = Buffer.alloc(4 + text.length);
      payload.writeUInt32BE(text.length, 0);
      text.copy(payload, 4);
    }
    const response = await session.request(ServerCommand.MetadataRefresh, payload);
    let data = Buffer.from(response.payload);
    if (this.#protocol.compressMetadata || (data[0] === 0x1f && data[1] === 0x8b)) {
      try {
        data = gunzipSync(data, { maxOutputLength: 512 * 1024 * 1024 });
      } catch (cause) {
        throw new SttpDecodeError("failed to decompress metadata", { cause });
      }
    }
    const xml = data.toString("utf8");
    this.emit("metadata", xml);
    return xml;
  }

  /**
   * Subscribes (and remembers the subscription: it is renewed after every reconnection). When not
   * connected yet (e.g. a listening subscriber), the subscription is applied on the next connection.
   */
  async subscribe(settings: SubscriptionSettings): Promise<SubscribedInfo | undefined> {
    this.#subscription = settings;
    const session = this.#session;
    if (!session || session.isClosed) return undefined;
    return this.#subscribeOn(session, settings);
  }

  async #subscribeOn(session: SubscriberSession, settings: SubscriptionSettings): Promise<SubscribedInfo> {
    const connectionString = buildSubscribeConnectionString(settings, {
      ...(session.udpPort !== undefined ? { udpPort: session.udpPort } : {}),
      ...(this.#options.assemblyInfo ? { assemblyInfo: this.#options.assemblyInfo } : {}),
    });
    const text = Buffer.from(connectionString, "utf8");
    const payload = Buffer.alloc(5 + text.length);
    payload[0] = 0x02; // DataPacketFlags.Compact
    payload.writeUInt32BE(text.length, 1);
    text.copy(payload, 5);
    session.setFormat({
      includeTime: settings.includeTime ?? true,
      useMillisecondResolution: settings.useMillisecondResolution ?? false,
    });
    const response = await session.request(ServerCommand.Subscribe, payload);
    const cache = session.activeSignalIndexCache;
    if (!cache)
      throw new SttpDecodeError("publisher confirmed the subscription without sending a signal index cache");
    const info = { cache, message: Buffer.from(response.payload).toString("utf8") };
    this.emit("subscribed", info);
    return info;
  }

  /** Unsubscribes (and forgets the subscription). */
  async unsubscribe(): Promise<void> {
    this.#subscription = undefined;
    await this.#requireSession().request(ServerCommand.Unsubscribe);
  }

  /** Asks the publisher to rotate the UDP cipher keys. */
  rotateCipherKeys(): void {
    this.#requireSession().send(ServerCommand.RotateCipherKeys);
  }

  /** Sends UserCommand00–15 (index 0–15). */
  sendUserCommand(index: number, payload: Uint8Array = new Uint8Array(0)): void {
    if (!Number.isInteger(index) || index < 0 || index > 15)
      throw new SttpConfigError("user command index must be 0..15");
    this.#requireSession().send(ServerCommand.UserCommand00 + index, payload);
  }

  /** Stops reconnecting, closes the connection and the listener. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#connector?.cancel();
    const session = this.#session;
    session?.close();
    if (session) await session.closed;
    await this.#listener?.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new SttpError("ERR_STTP_CLOSED", "subscriber is closed");
  }
}
