/**
 * Message Framers (-06 §9) with the framer model of the implementation guidance
 * (draft-ietf-taps-impl-05 §6 / RFC 9623 §6): events Start, Stop, NewSentMessage,
 * HandleReceivedData; actions Send, Parse, AdvanceReceiveCursor, Deliver,
 * DeliverAndAdvanceReceiveCursor, MakeConnectionReady, MakeConnectionClosed, FailConnection.
 *
 * Several framers stack: the last one added runs first on send and last on receive (-06 §9.1).
 * Each `ctl.send()` of an upper framer is one Message for the framer below it; each `deliver()`
 * of a lower framer feeds bytes to the framer above it.
 */
import { ByteQueue } from "./byte-queue.js";
import { FramerError } from "./errors.js";
import { MessageContext } from "./message-context.js";

/** The actions a framer can perform on its Connection. */
export interface FramerControl {
  /** Writes framed bytes towards the transport. `endOfMessage` matters only for a framer below this one. */
  send(data: Uint8Array, endOfMessage?: boolean): void;
  /** Bytes received and not yet consumed by this framer. */
  readonly receiveBufferLength: number;
  /** True once the peer ended its sending direction (no more bytes will come). */
  readonly peerEnded: boolean;
  /**
   * A contiguous view of up to `maxLength` bytes at the receive cursor, or undefined when fewer
   * than `minIncompleteLength` bytes are buffered. Does not consume.
   */
  parse(minIncompleteLength?: number, maxLength?: number): Uint8Array | undefined;
  advanceReceiveCursor(length: number): void;
  /** Delivers bytes that are not in the receive buffer (e.g. decoded data). */
  deliver(context: MessageContext, data: Uint8Array, endOfMessage: boolean): void;
  /** Delivers the next `length` bytes of the receive buffer and consumes them. */
  deliverAndAdvanceReceiveCursor(context: MessageContext, length: number, endOfMessage: boolean): void;
  makeConnectionReady(): void;
  makeConnectionClosed(): void;
  failConnection(error: Error): void;
}

/** A Message Framer. Only `newSentMessage` and `handleReceivedData` are mandatory. */
export interface Framer {
  readonly name: string;
  /**
   * Called when the transport is connected. If defined, the Connection is not Ready until the
   * framer calls `ctl.makeConnectionReady()` (e.g. after an application handshake).
   */
  start?(ctl: FramerControl): void;
  stop?(ctl: FramerControl): void;
  /** Frames one Send; may be asynchronous (the Sent event waits for it). Throwing fails that Send. */
  newSentMessage(
    ctl: FramerControl,
    data: Uint8Array,
    context: MessageContext,
    endOfMessage: boolean,
  ): void | Promise<void>;
  /** New bytes are in the receive buffer. */
  handleReceivedData(ctl: FramerControl): void;
}

/** What the framer stack needs from its Connection. */
export interface FramerHost {
  /** Bytes for the transport. */
  writeToTransport(data: Uint8Array): void;
  /** A (part of a) Message for the application. */
  deliverToApplication(context: MessageContext, data: Uint8Array, endOfMessage: boolean): void;
  framersReady(): void;
  framerClosed(): void;
  framerFailed(error: Error): void;
}

class Layer implements FramerControl {
  readonly buffer = new ByteQueue();
  ready: boolean;
  peerEnded = false;
  /** Where `send()` output of this layer goes. */
  sink: (data: Uint8Array, endOfMessage: boolean) => void = () => {};
  /** Where `deliver()` output of this layer goes. */
  up: (context: MessageContext, data: Uint8Array, endOfMessage: boolean) => void = () => {};
  /** The context of the message being sent through this layer (for the layer below). */
  current: MessageContext | undefined;
  /** `send()` output goes straight to the transport (this is the first framer added). */
  toTransport = false;

  constructor(
    readonly framer: Framer,
    private readonly stack: FramerStack,
  ) {
    this.ready = framer.start === undefined;
  }

