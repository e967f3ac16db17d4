/**
 * The STTP publisher: listens for many subscribers (forward) or dials one (reverse), validates the
 * operational modes, serves metadata, resolves subscriptions to signal index caches, and publishes
 * measurements in compact or TSSC form over TCP, or compact over UDP (optionally AES-encrypted).
 */
import { randomUUID } from "node:crypto";
import * as dgram from "node:dgram";
import { EventEmitter } from "node:events";
import { isIPv6 } from "node:net";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { gzipSync } from "node:zlib";
import { type CipherKeys, encodeCipherKeys, encryptPayload, generateCipherKeyPair } from "./cipher.js";
import { parseBoolean, parseConnectionString } from "./connection-string.js";
import {
  Connector,
  type ReconnectingEvent,
  type ReconnectOptions,
  resolveReconnectOptions,
} from "./connector.js";
import {
  commandName,
  DataPacketFlags,
  MAX_PACKET_SIZE,
  OperationalModes,
  ServerCommand,
  ServerResponse,
} from "./constants.js";
import { encodeCompactPackets, encodeTsscPackets, type RoutedMeasurement } from "./data-packet.js";
import { SttpClosedError, SttpConfigError, SttpError, SttpFilterError, SttpProtocolError } from "./errors.js";
import {
  encodeDatagram,
  encodeResponse,
  FrameReader,
  MAX_FIRST_COMMAND_SIZE,
  parseCommand,
} from "./framing.js";
import { normalizeGuid } from "./guid.js";
import type { Measurement } from "./measurement.js";
import {
  filterMetadata,
  type MeasurementDefinition,
  renderMetadataXml,
  resolveFilterExpression,
} from "./metadata.js";
import { encodeSignalIndexCache, SignalIndexCache } from "./signal-index-cache.js";
import type { SecurityWarning, TlsOptions } from "./tls-policy.js";
import {
  dial,
  type Endpoint,
  type Established,
  type Listener,
  listen,
  normalizeAddress,
} from "./transport.js";
import { TsscEncoder } from "./tssc.js";

export interface PublisherOptions {
  /** Measurements this publisher serves (metadata and subscription resolution). */
  readonly measurements: readonly MeasurementDefinition[];
  /** Answer DefineOperationalModes (cppapi/pyapi do; gsfapi stays silent). Default true. */
  readonly replyToOperationalModes?: boolean;
  /** Allow TSSC when subscribers ask for it over TCP (default true). */
  readonly allowPayloadCompression?: boolean;
  /** NoOP keep-alive interval, ms (default 5000; 0 = off). */
  readonly noOpIntervalMs?: number;
  /** Send 4-/2-byte base-time offsets instead of 8-byte timestamps (default false, as the cppapi capture shows). */
  readonly useBaseTimeOffsets?: boolean;
  /** Encrypt UDP data packets with AES-256 keys sent over the command channel (default false). */
  readonly encryptPayload?: boolean;
  /** Rotate UDP cipher keys this often, ms (default 60000; 0 = only on request). */
  readonly cipherKeyRotationMs?: number;
  /** Maximum simultaneous subscribers (default unlimited). */
  readonly maxConnections?: number;
  /** Target DataPacket payload size (default 32768, `MaxPacketSize`). */
  readonly maxPacketSize?: number;
  /** Disconnect a subscriber whose unsent data exceeds this many bytes (default 64 MiB): a slow consumer must not exhaust memory. */
  readonly maxBufferedBytes?: number;
  /** Largest command frame accepted after the first (default 1 MiB). */
  readonly maxCommandSize?: number;
  readonly tls?: TlsOptions;
  /** Reverse connections: reconnect policy. */
  readonly reconnect?: ReconnectOptions;
  /**
   * Decide whether to accept a subscriber after its DefineOperationalModes: return `true` to accept or a
   * reason text to refuse (sent as `Failed`).
   */
  readonly acceptSubscriber?: (info: {
    readonly remoteAddress: string;
    readonly operationalModes: number;
    readonly warnings: readonly SecurityWarning[];
    /** The subscriber's TLS client certificate (mutual TLS), to map it to a subscriber identity. */
    readonly peerCertificate: PeerCertificate | undefined;
  }) => true | string;
}

