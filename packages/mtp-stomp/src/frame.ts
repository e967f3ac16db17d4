/**
 * STOMP 1.2 frames: the data type, header escaping and the encoder. The decoder is in
 * `parser.ts`. Hand-written because `@stomp/stompjs` always connects with `CONNECT` (TR-369
 * R-STOMP.2 requires `STOMP`), does not escape the headers of its connect frame (R-STOMP.4 needs
 * `endpoint-id:proto\c\cagent`), keeps the last of repeated headers (STOMP 1.2: the first wins),
 * and parses byte by byte without a size limit.
 */
import { StompFrameError } from "./errors.js";

/** A decoded frame. Header names are case-sensitive; with repeated headers the first one wins. */
export interface StompFrame {
  readonly command: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
}

/** Headers to encode, in order. */
export type HeaderInput = Iterable<readonly [string, string]> | Readonly<Record<string, string | number>>;

/** Frames whose headers are never escaped (STOMP 1.2 "Value Encoding"). `STOMP` is escaped. */
const UNESCAPED_COMMANDS = new Set(["CONNECT", "CONNECTED"]);

export const CLIENT_COMMANDS = [
  "STOMP",
  "CONNECT",
  "SEND",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "ACK",
  "NACK",
  "BEGIN",
  "COMMIT",
  "ABORT",
  "DISCONNECT",
] as const;
export const SERVER_COMMANDS = ["CONNECTED", "MESSAGE", "RECEIPT", "ERROR"] as const;

export function commandEscapesHeaders(command: string): boolean {
  return !UNESCAPED_COMMANDS.has(command);
}

const ESCAPE_PATTERN = /[\\\r\n:]/g;
const NEEDS_ESCAPE = /[\\\r\n:]/;
const ESCAPES: Readonly<Record<string, string>> = { "\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c" };

/** Escapes a header name or value: `\` → `\\`, CR → `\r`, LF → `\n`, `:` → `\c`. */
export function escapeHeader(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPE_PATTERN, (c) => ESCAPES[c]!) : text;
}

/** Reverses {@link escapeHeader}. Any other escape sequence is a fatal error (STOMP 1.2). */
export function unescapeHeader(text: string): string {
  if (!text.includes("\\")) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[++i];
    switch (next) {
      case "\\":
        out += "\\";
        break;
      case "r":
        out += "\r";
        break;
      case "n":
        out += "\n";
        break;
      case "c":
        out += ":";
        break;
      default:
        throw new StompFrameError(
          "ERR_STOMP_FRAME_BAD_ESCAPE",
          next === undefined
            ? "header ends with a lone backslash"
            : `undefined escape sequence "\\${next}" in a header`,
        );
    }
  }
  return out;
}

const COMMAND_PATTERN = /^[A-Z]{1,32}$/;
const EMPTY = new Uint8Array(0);
const NUL = Buffer.from([0]);

function headerEntries(headers: HeaderInput): Iterable<readonly [string, string]> {
  if (Symbol.iterator in headers) return headers as Iterable<readonly [string, string]>;
  return Object.entries(headers as Record<string, string | number>).map(([k, v]) => [k, String(v)] as const);
}

/**
 * Encodes the command line and headers (ending with the blank line). `content-length` is added
 * for a non-empty body unless the caller supplied it. Returns the head; the caller writes head,
 * body and a NUL (see {@link encodeFrame} for a single buffer).
 */
export function encodeFrameHead(command: string, headers: HeaderInput, bodyLength: number): Buffer {
  if (!COMMAND_PATTERN.test(command)) {
    throw new StompFrameError(
      "ERR_STOMP_FRAME_MALFORMED",
      `invalid STOMP command ${JSON.stringify(command)}`,
    );
  }
  const escaped = commandEscapesHeaders(command);
  let head = command + "\n";
  let hasLength = false;
  for (const [name, value] of headerEntries(headers)) {
    if (name.length === 0) throw new StompFrameError("ERR_STOMP_FRAME_MALFORMED", "empty header name");
    if (name === "content-length") {
      if (value !== String(bodyLength)) {
        throw new StompFrameError(
          "ERR_STOMP_FRAME_MALFORMED",
          `content-length header ${value} does not match the body length ${bodyLength}`,
        );
      }
      hasLength = true;
    }
    if (escaped) {
      head += escapeHeader(name) + ":" + escapeHeader(value) + "\n";
    } else {
      // CONNECT/CONNECTED cannot carry these octets at all.
      if (/[\r\n:]/.test(name) || /[\r\n]/.test(value)) {
        throw new StompFrameError(
          "ERR_STOMP_FRAME_MALFORMED",
          `header ${JSON.stringify(name)} cannot be sent unescaped in ${command}`,
        );
      }
      head += name + ":" + value + "\n";
    }
  }
  if (!hasLength && bodyLength > 0) head += "content-length:" + bodyLength + "\n";
  head += "\n";
  return Buffer.from(head, "utf8");
}

/** Encodes a whole frame into one buffer (head, body, NUL). */
export function encodeFrame(command: string, headers: HeaderInput = [], body: Uint8Array = EMPTY): Buffer {
  const head = encodeFrameHead(command, headers, body.byteLength);
  return Buffer.concat([head, body, NUL], head.length + body.byteLength + 1);
}

/** The single EOL a heart-beat consists of. */
export const HEARTBEAT = Buffer.from("\n");
export const NUL_BYTE = NUL;

/** Builds a frame object (for tests and the fake server). */
export function frame(command: string, headers: HeaderInput = [], body: Uint8Array = EMPTY): StompFrame {
  const map = new Map<string, string>();
  for (const [k, v] of headerEntries(headers)) if (!map.has(k)) map.set(k, v);
  return { command, headers: map, body };
}