  send(data: Uint8Array, endOfMessage = true): void {
    this.sink(data, endOfMessage);
  }
  get receiveBufferLength(): number {
    return this.buffer.length;
  }
  parse(minIncompleteLength = 0, maxLength = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    const have = this.buffer.length;
    if (have < minIncompleteLength || (have === 0 && minIncompleteLength > 0)) return undefined;
    return this.buffer.peek(Math.min(have, maxLength));
  }
  advanceReceiveCursor(length: number): void {
    this.buffer.skip(length);
  }
  deliver(context: MessageContext, data: Uint8Array, endOfMessage: boolean): void {
    this.up(context, data, endOfMessage);
  }
  deliverAndAdvanceReceiveCursor(context: MessageContext, length: number, endOfMessage: boolean): void {
    this.up(context, this.buffer.shift(length), endOfMessage);
  }
  makeConnectionReady(): void {
    if (this.ready) return;
    this.ready = true;
    this.stack.checkReady();
  }
  makeConnectionClosed(): void {
    this.stack.host.framerClosed();
  }
  failConnection(error: Error): void {
    this.stack.host.framerFailed(error);
  }
}

/**
 * The framers of one Connection. Index 0 is the first framer added (next to the transport).
 */
export class FramerStack {
  readonly #layers: Layer[];
  #pending: Promise<void>[] = [];
  #readyReported = false;

  constructor(
    framers: readonly Framer[],
    readonly host: FramerHost,
  ) {
    this.#layers = framers.map((f) => new Layer(f, this));
    for (let i = 0; i < this.#layers.length; i++) {
      const layer = this.#layers[i]!;
      const below = this.#layers[i - 1];
      const above = this.#layers[i + 1];
      layer.sink = below
        ? (data, eom) => {
            const ctx = layer.current ?? new MessageContext();
            const r = below.framer.newSentMessage(below, data, ctx, eom);
            if (r instanceof Promise) this.#pending.push(r);
          }
        : (data) => host.writeToTransport(data);
      layer.toTransport = below === undefined;
      layer.up = above
        ? (_ctx, data, _eom) => {
            above.buffer.push(data);
            runHandler(above);
          }
        : (ctx, data, eom) => host.deliverToApplication(ctx, data, eom);
    }
  }

  get size(): number {
    return this.#layers.length;
  }

  /** Start event for every framer, transport side first. */
  start(): void {
    for (const layer of this.#layers) {
      try {
        layer.framer.start?.(layer);
      } catch (error) {
        this.host.framerFailed(asFramerError(error, layer.framer));
        return;
      }
    }
    this.checkReady();
  }

