/**
 * Incremental STOMP 1.2 frame decoder for a byte stream. Chunks go in with {@link FrameParser.push};
 * frames and heart-beats (bare EOLs between frames, which RabbitMQ also sends after every frame)
 * come out through callbacks. Memory is bounded: a head larger than `maxHeadBytes`, more than
 * `maxHeaders` headers or a body larger than `maxBodyBytes` is rejected before it is buffered.
 * A body with `content-length` is copied once into a buffer of exactly that size.
 * After an error the parser stays failed: the connection must be dropped.
 */
import { StompFrameError } from "./errors.js";
import { commandEscapesHeaders, type StompFrame, unescapeHeader } from "./frame.js";

export interface FrameParserLimits {
  /** Largest command line + headers, bytes (default 64 KiB). */
  readonly maxHeadBytes?: number;
  /** Most headers per frame (default 128). */
  readonly maxHeaders?: number;
  /** Largest body, bytes (default 16 MiB). */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_HEADERS = 128;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const COMMAND_PATTERN = /^[A-Z]{1,32}$/;
const DIGITS = /^[0-9]{1,10}$/;

type State = "idle" | "head" | "sizedBody" | "nul" | "openBody";

export class FrameParser {
  readonly #onFrame: (frame: StompFrame) => void;
  readonly #onHeartbeat: () => void;
  readonly #maxHeadBytes: number;
  readonly #maxHeaders: number;
  readonly #maxBodyBytes: number;

  #state: State = "idle";
  /** Unconsumed bytes of an incomplete head (or a lone CR). */
  #leftover: Buffer = EMPTY;
  #command = "";
  #headers = new Map<string, string>();
  /** `content-length` body being filled. */
  #body: Buffer = EMPTY;
  #filled = 0;
  /** Parts of a NUL-terminated body (no `content-length`). */
  #parts: Buffer[] = [];
  #partsLength = 0;
  #failed: StompFrameError | undefined;

  constructor(
    onFrame: (frame: StompFrame) => void,
    onHeartbeat: () => void = () => {},
    limits: FrameParserLimits = {},
  ) {
    this.#onFrame = onFrame;
    this.#onHeartbeat = onHeartbeat;
    this.#maxHeadBytes = limits.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    this.#maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
    this.#maxBodyBytes = limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** True between frames (nothing partial buffered). */
  get idle(): boolean {
    return this.#state === "idle" && this.#leftover.length === 0;
  }

  /** Bytes currently held for an incomplete frame (for memory checks). */
  get bufferedBytes(): number {
    return this.#leftover.length + this.#body.length + this.#partsLength;
  }

  /** Feeds bytes. Throws {@link StompFrameError} on malformed input; every later call throws it again. */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#push(chunk);
    } catch (error) {
      this.#failed =
        error instanceof StompFrameError
          ? error
          : new StompFrameError("ERR_STOMP_FRAME_MALFORMED", "frame decoding failed", { cause: error });
      this.#reset();
      throw this.#failed;
    }
  }

  /** The stream ended: throws a truncation error if a frame was incomplete. */
  end(): void {
    if (this.#failed) return;
    if (!this.idle) {
      const state = this.#state;
      this.#reset();
      this.#failed = new StompFrameError(
        "ERR_STOMP_FRAME_TRUNCATED",
        `the stream ended inside a frame (${state === "idle" ? "head" : state})`,
      );
      throw this.#failed;
    }
  }