export interface PublisherEvents {
  clientConnected: [client: PublisherClient];
  clientDisconnected: [client: PublisherClient, reason: Error | undefined];
  subscribed: [
    client: PublisherClient,
    info: {
      readonly signals: number;
      readonly format: "compact" | "tssc";
      readonly transport: "tcp" | "udp";
      readonly unmatched: readonly string[];
    },
  ];
  unsubscribed: [client: PublisherClient];
  userCommand: [client: PublisherClient, index: number, payload: Buffer];
  securityWarning: [warning: SecurityWarning];
  warning: [message: string];
  reconnecting: [event: ReconnectingEvent];
}

interface Subscription {
  readonly cache: SignalIndexCache;
  readonly cacheIndex: 0 | 1;
  readonly byId: Map<string, number>;
  readonly tssc: boolean;
  readonly includeTime: boolean;
  readonly useMillisecondResolution: boolean;
  readonly udpPort: number | undefined;
  readonly unmatched: readonly string[];
}

/** One connected subscriber, seen from the publisher. */
export class PublisherClient {
  readonly id = randomUUID();
  readonly socket: Established["socket"];
  readonly remoteAddress: string;
  readonly warnings: readonly SecurityWarning[];
  readonly closed: Promise<Error | undefined>;
  operationalModes: number | undefined;
  readonly #publisher: Publisher;
  readonly #options: PublisherOptions;
  readonly #reader: FrameReader;
  #validated = false;
  #refused = false;
  #active: Subscription | undefined;
  #pending: Subscription | undefined;
  #pendingTimer: NodeJS.Timeout | undefined;
  readonly #tssc = new TsscEncoder();
  #udp: dgram.Socket | undefined;
  #baseTimes: [bigint, bigint] = [0n, 0n];
  #timeIndex: 0 | 1 = 0;
  #dataStarted = false;
  #cipherKeys: CipherKeys | undefined;
  #cipherTimer: NodeJS.Timeout | undefined;
  #noOpTimer: NodeJS.Timeout | undefined;
  #isClosed = false;
  #resolveClosed!: (reason: Error | undefined) => void;
  #notifications = new Map<number, string>();
  #bufferBlockSequence = 0;
  #corked = false;
  measurementsSent = 0;