  checkReady(): void {
    if (this.#readyReported) return;
    if (this.#layers.every((l) => l.ready)) {
      this.#readyReported = true;
      this.host.framersReady();
    }
  }

  stop(): void {
    for (const layer of this.#layers) {
      try {
        layer.framer.stop?.(layer);
      } catch {
        // Stop is best effort during teardown.
      }
    }
  }

  /**
   * Runs one Send through the framers, top first. Returns a promise only when a framer was
   * asynchronous. Throws (or rejects) with a FramerError when a framer refuses the Message.
   */
  frame(data: Uint8Array, context: MessageContext, endOfMessage: boolean): void | Promise<void> {
    const top = this.#layers[this.#layers.length - 1]!;
    for (const l of this.#layers) l.current = context;
    let result: void | Promise<void>;
    try {
      result = top.framer.newSentMessage(top, data, context, endOfMessage);
    } catch (error) {
      throw asFramerError(error, top.framer);
    }
    if (result instanceof Promise || this.#pending.length > 0) {
      const all = [...(result instanceof Promise ? [result] : []), ...this.#pending];
      this.#pending = [];
      return Promise.all(all).then(
        () => undefined,
        (error: unknown) => {
          throw asFramerError(error, top.framer);
        },
      );
    }
  }

  /** Bytes from the transport. */
  receive(data: Uint8Array): void {
    const bottom = this.#layers[0]!;
    bottom.buffer.push(data);
    runHandler(bottom);
  }

  /** The peer ended its direction: framers get one last look at their buffers. */
  peerEnded(): void {
    for (const layer of this.#layers) {
      layer.peerEnded = true;
      runHandler(layer);
    }
  }

  /** Bytes left unparsed in any framer (a truncated message at end of stream). */
  get leftover(): number {
    let n = 0;
    for (const l of this.#layers) n += l.buffer.length;
    return n;
  }
}

function runHandler(layer: Layer): void {
  try {
    layer.framer.handleReceivedData(layer);
  } catch (error) {
    layer.failConnection(asFramerError(error, layer.framer));
  }
}

function asFramerError(error: unknown, framer: Framer): Error {
  if (error instanceof FramerError) return error;
  return new FramerError(`framer ${framer.name} failed: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  });
}

// ---------------------------------------------------------------------------------------------
// Built-in framers

export interface LengthPrefixFramerOptions {
  /** Size of the big-endian length field: 1, 2 or 4 bytes (default 4). */
  readonly lengthBytes?: 1 | 2 | 4;
  /** Largest Message accepted in either direction (default 16 MiB). */
  readonly maxMessageLength?: number;
}

/**
 * Each Message is preceded by its length as an unsigned big-endian integer. Partial sends of one
 * Message are buffered until endOfMessage, since the length must come first.
 */
export class LengthPrefixFramer implements Framer {
  readonly name = "length-prefix";
  readonly lengthBytes: 1 | 2 | 4;
  readonly maxMessageLength: number;
  readonly #partial = new WeakMap<MessageContext, Uint8Array[]>();
  /**
   * How many contexts entered #partial and have not left it. It may overcount (a Message abandoned
   * half-way stays counted) but never undercounts, so at 0 a whole Message can skip the lookup.
   */
  #partialCount = 0;

  constructor(options: LengthPrefixFramerOptions = {}) {
    this.lengthBytes = options.lengthBytes ?? 4;
    if (![1, 2, 4].includes(this.lengthBytes)) throw new FramerError("lengthBytes must be 1, 2 or 4");
    const limit = this.lengthBytes === 4 ? 0xffffffff : 2 ** (8 * this.lengthBytes) - 1;
    this.maxMessageLength = Math.min(options.maxMessageLength ?? 16 * 1024 * 1024, limit);
  }

  newSentMessage(ctl: FramerControl, data: Uint8Array, context: MessageContext, endOfMessage: boolean): void {
    const earlier = this.#partialCount > 0 ? this.#partial.get(context) : undefined;
    if (!endOfMessage) {
      const pieces = earlier ?? [];
      pieces.push(data);
      if (!earlier) this.#partialCount++;
      this.#partial.set(context, pieces);
      if (pieces.reduce((n, p) => n + p.length, 0) > this.maxMessageLength)
        throw new FramerError(`message exceeds ${this.maxMessageLength} bytes`, {
          reason: "message-too-large",
        });
      return;
    }
    if (earlier) {
      this.#partial.delete(context);
      this.#partialCount--;
      earlier.push(data);
      data = Buffer.concat(earlier);
    }
    const n = data.length;
    if (n > this.maxMessageLength)
      throw new FramerError(`message of ${n} bytes exceeds ${this.maxMessageLength}`, {
        reason: "message-too-large",
      });
    const h = this.lengthBytes;
    if (n <= 16384 && ctl instanceof Layer && ctl.toTransport) {
      // Next to the transport, the Connection joins the small pieces of the Messages it writes
      // together into one buffer anyway, so copying the payload behind the header here as well
      // would copy every small Message twice.
      const header = Buffer.allocUnsafe(h);
      writeLength(header, n, h);
      ctl.send(header, false);
      ctl.send(data);
    } else if (n <= 16384) {
      const out = Buffer.allocUnsafe(h + n);
      writeLength(out, n, h);
      out.set(data, h);
      ctl.send(out);
    } else {
      const header = Buffer.allocUnsafe(h);
      writeLength(header, n, h);
      ctl.send(header, false);
      ctl.send(data);
    }
  }

  handleReceivedData(ctl: FramerControl): void {
    const h = this.lengthBytes;
    // Our own Layer lets us read the prefix in place; any other FramerControl goes through parse().
    const queue = ctl instanceof Layer ? ctl.buffer : undefined;
    for (;;) {
      let n: number;
      if (queue) {
        if (queue.length < h) break;
        n = queue.readUIntBE(h);
      } else {
        const header = ctl.parse(h, h);
        if (!header) break;
        n = readLength(header, h);
      }
      if (n > this.maxMessageLength) {
        ctl.failConnection(
          new FramerError(`peer announced a ${n}-byte message; the limit is ${this.maxMessageLength}`, {
            reason: "message-too-large",
          }),
        );
        return;
      }
      if (ctl.receiveBufferLength < h + n) break;
      ctl.advanceReceiveCursor(h);
      ctl.deliverAndAdvanceReceiveCursor(new MessageContext(), n, true);
    }
    if (ctl.peerEnded && ctl.receiveBufferLength > 0) {
      ctl.failConnection(
        new FramerError(`stream ended inside a message (${ctl.receiveBufferLength} bytes left)`, {
          reason: "framing",
        }),
      );
    }
  }
}

function writeLength(buf: Buffer, n: number, h: number): void {
  if (h === 4) buf.writeUInt32BE(n, 0);
  else if (h === 2) buf.writeUInt16BE(n, 0);
  else buf.writeUInt8(n, 0);
}
function readLength(buf: Uint8Array, h: number): number {
  if (h === 4) return ((buf[0]! << 24) >>> 0) + (buf[1]! << 16) + (buf[2]! << 8) + buf[3]!;
  if (h === 2) return (buf[0]! << 8) + buf[1]!;
  return buf[0]!;
}

export interface DelimiterFramerOptions {
  /** Delimiter bytes (default "\n"). Messages must not contain it. */
  readonly delimiter?: string | Uint8Array;
  /** Largest Message accepted, delimiter excluded (default 1 MiB). */
  readonly maxMessageLength?: number;
}

/** Messages end with a delimiter (e.g. "\n" or "\r\n"). Sending a Message that contains it fails. */
export class DelimiterFramer implements Framer {
  readonly name = "delimiter";
  readonly delimiter: Buffer;
  readonly maxMessageLength: number;
  #scanFrom = 0;

  constructor(options: DelimiterFramerOptions = {}) {
    const d = options.delimiter ?? "\n";
    this.delimiter = typeof d === "string" ? Buffer.from(d) : Buffer.from(d);
    if (this.delimiter.length === 0) throw new FramerError("the delimiter must not be empty");
    this.maxMessageLength = options.maxMessageLength ?? 1024 * 1024;
  }

  newSentMessage(
    ctl: FramerControl,
    data: Uint8Array,
    _context: MessageContext,
    endOfMessage: boolean,
  ): void {
    if (Buffer.from(data.buffer, data.byteOffset, data.length).includes(this.delimiter))
      throw new FramerError("message contains the delimiter", { reason: "invalid" });
    if (!endOfMessage) {
      ctl.send(data, false);
      return;
    }
    const out = Buffer.allocUnsafe(data.length + this.delimiter.length);
    out.set(data, 0);
    out.set(this.delimiter, data.length);
    ctl.send(out);
  }

  handleReceivedData(ctl: FramerControl): void {
    // Framer instances are per Preconnection; scan state is reset per message, and connections
    // each get their own copy (see Preconnection), so #scanFrom is not shared.
    for (;;) {
      const len = ctl.receiveBufferLength;
      if (len === 0) break;
      const all = ctl.parse(1, len)!;
      const at = Buffer.from(all.buffer, all.byteOffset, all.length).indexOf(
        this.delimiter,
        Math.max(0, this.#scanFrom - this.delimiter.length + 1),
      );
      if (at < 0) {
        this.#scanFrom = len;
        if (len > this.maxMessageLength + this.delimiter.length) {
          ctl.failConnection(
            new FramerError(`no delimiter within ${this.maxMessageLength} bytes`, {
              reason: "message-too-large",
            }),
          );
        }
        break;
      }
      this.#scanFrom = 0;
      ctl.deliverAndAdvanceReceiveCursor(new MessageContext(), at, true);
      ctl.advanceReceiveCursor(this.delimiter.length);
    }
    if (ctl.peerEnded && ctl.receiveBufferLength > 0) {
      ctl.failConnection(new FramerError("stream ended without a final delimiter", { reason: "framing" }));
    }
  }

  /** A fresh instance with the same options (framers with receive state are per Connection). */
  clone(): DelimiterFramer {
    return new DelimiterFramer({ delimiter: this.delimiter, maxMessageLength: this.maxMessageLength });
  }
}

/** Framers with per-connection state implement `clone()`; stateless framers are shared. */
export function instantiateFramer(framer: Framer): Framer {
  const c = (framer as { clone?: () => Framer }).clone;
  return typeof c === "function" ? c.call(framer) : framer;
}
