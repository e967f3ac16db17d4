/**
 * One subscriber-side STTP connection (either socket direction): handshake, command/response
 * matching, signal index cache double buffer, data packets over TCP or UDP, liveness.
 */
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { gunzipSync } from "node:zlib";
import { type CipherKeys, decodeCipherKeys, decryptPayload } from "./cipher.js";
import {
  commandName,
  DataPacketFlags,
  OperationalModes,
  responseName,
  ServerCommand,
  ServerResponse,
} from "./constants.js";
import { decodeTsscPacket } from "./data-packet.js";
import {
  SttpClosedError,
  SttpCommandFailedError,
  SttpDataLossError,
  SttpDecodeError,
  SttpError,
  SttpFrameTooLargeError,
  SttpProtocolError,
  SttpRefusedError,
  SttpTimeoutError,
} from "./errors.js";
import {
  encodeCommand,
  FrameReader,
  MAX_FIRST_RESPONSE_SIZE,
  parseResponse,
  type Response,
} from "./framing.js";
import { decodeCompactMeasurements, type Measurement } from "./measurement.js";
import { decodeSignalIndexCache, type SignalIndexCache } from "./signal-index-cache.js";
import type { Established } from "./transport.js";
import { normalizeAddress } from "./transport.js";
import { TsscDecoder } from "./tssc.js";

export interface SubscriberProtocolOptions {
  /** Protocol version 1–3 (default 2). Version 3 requires an answer to DefineOperationalModes. */
  readonly version: number;
  /** Ask for TSSC over TCP (default true; refused with a UDP data channel). */
  readonly compressPayload: boolean;
  readonly compressMetadata: boolean;
  readonly compressSignalIndexCache: boolean;
  readonly receiveExternalMetadata: boolean;
  readonly receiveInternalMetadata: boolean;
  /** Implementation-specific extension bits 16–23 (default 0). */
  readonly extension: number;
  /** How long to wait for the optional answer to DefineOperationalModes, ms (default 1000). */
  readonly operationalModesTimeoutMs: number;
  /** Restart when no bytes arrive for this long, ms (default 10000, 0 = off). */
  readonly dataLossIntervalMs: number;
  /** Largest response accepted, bytes (default 64 MiB; metadata can be large). */
  readonly maxFrameSize: number;
  /** Swap GUID byte order for old .NET publishers (default false = RFC order). */
  readonly dotNetGuids: boolean;
  /** UDP data channel: bind address (default: the command channel's local address) and port (default 0). */
  readonly udp: { readonly host?: string; readonly port?: number } | undefined;
}

export function operationalModesWord(o: SubscriberProtocolOptions, useUdp: boolean): number {
  let modes =
    (o.version & OperationalModes.VersionMask) |
    OperationalModes.EncodingUTF8 |
    OperationalModes.CompressionModeGZip;
  if (o.compressPayload && !useUdp)
    modes |= OperationalModes.CompressPayloadData | OperationalModes.CompressionModeTSSC;
  if (o.compressMetadata) modes |= OperationalModes.CompressMetadata;
  if (o.compressSignalIndexCache) modes |= OperationalModes.CompressSignalIndexCache;
  if (o.receiveExternalMetadata) modes |= OperationalModes.ReceiveExternalMetadata;
  if (o.receiveInternalMetadata) modes |= OperationalModes.ReceiveInternalMetadata;
  modes |= (o.extension & 0xff) << 16;
  return modes >>> 0;
}

export interface SubscriberSessionEvents {
  onHandshake(accepted: boolean | undefined, message: string): void;
  onSignalIndexCache(cache: SignalIndexCache, cacheIndex: 0 | 1): void;
  onMeasurements(measurements: Measurement[], channel: "tcp" | "udp"): void;
  onResponse(response: Response): void;
  onNotification(message: string, hash: number): void;
  onWarning(message: string): void;
  onTsscReset(sequenceBeforeReset: number): void;
  onBufferBlock(block: { sequence: number; signalId: string | undefined; data: Buffer }): void;
}