  constructor(publisher: Publisher, established: Established, options: PublisherOptions) {
    this.#publisher = publisher;
    this.#options = options;
    this.socket = established.socket;
    this.warnings = established.warnings;
    this.remoteAddress = normalizeAddress(this.socket.remoteAddress);
    this.#reader = new FrameReader({
      maxFrameSize: options.maxCommandSize ?? 1024 * 1024,
      maxFirstFrameSize: MAX_FIRST_COMMAND_SIZE,
    });
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.socket.on("error", (error) =>
      this.close(new SttpClosedError(`socket error: ${error.message}`, { cause: error })),
    );
    this.socket.on("close", () => this.close());
    const noOp = options.noOpIntervalMs ?? 5000;
    if (noOp > 0) {
      this.#noOpTimer = setInterval(() => this.#send(ServerResponse.NoOP, ServerCommand.Subscribe), noOp);
      this.#noOpTimer.unref();
    }
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The subscriber's TLS certificate, when the connection is TLS and one was presented. */
  get peerCertificate(): PeerCertificate | undefined {
    const socket = this.socket as Partial<TLSSocket>;
    if (typeof socket.getPeerCertificate !== "function") return undefined;
    const cert = socket.getPeerCertificate(false);
    return cert && Object.keys(cert).length > 0 ? cert : undefined;
  }

  get isSubscribed(): boolean {
    return this.#active !== undefined;
  }

  /** Signal index cache in force for this subscriber. */
  get signalIndexCache(): SignalIndexCache | undefined {
    return this.#active?.cache;
  }

  close(reason?: Error): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearInterval(this.#noOpTimer);
    clearInterval(this.#cipherTimer);
    clearTimeout(this.#pendingTimer);
    this.socket.destroy();
    this.#udp?.close();
    this.#udp = undefined;
    this.#resolveClosed(reason);
  }

  #send(code: number, inResponseTo: number, payload?: Uint8Array): boolean {
    if (this.#isClosed || this.socket.destroyed) return true;
    // Writes made in one tick (a burst of publish() calls) leave as one writev.
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.socket.uncork();
      });
    }
    const ok = this.socket.write(encodeResponse(code, inResponseTo, payload));
    if (!ok && this.socket.writableLength > (this.#options.maxBufferedBytes ?? 64 * 1024 * 1024)) {
      this.#publisher.emit(
        "warning",
        `disconnecting ${this.remoteAddress}: ${this.socket.writableLength} bytes waiting, subscriber too slow`,
      );
      this.close(new SttpClosedError("subscriber too slow: send buffer limit exceeded"));
    }
    return ok;
  }

  #succeed(command: number, text: string): void {
    this.#send(ServerResponse.Succeeded, command, Buffer.from(text, "utf8"));
  }

  #fail(command: number, text: string): void {
    this.#send(ServerResponse.Failed, command, Buffer.from(text, "utf8"));
  }

  #onData(chunk: Buffer): void {
    if (this.#isClosed) return;
    try {
      this.#reader.push(chunk, (body) => this.#onCommand(body));
    } catch (error) {
      const reason =
        error instanceof SttpError
          ? error
          : new SttpProtocolError("failed to process command", { cause: error });
      this.#publisher.emit("warning", `closing connection from ${this.remoteAddress}: ${reason.message}`);
      this.close(reason);
    }
  }

  #onCommand(body: Buffer): void {
    if (this.#refused) return;
    const { code, payload } = parseCommand(body);
    const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (!this.#validated) {
      // Initial-message sanity rule: the first command must be DefineOperationalModes.
      if (code !== ServerCommand.DefineOperationalModes) {
        throw new SttpProtocolError(
          `first command was ${commandName(code)}, not DefineOperationalModes: possible non-STTP client`,
        );
      }
      this.#defineOperationalModes(data);
      return;
    }
    switch (code) {
      case ServerCommand.DefineOperationalModes:
        this.#defineOperationalModes(data);
        return;
      case ServerCommand.MetadataRefresh:
        this.#metadataRefresh(data);
        return;
      case ServerCommand.Subscribe:
        this.#subscribe(data);
        return;
      case ServerCommand.Unsubscribe:
        this.#active = undefined;
        this.#pending = undefined;
        this.#succeed(code, "Client unsubscribed.");
        this.#publisher.emit("unsubscribed", this);
        return;
      case ServerCommand.RotateCipherKeys:
        if (!this.#cipherKeys) this.#fail(code, "Payload encryption is not active on this connection.");
        else {
          this.#rotateCipherKeys();
          this.#succeed(code, "New cipher keys sent.");
        }
        return;
      case ServerCommand.UpdateProcessingInterval:
        this.#succeed(code, "Processing interval updated.");
        return;
      case ServerCommand.ConfirmUpdateSignalIndexCache:
        this.#confirmSignalIndexCache();
        return;
      case ServerCommand.ConfirmNotification:
        if (data.length >= 4) this.#notifications.delete(data.readInt32BE(0));
        return;
      case ServerCommand.ConfirmBufferBlock:
      case ServerCommand.ConfirmUpdateBaseTimes:
      case ServerCommand.ConfirmUpdateCipherKeys:
        return;
      default:
        if (code >= ServerCommand.UserCommand00 && code <= ServerCommand.UserCommand00 + 15) {
          this.#publisher.emit("userCommand", this, code - ServerCommand.UserCommand00, Buffer.from(data));
          return;
        }
        this.#fail(code, `${commandName(code)} is not supported by this publisher.`);
    }
  }

  #defineOperationalModes(data: Buffer): void {
    if (data.length < 4) throw new SttpProtocolError("DefineOperationalModes payload shorter than 4 bytes");
    const modes = data.readUInt32BE(0);
    const version = modes & OperationalModes.VersionMask;
    let refusal: string | undefined;
    if (version < 1 || version > 3)
      refusal = `Unsupported protocol version ${version}; this publisher speaks versions 1 to 3.`;
    else if ((modes & OperationalModes.EncodingMask) !== OperationalModes.EncodingUTF8)
      refusal = "Only UTF-8 string encoding is supported.";
    else if (modes & OperationalModes.ImplementationSpecificExtensionMask) {
      refusal = `UNSUPPORTED EXTENSION: 0x${((modes & OperationalModes.ImplementationSpecificExtensionMask) >>> 16).toString(16)}`;
    } else if (this.#options.acceptSubscriber) {
      const verdict = this.#options.acceptSubscriber({
        remoteAddress: this.remoteAddress,
        operationalModes: modes,
        warnings: this.warnings,
        peerCertificate: this.peerCertificate,
      });
      if (verdict !== true) refusal = verdict;
    }
    if (refusal !== undefined) {
      // A Failed answer is sent even in silent mode: refusal must be visible to the subscriber.
      this.#fail(ServerCommand.DefineOperationalModes, refusal);
      this.#publisher.emit("warning", `refused subscriber ${this.remoteAddress}: ${refusal}`);
      this.#refused = true;
      // end() flushes the Failed answer; the socket is destroyed if the subscriber does not hang up.
      this.socket.end();
      setTimeout(() => this.close(new SttpProtocolError(refusal)), 2000).unref();
      return;
    }
    this.#validated = true;
    this.operationalModes = modes;
    if (this.#options.replyToOperationalModes ?? true) {
      this.#succeed(
        ServerCommand.DefineOperationalModes,
        `STTP v${version} client connection accepted: ${this.remoteAddress}`,
      );
    }
  }

  #has(mode: number): boolean {
    return ((this.operationalModes ?? 0) & mode) !== 0;
  }

  #metadataRefresh(data: Buffer): void {
    let measurements = this.#options.measurements;
    // Optional payload: [uint32 n][n bytes of UTF-8 filter expressions].
    if (data.length >= 4) {
      const length = Math.min(data.readUInt32BE(0), data.length - 4);
      const filters = data.toString("utf8", 4, 4 + length).trim();
      if (filters.length > 0) {
        try {
          measurements = filterMetadata(filters, measurements);
        } catch (error) {
          this.#fail(
            ServerCommand.MetadataRefresh,
            error instanceof SttpFilterError ? error.message : String(error),
          );
          return;
        }
      }
    }
    const xml = Buffer.from(renderMetadataXml(measurements), "utf8");
    this.#send(
      ServerResponse.Succeeded,
      ServerCommand.MetadataRefresh,
      this.#has(OperationalModes.CompressMetadata) ? gzipSync(xml) : xml,
    );
  }

  #subscribe(data: Buffer): void {
    const command = ServerCommand.Subscribe;
    if (data.length < 5) throw new SttpProtocolError("Subscribe payload shorter than 5 bytes");
    const flags = data[0] as number;
    if (flags & DataPacketFlags.Synchronized) {
      this.#fail(command, "Synchronized subscriptions are obsolete and not supported.");
      return;
    }
    const length = data.readUInt32BE(1);
    if (length > data.length - 5)
      throw new SttpProtocolError(`Subscribe connection string of ${length} bytes exceeds the payload`);
    let settings: Map<string, string>;
    try {
      settings = parseConnectionString(data.toString("utf8", 5, 5 + length));
    } catch (error) {
      this.#fail(command, `Invalid connection string: ${(error as Error).message}`);
      return;
    }
    let matched: MeasurementDefinition[];
    let unmatched: string[];
    try {
      ({ matched, unmatched } = resolveFilterExpression(
        settings.get("filterexpression") ?? "",
        this.#options.measurements,
      ));
    } catch (error) {
      this.#fail(command, error instanceof SttpFilterError ? error.message : String(error));
      return;
    }
    let udpPort: number | undefined;
    const dataChannel = settings.get("datachannel");
    if (dataChannel !== undefined) {
      const port = Number(parseConnectionString(dataChannel).get("localport"));
      if (!Number.isInteger(port) || port <= 0 || port > 65535) {
        this.#fail(command, `Invalid dataChannel: ${dataChannel}`);
        return;
      }
      udpPort = port;
    }
    // Stateful compression needs reliable delivery: never TSSC over UDP.
    const tssc =
      udpPort === undefined &&
      (this.#options.allowPayloadCompression ?? true) &&
      this.#has(OperationalModes.CompressPayloadData) &&
      this.#has(OperationalModes.CompressionModeTSSC);
    const entries = matched.map((d, i) => ({
      runtimeIndex: i,
      signalId: normalizeGuid(d.signalId),
      source: d.source,
      id: BigInt(d.id),
    }));
    const cache = new SignalIndexCache(this.id, entries);
    const version = (this.operationalModes ?? 0) & OperationalModes.VersionMask;
    const cacheIndex: 0 | 1 = version > 1 && this.#active ? ((this.#active.cacheIndex ^ 1) as 0 | 1) : 0;
    this.#pending = {
      cache,
      cacheIndex,
      byId: new Map(entries.map((e) => [e.signalId, e.runtimeIndex])),
      tssc,
      includeTime: parseBoolean(settings.get("includetime"), true),
      useMillisecondResolution: parseBoolean(settings.get("usemillisecondresolution"), false),
      udpPort,
      unmatched,
    };
    let sic: Buffer = encodeSignalIndexCache(cache);
    if (this.#has(OperationalModes.CompressSignalIndexCache)) sic = gzipSync(sic);
    this.#send(
      ServerResponse.UpdateSignalIndexCache,
      command,
      version > 1 ? Buffer.concat([Buffer.from([cacheIndex]), sic]) : sic,
    );
    if (version > 1) {
      // v2+: routing switches to the new cache only after the subscriber confirms it.
      clearTimeout(this.#pendingTimer);
      this.#pendingTimer = setTimeout(() => {
        if (this.#pending)
          this.#publisher.emit("warning", `${this.remoteAddress} did not confirm the signal index cache`);
      }, 30_000);
      this.#pendingTimer.unref();
    } else {
      this.#confirmSignalIndexCache();
    }
  }

  #confirmSignalIndexCache(): void {
    const next = this.#pending;
    if (!next) return;
    clearTimeout(this.#pendingTimer);
    this.#pending = undefined;
    void this.#activate(next).catch((error: Error) => {
      this.#fail(ServerCommand.Subscribe, `Failed to open the UDP data channel: ${error.message}`);
    });
  }

  async #activate(next: Subscription): Promise<void> {
    if (next.udpPort !== undefined && !this.#udp) {
      const local = normalizeAddress(this.socket.localAddress);
      const udp = dgram.createSocket({ type: isIPv6(local) ? "udp6" : "udp4" });
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind({ address: local, port: 0 }, () => {
          udp.removeListener("error", reject);
          resolve();
        });
      });
      udp.on("error", (error) =>
        this.#publisher.emit("warning", `UDP error towards ${this.remoteAddress}: ${error.message}`),
      );
      if (this.#isClosed) {
        udp.close();
        return;
      }
      this.#udp = udp;
    }
    if (next.udpPort !== undefined && this.#options.encryptPayload && !this.#cipherKeys) {
      this.#cipherKeys = { activeIndex: 0, pairs: [generateCipherKeyPair(), generateCipherKeyPair()] };
      this.#send(
        ServerResponse.UpdateCipherKeys,
        ServerCommand.Subscribe,
        encodeCipherKeys(this.#cipherKeys),
      );
      const period = this.#options.cipherKeyRotationMs ?? 60_000;
      if (period > 0) {
        this.#cipherTimer = setInterval(() => this.#rotateCipherKeys(), period);
        this.#cipherTimer.unref();
      }
    }
    this.#active = next;
    this.#bufferBlockSequence = 0;
    this.#tssc.reset();
    this.#dataStarted = false;
    this.#baseTimes = [0n, 0n];
    const format = next.tssc ? "TSSC" : "compact";
    const transport = next.udpPort !== undefined ? "UDP" : "TCP";
    this.#succeed(
      ServerCommand.Subscribe,
      `Client subscribed using ${format} format over ${transport} with ${next.cache.size} signals.`,
    );
    this.#publisher.emit("subscribed", this, {
      signals: next.cache.size,
      format: next.tssc ? "tssc" : "compact",
      transport: next.udpPort !== undefined ? "udp" : "tcp",
      unmatched: next.unmatched,
    });
  }

  /** New keys go into the inactive slot, then become active; the old pair stays valid for packets in flight. */
  #rotateCipherKeys(): void {
    const current = this.#cipherKeys;
    if (!current) return;
    const nextIndex: 0 | 1 = current.activeIndex === 0 ? 1 : 0;
    const pairs: CipherKeys["pairs"] =
      nextIndex === 0
        ? [generateCipherKeyPair(), current.pairs[1]]
        : [current.pairs[0], generateCipherKeyPair()];
    this.#cipherKeys = { activeIndex: nextIndex, pairs };
    this.#send(
      ServerResponse.UpdateCipherKeys,
      ServerCommand.RotateCipherKeys,
      encodeCipherKeys(this.#cipherKeys),
    );
  }

  /** Publishes the subset of `measurements` this subscriber asked for. Returns false when the socket is saturated. */
  publish(measurements: readonly Measurement[]): boolean {
    const sub = this.#active;
    if (!sub || this.#isClosed) return true;
    const routed: RoutedMeasurement[] = [];
    for (const m of measurements) {
      const runtimeIndex = sub.byId.get(m.signalId);
      if (runtimeIndex !== undefined) routed.push({ runtimeIndex, measurement: m });
    }
    if (routed.length === 0) return true;
    const first = (routed[0] as RoutedMeasurement).measurement.timestamp;
    if (!this.#dataStarted) {
      this.#dataStarted = true;
      const start = Buffer.alloc(8);
      start.writeBigInt64BE(BigInt.asIntN(64, first), 0);
      this.#send(ServerResponse.DataStartTime, ServerCommand.Subscribe, start);
    }
    if (!sub.tssc && sub.includeTime && this.#options.useBaseTimeOffsets) {
      this.#updateBaseTimes(first, sub.useMillisecondResolution ? 65_534n * 10_000n : 0xfffffffen);
    }
    let flags = sub.cacheIndex === 1 ? DataPacketFlags.CacheIndex : 0;
    const maxPacket = this.#options.maxPacketSize ?? MAX_PACKET_SIZE;
    let ok = true;
    if (sub.tssc) {
      for (const packet of encodeTsscPackets(routed, this.#tssc, flags, maxPacket)) {
        ok = this.#send(ServerResponse.DataPacket, ServerCommand.Subscribe, packet) && ok;
      }
    } else {
      const format = {
        includeTime: sub.includeTime,
        useMillisecondResolution: sub.useMillisecondResolution,
        baseTimeOffsets: this.#options.useBaseTimeOffsets ? this.#baseTimes : ([0n, 0n] as const),
        timeIndex: this.#timeIndex,
      };
      const keys = this.#cipherKeys;
      if (sub.udpPort !== undefined && keys)
        flags |= keys.activeIndex === 1 ? DataPacketFlags.CipherIndex : 0;
      // UDP datagrams stay well below the 64 KiB datagram limit even after encryption padding.
      const limit = sub.udpPort !== undefined ? Math.min(maxPacket, 16384) : maxPacket;
      for (const packet of encodeCompactPackets(routed, format, flags, limit)) {
        if (sub.udpPort !== undefined && this.#udp) {
          const payload = keys
            ? Buffer.concat([
                packet.subarray(0, 1),
                encryptPayload(keys.pairs[keys.activeIndex], packet.subarray(1)),
              ])
            : packet;
          this.#udp.send(
            encodeDatagram(ServerResponse.DataPacket, ServerCommand.Subscribe, payload),
            sub.udpPort,
            this.remoteAddress,
          );
        } else {
          ok = this.#send(ServerResponse.DataPacket, ServerCommand.Subscribe, packet) && ok;
        }
      }
    }
    this.measurementsSent += routed.length;
    return ok;
  }

  /**
   * Sends a BufferBlock (`[uint32 sequence][uint8 cache index][int32 runtime index][bytes]`) for a subscribed
   * signal; over the UDP data channel when there is one, unless payload encryption is on (buffer blocks are
   * not encrypted by any implementation, so they then stay on the command channel). Returns false when the
   * signal is not part of this subscription.
   */
  publishBufferBlock(signalId: string, data: Uint8Array): boolean {
    const sub = this.#active;
    const runtimeIndex = sub?.byId.get(normalizeGuid(signalId));
    if (!sub || runtimeIndex === undefined || this.#isClosed) return false;
    const version = (this.operationalModes ?? 0) & OperationalModes.VersionMask;
    const header = Buffer.alloc(version > 1 ? 9 : 8);
    header.writeUInt32BE(this.#bufferBlockSequence++ >>> 0, 0);
    if (version > 1) header[4] = sub.cacheIndex;
    header.writeInt32BE(runtimeIndex, header.length - 4);
    const payload = Buffer.concat([header, data]);
    if (sub.udpPort !== undefined && this.#udp && !this.#cipherKeys) {
      this.#udp.send(
        encodeDatagram(ServerResponse.BufferBlock, ServerCommand.Subscribe, payload),
        sub.udpPort,
        this.remoteAddress,
      );
    } else {
      this.#send(ServerResponse.BufferBlock, ServerCommand.Subscribe, payload);
    }
    return true;
  }

  /** Keeps a base time within 4-byte tick range of the data; rotates the time index when data moves past it. */
  #updateBaseTimes(timestamp: bigint, range: bigint): void {
    const base = this.#baseTimes[this.#timeIndex];
    if (base > 0n && timestamp > base && timestamp - base < range) return;
    const next: 0 | 1 = base === 0n ? this.#timeIndex : ((this.#timeIndex ^ 1) as 0 | 1);
    // A whole second before the data: offsets stay positive and millisecond offsets stay exact.
    const aligned = timestamp - (timestamp % 10_000_000n) - 10_000_000n;
    this.#baseTimes[next] = aligned;
    this.#timeIndex = next;
    const payload = Buffer.alloc(20);
    payload.writeInt32BE(next, 0);
    payload.writeBigInt64BE(this.#baseTimes[0], 4);
    payload.writeBigInt64BE(this.#baseTimes[1], 12);
    this.#send(ServerResponse.UpdateBaseTimes, ServerCommand.Subscribe, payload);
  }

  /** Sends a Notify; the subscriber confirms it with its hash. */
  notify(message: string): void {
    const text = Buffer.from(message, "utf8");
    let hash = 0;
    for (const byte of text) hash = (Math.imul(hash, 31) + byte) | 0;
    this.#notifications.set(hash, message);
    const payload = Buffer.alloc(4 + text.length);
    payload.writeInt32BE(hash, 0);
    text.copy(payload, 4);
    this.#send(ServerResponse.Notify, ServerCommand.Subscribe, payload);
  }

  /** Notifications sent but not yet confirmed. */
  get pendingNotifications(): number {
    return this.#notifications.size;
  }

  configurationChanged(): void {
    this.#send(ServerResponse.ConfigurationChanged, ServerCommand.Subscribe);
  }

  /** Sends UserResponse00–15 (index 0–15) answering `inResponseTo` (a user command code). */
  sendUserResponse(index: number, inResponseTo: number, payload: Uint8Array = new Uint8Array(0)): void {
    if (!Number.isInteger(index) || index < 0 || index > 15)
      throw new SttpConfigError("user response index must be 0..15");
    this.#send(ServerResponse.UserResponse00 + index, inResponseTo, payload);
  }

  /** Resolves when the socket's write buffer has drained. */
  drained(): Promise<void> {
    if (this.#isClosed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.removeListener("drain", done);
        this.socket.removeListener("close", done);
        resolve();
      };
      this.socket.once("drain", done);
      this.socket.once("close", done);
    });
  }
}