  #reset(): void {
    this.#leftover = EMPTY;
    this.#body = EMPTY;
    this.#parts = [];
    this.#partsLength = 0;
    this.#headers = new Map();
    this.#state = "idle";
  }

  #push(chunk: Uint8Array): void {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#leftover.length > 0) {
      buf = Buffer.concat([this.#leftover, buf]);
      this.#leftover = EMPTY;
    }
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.#state) {
        case "idle": {
          const byte = buf[pos];
          if (byte === LF) {
            pos++;
            this.#onHeartbeat();
            continue;
          }
          if (byte === CR) {
            if (pos + 1 >= len) {
              this.#leftover = Buffer.from(buf.subarray(pos));
              return;
            }
            if (buf[pos + 1] !== LF) throw malformed("CR not followed by LF between frames");
            pos += 2;
            this.#onHeartbeat();
            continue;
          }
          this.#state = "head";
          continue;
        }
        case "head": {
          const end = findHeadEnd(buf, pos, this.#maxHeadBytes);
          if (end < 0) {
            if (len - pos > this.#maxHeadBytes)
              throw tooLarge(`frame head exceeds ${this.#maxHeadBytes} bytes`);
            // Copy: the remainder is small, and keeping a view would pin the whole chunk.
            this.#leftover = Buffer.from(buf.subarray(pos));
            return;
          }
          this.#parseHead(buf, pos, end);
          pos = end;
          continue;
        }
        case "sizedBody": {
          const want = this.#body.length - this.#filled;
          const take = Math.min(want, len - pos);
          buf.copy(this.#body, this.#filled, pos, pos + take);
          this.#filled += take;
          pos += take;
          if (this.#filled === this.#body.length) this.#state = "nul";
          continue;
        }
        case "nul": {
          if (buf[pos] !== 0) {
            throw new StompFrameError(
              "ERR_STOMP_FRAME_MISSING_NUL",
              `no NUL after the ${this.#body.length}-byte body given by content-length`,
            );
          }
          pos++;
          this.#emit(this.#body);
          continue;
        }
        case "openBody": {
          const nul = buf.indexOf(0, pos);
          const stop = nul < 0 ? len : nul;
          if (this.#partsLength + (stop - pos) > this.#maxBodyBytes) {
            throw tooLarge(`frame body exceeds ${this.#maxBodyBytes} bytes`);
          }
          if (stop > pos) {
            this.#parts.push(Buffer.from(buf.subarray(pos, stop)));
            this.#partsLength += stop - pos;
          }
          if (nul < 0) return;
          pos = nul + 1;
          const body =
            this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#partsLength);
          this.#emit(body);
          continue;
        }
      }
    }
  }

  #parseHead(buf: Buffer, start: number, end: number): void {
    // `end` points just after the blank line. Decode as UTF-8 (STOMP 1.2: headers are UTF-8).
    const text = buf.toString("utf8", start, end);
    const lines = text.split("\n");
    // The split yields [..., "", ""] for the final blank line; drop the two trailing entries.
    lines.length -= 2;
    const commandLine = stripCr(lines[0] ?? "");
    if (!COMMAND_PATTERN.test(commandLine)) {
      throw malformed(`invalid command line ${JSON.stringify(commandLine.slice(0, 40))}`);
    }
    if (lines.length - 1 > this.#maxHeaders) throw tooLarge(`more than ${this.#maxHeaders} headers`);
    const escaped = commandEscapesHeaders(commandLine);
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = stripCr(lines[i]!);
      const colon = line.indexOf(":");
      if (colon <= 0)
        throw malformed(`header line without a name or colon: ${JSON.stringify(line.slice(0, 40))}`);
      let name = line.slice(0, colon);
      let value = line.slice(colon + 1);
      if (escaped) {
        name = unescapeHeader(name);
        value = unescapeHeader(value);
      }
      if (!headers.has(name)) headers.set(name, value);
    }
    this.#command = commandLine;
    this.#headers = headers;
    const length = headers.get("content-length");
    if (length !== undefined) {
      if (!DIGITS.test(length))
        throw malformed(`invalid content-length ${JSON.stringify(length.slice(0, 20))}`);
      const n = Number(length);
      if (n > this.#maxBodyBytes) throw tooLarge(`content-length ${n} exceeds ${this.#maxBodyBytes} bytes`);
      this.#body = Buffer.allocUnsafe(n);
      this.#filled = 0;
      this.#state = n === 0 ? "nul" : "sizedBody";
    } else {
      this.#parts = [];
      this.#partsLength = 0;
      this.#state = "openBody";
    }
  }

  #emit(body: Buffer): void {
    const frame: StompFrame = { command: this.#command, headers: this.#headers, body };
    this.#body = EMPTY;
    this.#parts = [];
    this.#partsLength = 0;
    this.#headers = new Map();
    this.#state = "idle";
    this.#onFrame(frame);
  }
}

/** Index just after the blank line that ends the head, or -1 if not within the buffer (or the limit). */
function findHeadEnd(buf: Buffer, start: number, maxHeadBytes: number): number {
  const limit = Math.min(buf.length, start + maxHeadBytes + 2);
  let i = buf.indexOf(LF, start);
  while (i >= 0 && i < limit) {
    const next = buf[i + 1];
    if (next === undefined) return -1;
    if (next === LF) return i + 2;
    if (next === CR) {
      const after = buf[i + 2];
      if (after === undefined) return -1;
      if (after === LF) return i + 3;
    }
    i = buf.indexOf(LF, i + 1);
  }
  return -1;
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function malformed(message: string): StompFrameError {
  return new StompFrameError("ERR_STOMP_FRAME_MALFORMED", message);
}

function tooLarge(message: string): StompFrameError {
  return new StompFrameError("ERR_STOMP_FRAME_TOO_LARGE", message);
}

/** Decodes exactly one frame from a buffer (test and tooling helper). Throws on trailing garbage or truncation. */
export function decodeFrame(bytes: Uint8Array, limits?: FrameParserLimits): StompFrame {
  const frames: StompFrame[] = [];
  const parser = new FrameParser((f) => frames.push(f), undefined, limits);
  parser.push(bytes);
  parser.end();
  if (frames.length !== 1) {
    throw malformed(`expected exactly one frame, found ${frames.length}`);
  }
  return frames[0]!;
}