interface Pending {
  resolve(response: Response): void;
  reject(error: Error): void;
}

/** Subscription parameters the decoder needs. */
export interface ActiveSubscriptionFormat {
  readonly includeTime: boolean;
  readonly useMillisecondResolution: boolean;
}

export class SubscriberSession {
  readonly socket: Established["socket"];
  readonly warnings: Established["warnings"];
  readonly tlsProtocol: string | undefined;
  readonly closed: Promise<Error | undefined>;
  readonly #options: SubscriberProtocolOptions;
  readonly #events: SubscriberSessionEvents;
  readonly #reader: FrameReader;
  readonly #pending = new Map<number, Pending[]>();
  readonly #caches: [SignalIndexCache | undefined, SignalIndexCache | undefined] = [undefined, undefined];
  #activeCacheIndex: 0 | 1 = 0;
  #baseTimes: [bigint, bigint] = [0n, 0n];
  #cipherKeys: CipherKeys | undefined;
  readonly #tssc = new TsscDecoder();
  #tsscStarted = false;
  #format: ActiveSubscriptionFormat = { includeTime: true, useMillisecondResolution: false };
  #udp: dgram.Socket | undefined;
  #udpPort: number | undefined;
  #closeReason: Error | undefined;
  #isClosed = false;
  #resolveClosed!: (reason: Error | undefined) => void;
  #watchdog: NodeJS.Timeout | undefined;
  #lastData = Date.now();
  #framesReceived = 0;
  #handshake: { resolve(): void; reject(e: Error): void } | undefined;
  #bufferBlockExpected = 0;
  readonly remoteAddress: string;
  bytesReceived = 0;
  measurementsReceived = 0;
  accepted: boolean | undefined;