export class Publisher extends EventEmitter<PublisherEvents> {
  readonly #options: PublisherOptions;
  readonly #clients = new Set<PublisherClient>();
  readonly #listeners: Listener[] = [];
  readonly #connectors: Connector<PublisherClient>[] = [];
  #closed = false;

  constructor(options: PublisherOptions) {
    super();
    this.#options = options;
    const seen = new Set<string>();
    for (const d of options.measurements) {
      const id = normalizeGuid(d.signalId);
      if (seen.has(id)) throw new SttpConfigError(`measurement ${id} is defined twice`);
      seen.add(id);
    }
  }

  get clients(): readonly PublisherClient[] {
    return [...this.#clients];
  }

  /** Forward connections: listen for subscribers. Resolves with the bound address. */
  async listen(endpoint: Endpoint & { readonly ipv6Only?: boolean }): Promise<Endpoint> {
    this.#assertOpen();
    const listener = await listen(
      { ...endpoint, ...(this.#options.tls ? { tls: this.#options.tls } : {}) },
      (established) => {
        const max = this.#options.maxConnections ?? -1;
        if (max >= 0 && this.#clients.size >= max) {
          established.socket.end(
            encodeResponse(
              ServerResponse.Failed,
              ServerCommand.Connect,
              Buffer.from("Connection refused: too many subscribers.", "utf8"),
            ),
          );
          this.emit(
            "warning",
            `refused ${normalizeAddress(established.socket.remoteAddress)}: too many subscribers`,
          );
          return;
        }
        this.#addClient(established);
      },
      (error, remote) =>
        this.emit(
          "warning",
          `rejected connection${remote ? ` from ${normalizeAddress(remote)}` : ""}: ${error.message}`,
        ),
    );
    this.#listeners.push(listener);
    return listener.address;
  }

  /**
   * Reverse connection: dial a listening subscriber; resolves when connected. Redials after drops
   * per `reconnect` until {@link close}.
   */
  async connect(
    endpoint: Endpoint & { readonly localAddress?: string; readonly signal?: AbortSignal },
  ): Promise<PublisherClient> {
    this.#assertOpen();
    const connector = new Connector<PublisherClient>(resolveReconnectOptions(this.#options.reconnect), {
      connect: async (signal) => {
        const established = await dial({
          host: endpoint.host,
          port: endpoint.port,
          ...(endpoint.localAddress ? { localAddress: endpoint.localAddress } : {}),
          ...(this.#options.tls ? { tls: this.#options.tls } : {}),
          signal,
        });
        return this.#addClient(established);
      },
      onReconnecting: (event) => this.emit("reconnecting", event),
      onGiveUp: (error) => this.emit("warning", `giving up redialling: ${error.message}`),
    });
    this.#connectors.push(connector);
    return connector.start(endpoint.signal);
  }

  #addClient(established: Established): PublisherClient {
    const client = new PublisherClient(this, established, this.#options);
    if (this.#closed) {
      client.close();
      throw new SttpClosedError("publisher closed");
    }
    this.#clients.add(client);
    for (const warning of established.warnings) this.emit("securityWarning", warning);
    void client.closed.then((reason) => {
      this.#clients.delete(client);
      this.emit("clientDisconnected", client, reason);
    });
    this.emit("clientConnected", client);
    return client;
  }

  /** Sends measurements to every subscriber that subscribed to them. Returns false when a socket is saturated. */
  publish(measurements: readonly Measurement[]): boolean {
    let ok = true;
    for (const client of this.#clients) ok = client.publish(measurements) && ok;
    return ok;
  }

  /** Resolves when every subscriber's socket has drained. */
  async drained(): Promise<void> {
    await Promise.all([...this.#clients].map((c) => c.drained()));
  }

  notify(message: string): void {
    for (const client of this.#clients) client.notify(message);
  }

  configurationChanged(): void {
    for (const client of this.#clients) client.configurationChanged();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const connector of this.#connectors) connector.cancel();
    const closing = [...this.#clients].map((c) => {
      c.close();
      return c.closed;
    });
    await Promise.all([...this.#listeners.map((l) => l.close()), ...closing]);
  }

  #assertOpen(): void {
    if (this.#closed) throw new SttpError("ERR_STTP_CLOSED", "publisher is closed");
  }
}
