/**
 * Framing of the TCP/TLS command channel: every message is `[uint32 BE size][size bytes]`.
 * Commands carry `[uint8 command][payload]`; responses carry
 * `[uint8 response][uint8 inResponseTo][uint32 BE n][n bytes]`. UDP datagrams are a response
 * without the size prefix.
 */
import {
  FRAME_SIZE_PREFIX,
  isKnownCommand,
  isKnownResponse,
  MAX_INITIAL_PAYLOAD,
  RESPONSE_HEADER_SIZE,
} from "./constants.js";
import { SttpFrameError, SttpFrameTooLargeError } from "./errors.js";

export interface Command {
  readonly code: number;
  readonly payload: Uint8Array;
}

export interface Response {
  readonly code: number;
  readonly inResponseTo: number;
  readonly payload: Uint8Array;
}

/** Encodes a command frame: `[size = 1 + n][code][payload]`. */
export function encodeCommand(code: number, payload: Uint8Array = EMPTY): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_SIZE_PREFIX + 1 + payload.length);
  frame.writeUInt32BE(1 + payload.length, 0);
  frame[4] = code;
  frame.set(payload, 5);
  return frame;
}

/** Encodes a response frame: `[size = 6 + n][code][inResponseTo][uint32 n][payload]`. */
export function encodeResponse(code: number, inResponseTo: number, payload: Uint8Array = EMPTY): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_SIZE_PREFIX + RESPONSE_HEADER_SIZE + payload.length);
  frame.writeUInt32BE(RESPONSE_HEADER_SIZE + payload.length, 0);
  frame[4] = code;
  frame[5] = inResponseTo;
  frame.writeUInt32BE(payload.length, 6);
  frame.set(payload, 10);
  return frame;
}

/** Encodes a UDP datagram: a response without the size prefix. */
export function encodeDatagram(code: number, inResponseTo: number, payload: Uint8Array): Buffer {
  const datagram = Buffer.allocUnsafe(RESPONSE_HEADER_SIZE + payload.length);
  datagram[0] = code;
  datagram[1] = inResponseTo;
  datagram.writeUInt32BE(payload.length, 2);
  datagram.set(payload, 6);
  return datagram;
}

/** Parses the body of a command frame (without the size prefix). */
export function parseCommand(body: Uint8Array): Command {
  if (body.length < 1) throw new SttpFrameError("empty command frame");
  const code = body[0] as number;
  if (!isKnownCommand(code)) throw new SttpFrameError(`unknown command code 0x${code.toString(16)}`);
  return { code, payload: body.subarray(1) };
}

/** Parses the body of a response frame or a UDP datagram (without any size prefix). */
export function parseResponse(body: Uint8Array): Response {
  if (body.length < RESPONSE_HEADER_SIZE) {
    throw new SttpFrameError(`response of ${body.length} bytes is shorter than the 6-byte header`);
  }
  const code = body[0] as number;
  const inResponseTo = body[1] as number;
  if (!isKnownResponse(code)) throw new SttpFrameError(`unknown response code 0x${code.toString(16)}`);
  if (!isKnownCommand(inResponseTo)) {
    throw new SttpFrameError(
      `response 0x${code.toString(16)} answers unknown command 0x${inResponseTo.toString(16)}`,
    );
  }
  const length =
    (body[2] as number) * 0x1000000 +
    ((body[3] as number) << 16) +
    ((body[4] as number) << 8) +
    (body[5] as number);
  // The inner length may be dropped by future versions (goapi): accept it only when it is consistent.
  if (length !== body.length - RESPONSE_HEADER_SIZE) {
    throw new SttpFrameError(
      `response payload length ${length} does not match the ${body.length - RESPONSE_HEADER_SIZE} bytes present`,
    );
  }
  return { code, inResponseTo, payload: body.subarray(RESPONSE_HEADER_SIZE) };
}

export interface FrameReaderOptions {
  /** Largest accepted frame body in bytes. */
  readonly maxFrameSize: number;
  /** Limit for the first frame only (the initial-message sanity rule); defaults to maxFrameSize. */
  readonly maxFirstFrameSize?: number;
}

/**
 * Incremental reader of size-prefixed frames. Feed it socket chunks; it returns complete frame bodies.
 * Throws {@link SttpFrameTooLargeError} as soon as a size prefix exceeds the limit, before buffering the body.
 */
export class FrameReader {
  // Chunks are kept as received and joined once per frame, so a large frame arriving in many
  // small chunks costs O(size), not O(size²).
  #chunks: Buffer[] = [];
  #offset = 0;
  #length = 0;
  #need = -1;
  #frames = 0;
  readonly #maxFrameSize: number;
  readonly #maxFirstFrameSize: number;

  constructor(options: FrameReaderOptions) {
    this.#maxFrameSize = options.maxFrameSize;
    this.#maxFirstFrameSize = options.maxFirstFrameSize ?? options.maxFrameSize;
  }

  /** Number of bytes buffered but not yet returned as frames. */
  get pending(): number {
    return this.#length;
  }

  push(chunk: Buffer, onFrame: (body: Buffer) => void): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#length < FRAME_SIZE_PREFIX) return;
        const size = this.#take(FRAME_SIZE_PREFIX).readUInt32BE(0);
        const limit = this.#frames === 0 ? this.#maxFirstFrameSize : this.#maxFrameSize;
        if (size > limit)
          throw new SttpFrameTooLargeError(size, limit, this.#frames === 0 ? "first frame" : "frame");
        if (size === 0) throw new SttpFrameError("zero-length frame");
        this.#need = size;
      }
      if (this.#length < this.#need) return;
      const body = this.#take(this.#need);
      this.#need = -1;
      this.#frames++;
      onFrame(body);
    }
  }

  /** Removes and returns the next `n` buffered bytes (a view when they sit in one chunk). */
  #take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    const available = first.length - this.#offset;
    let out: Buffer;
    if (available >= n) {
      out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#chunks[0] as Buffer;
        const count = Math.min(n - filled, chunk.length - this.#offset);
        chunk.copy(out, filled, this.#offset, this.#offset + count);
        filled += count;
        this.#offset += count;
        if (this.#offset === chunk.length) {
          this.#chunks.shift();
          this.#offset = 0;
        }
      }
    }
    this.#length -= n;
    return out;
  }
}

/** First-frame limits of the initial-message sanity rule. */
export const MAX_FIRST_COMMAND_SIZE = 1 + MAX_INITIAL_PAYLOAD;
export const MAX_FIRST_RESPONSE_SIZE = RESPONSE_HEADER_SIZE + MAX_INITIAL_PAYLOAD;

const EMPTY = new Uint8Array(0);