  constructor(established: Established, options: SubscriberProtocolOptions, events: SubscriberSessionEvents) {
    this.socket = established.socket;
    this.warnings = established.warnings;
    this.tlsProtocol = established.tlsProtocol;
    this.#options = options;
    this.#events = events;
    this.remoteAddress = normalizeAddress(this.socket.remoteAddress);
    this.#reader = new FrameReader({ maxFrameSize: options.maxFrameSize });
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.socket.on("error", (error) =>
      this.close(new SttpClosedError(`socket error: ${error.message}`, { cause: error })),
    );
    this.socket.on("close", () =>
      this.close(this.#closeReason ?? new SttpClosedError("publisher closed the connection")),
    );
    if (options.dataLossIntervalMs > 0) {
      const interval = options.dataLossIntervalMs;
      this.#watchdog = setInterval(
        () => {
          if (Date.now() - this.#lastData >= interval) this.close(new SttpDataLossError(interval));
        },
        Math.max(50, Math.min(1000, interval / 4)),
      );
      this.#watchdog.unref();
    }
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  get activeSignalIndexCache(): SignalIndexCache | undefined {
    return this.#caches[this.#activeCacheIndex];
  }

  /** TSSC sequence number expected next on this connection (0 until the first TSSC packet). */
  get tsscSequenceNumber(): number {
    return this.#tssc.sequenceNumber;
  }

  get udpPort(): number | undefined {
    return this.#udpPort;
  }

  get usesUdp(): boolean {
    return this.#options.udp !== undefined;
  }

  /** Binds the UDP data channel (when configured), sends DefineOperationalModes and waits for the optional answer. */
  async start(): Promise<void> {
    if (this.#options.udp !== undefined) await this.#bindUdp();
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(operationalModesWord(this.#options, this.usesUdp), 0);
    const answered = new Promise<void>((resolve, reject) => {
      this.#handshake = { resolve, reject };
    });
    this.send(ServerCommand.DefineOperationalModes, payload);
    const mustAnswer = this.#options.version >= 3;
    const timeoutMs = mustAnswer
      ? Math.max(this.#options.operationalModesTimeoutMs, 10_000)
      : this.#options.operationalModesTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const closed = this.closed.then((reason) => {
      throw reason ?? new SttpClosedError();
    });
    try {
      const result = await Promise.race([answered, timeout, closed]);
      if (result === "timeout") {
        if (mustAnswer)
          throw new SttpTimeoutError("no answer to DefineOperationalModes (required by version 3)");
        // gsfapi publishers never answer: carry on.
        this.#events.onHandshake(undefined, "no answer to DefineOperationalModes; assuming accepted");
      }
    } finally {
      clearTimeout(timer);
      this.#handshake = undefined;
    }
  }

  async #bindUdp(): Promise<void> {
    const udpOptions = this.#options.udp ?? {};
    const host = udpOptions.host ?? normalizeAddress(this.socket.localAddress);
    const socket = dgram.createSocket({ type: isIPv6(host) ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address: host, port: udpOptions.port ?? 0 }, () => {
        socket.removeListener("error", reject);
        resolve();
      });
    });
    socket.on("error", (error) => this.#events.onWarning(`UDP data channel error: ${error.message}`));
    socket.on("message", (message, rinfo) => this.#onDatagram(message, rinfo));
    this.#udp = socket;
    this.#udpPort = socket.address().port;
  }

  /** Sends a command frame. */
  send(code: number, payload?: Uint8Array): void {
    if (this.#isClosed) throw new SttpClosedError("connection is closed");
    this.socket.write(encodeCommand(code, payload));
  }

  /** Sends a command and waits for its Succeeded (resolves) or Failed (rejects) response. */
  request(code: number, payload?: Uint8Array, timeoutMs = 30_000): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      if (this.#isClosed) {
        reject(new SttpClosedError("connection is closed"));
        return;
      }
      const timer = setTimeout(() => {
        const queue = this.#pending.get(code);
        const i = queue?.indexOf(entry) ?? -1;
        if (queue && i >= 0) queue.splice(i, 1);
        reject(new SttpTimeoutError(`no answer to ${commandName(code)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry: Pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const queue = this.#pending.get(code) ?? [];
      queue.push(entry);
      this.#pending.set(code, queue);
      this.send(code, payload);
    });
  }

  /** Sets the decoding parameters of the subscription in force, and resets TSSC state for it. */
  setFormat(format: ActiveSubscriptionFormat): void {
    this.#format = format;
  }

  close(reason?: Error): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#closeReason = reason;
    clearInterval(this.#watchdog);
    this.socket.destroy();
    this.#udp?.close();
    this.#udp = undefined;
    const error = reason ?? new SttpClosedError("connection closed");
    this.#handshake?.reject(error);
    for (const queue of this.#pending.values()) for (const p of queue) p.reject(error);
    this.#pending.clear();
    this.#resolveClosed(reason);
  }

  #onData(chunk: Buffer): void {
    if (this.#isClosed) return;
    this.#lastData = Date.now();
    this.bytesReceived += chunk.length;
    try {
      this.#reader.push(chunk, (body) => this.#onFrame(body));
    } catch (error) {
      this.close(
        error instanceof SttpError ? error : new SttpDecodeError("failed to process frame", { cause: error }),
      );
    }
  }

  #onDatagram(message: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#isClosed) return;
    // Only the publisher of this session may feed the data channel.
    if (normalizeAddress(rinfo.address) !== this.remoteAddress) return;
    this.#lastData = Date.now();
    this.bytesReceived += message.length;
    try {
      const response = parseResponse(message);
      if (response.code !== ServerResponse.DataPacket && response.code !== ServerResponse.BufferBlock) {
        throw new SttpProtocolError(`${responseName(response.code)} is not allowed on the UDP data channel`);
      }
      this.#dispatch(response, "udp");
    } catch (error) {
      // A bad datagram is dropped; UDP gives no guarantee anyway and an attacker must not be able to kill the session.
      this.#events.onWarning(`dropped UDP datagram: ${(error as Error).message}`);
    }
  }

  #onFrame(body: Buffer): void {
    const first = this.#framesReceived === 0;
    this.#framesReceived++;
    const response = parseResponse(body);
    if (first) {
      // Initial-message sanity rule: an answer to DefineOperationalModes must be small.
      if (
        response.inResponseTo === ServerCommand.DefineOperationalModes &&
        body.length > MAX_FIRST_RESPONSE_SIZE
      ) {
        throw new SttpFrameTooLargeError(body.length, MAX_FIRST_RESPONSE_SIZE, "first response");
      }
    }
    this.#dispatch(response, "tcp");
  }

  #dispatch(response: Response, channel: "tcp" | "udp"): void {
    const p = response.payload;
    const buf = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    switch (response.code) {
      case ServerResponse.Succeeded:
      case ServerResponse.Failed: {
        const text = buf.toString("utf8");
        if (
          response.inResponseTo === ServerCommand.DefineOperationalModes ||
          response.inResponseTo === ServerCommand.Connect
        ) {
          if (response.code === ServerResponse.Failed) {
            const error = new SttpRefusedError(`publisher refused the connection: ${text}`, {
              commandCode: response.inResponseTo,
            });
            this.accepted = false;
            this.#events.onHandshake(false, text);
            this.#handshake?.reject(error);
            this.close(error);
            return;
          }
          this.accepted = true;
          this.#events.onHandshake(true, text);
          this.#handshake?.resolve();
          return;
        }
        const queue = this.#pending.get(response.inResponseTo);
        const entry = queue?.shift();
        if (entry) {
          if (response.code === ServerResponse.Succeeded) entry.resolve(response);
          else
            entry.reject(
              new SttpCommandFailedError(`${commandName(response.inResponseTo)} failed: ${text}`, {
                commandCode: response.inResponseTo,
              }),
            );
        } else {
          this.#events.onResponse(response);
        }
        return;
      }
      case ServerResponse.DataPacket:
        this.#onDataPacket(buf, channel);
        return;
      case ServerResponse.UpdateSignalIndexCache:
        this.#onSignalIndexCache(buf);
        return;
      case ServerResponse.UpdateBaseTimes: {
        if (buf.length < 20) throw new SttpDecodeError("UpdateBaseTimes payload shorter than 20 bytes");
        this.#baseTimes = [buf.readBigInt64BE(4), buf.readBigInt64BE(12)];
        this.#events.onResponse(response);
        return;
      }
      case ServerResponse.UpdateCipherKeys:
        this.#cipherKeys = decodeCipherKeys(buf);
        this.send(ServerCommand.ConfirmUpdateCipherKeys);
        this.#events.onResponse(response);
        return;
      case ServerResponse.BufferBlock:
        this.#onBufferBlock(buf);
        return;
      case ServerResponse.Notify: {
        if (buf.length < 4) throw new SttpDecodeError("Notify payload shorter than its 4-byte hash");
        this.send(ServerCommand.ConfirmNotification, buf.subarray(0, 4));
        this.#events.onNotification(buf.toString("utf8", 4), buf.readInt32BE(0));
        return;
      }
      case ServerResponse.NoOP:
        return;
      default:
        this.#events.onResponse(response);
    }
  }

  #onSignalIndexCache(buf: Buffer): void {
    let data: Buffer = buf;
    let cacheIndex: 0 | 1 = 0;
    if (this.#options.version > 1) {
      if (data.length < 1) throw new SttpDecodeError("empty UpdateSignalIndexCache payload");
      cacheIndex = data[0] ? 1 : 0;
      data = data.subarray(1);
    }
    if (this.#options.compressSignalIndexCache) {
      try {
        data = gunzipSync(data, { maxOutputLength: this.#options.maxFrameSize });
      } catch (cause) {
        throw new SttpDecodeError("failed to decompress the signal index cache", { cause });
      }
    }
    const cache = decodeSignalIndexCache(data, this.#options.dotNetGuids);
    this.#caches[cacheIndex] = cache;
    this.#activeCacheIndex = cacheIndex;
    // A new subscription numbers its buffer blocks from 0 again.
    this.#bufferBlockExpected = 0;
    if (this.#options.version > 1) this.send(ServerCommand.ConfirmUpdateSignalIndexCache);
    this.#events.onSignalIndexCache(cache, cacheIndex);
  }

  #onDataPacket(buf: Buffer, channel: "tcp" | "udp"): void {
    if (buf.length < 5) throw new SttpDecodeError("DataPacket shorter than 5 bytes");
    const flags = buf[0] as number;
    const compressed = (flags & DataPacketFlags.Compressed) !== 0;
    if (!compressed && (flags & DataPacketFlags.Compact) === 0) {
      throw new SttpDecodeError(
        `DataPacket flags 0x${flags.toString(16)}: only compact or TSSC encodings are supported`,
      );
    }
    let body: Buffer = buf.subarray(1);
    if (channel === "udp" && this.#cipherKeys !== undefined) {
      const pair = this.#cipherKeys.pairs[flags & DataPacketFlags.CipherIndex ? 1 : 0];
      body = decryptPayload(pair, body);
    }
    if (body.length < 4) throw new SttpDecodeError("DataPacket without a measurement count");
    const count = body.readUInt32BE(0);
    const cache = this.#caches[flags & DataPacketFlags.CacheIndex ? 1 : 0];
    if (cache === undefined) {
      this.#events.onWarning("DataPacket before any signal index cache; dropped");
      return;
    }
    let measurements: Measurement[];
    if (compressed) {
      if (channel === "udp")
        throw new SttpProtocolError("TSSC data arrived over UDP, where stateful compression is not allowed");
      const before = this.#tssc.sequenceNumber;
      const result = decodeTsscPacket(body.subarray(4), count, cache, this.#tssc);
      if (result.reset && this.#tsscStarted && before > 0) this.#events.onTsscReset(before);
      this.#tsscStarted = true;
      if (result.skipped) {
        this.#events.onWarning(
          `TSSC out of sequence: expected ${this.#tssc.sequenceNumber}, got ${result.sequence}; waiting for a reset`,
        );
        return;
      }
      measurements = result.measurements;
    } else {
      // Every compact measurement has at least 9 bytes: reject an absurd count before allocating.
      if (count > (body.length - 4) / 9)
        throw new SttpDecodeError(`DataPacket announces ${count} measurements in ${body.length - 4} bytes`);
      measurements = decodeCompactMeasurements(body.subarray(4), count, cache, {
        includeTime: this.#format.includeTime,
        useMillisecondResolution: this.#format.useMillisecondResolution,
        baseTimeOffsets: this.#baseTimes,
      });
    }
    this.measurementsReceived += measurements.length;
    this.#events.onMeasurements(measurements, channel);
  }

  #onBufferBlock(buf: Buffer): void {
    const headerSize = this.#options.version > 1 ? 9 : 8;
    if (buf.length < headerSize) throw new SttpDecodeError("BufferBlock shorter than its header");
    const sequence = buf.readUInt32BE(0);
    this.send(ServerCommand.ConfirmBufferBlock, buf.subarray(0, 4));
    const cacheIndex = this.#options.version > 1 && buf[4] ? 1 : 0;
    const signalIndex = buf.readInt32BE(headerSize - 4);
    const signalId = this.#caches[cacheIndex]?.byIndex(signalIndex)?.signalId;
    if (sequence < this.#bufferBlockExpected) return; // retransmission
    this.#bufferBlockExpected = sequence + 1;
    this.#events.onBufferBlock({ sequence, signalId, data: Buffer.from(buf.subarray(headerSize)) });
  }
}
