/** Input and output helpers of the `usp-record` CLI. */
import { readFile } from "node:fs/promises";

export type InputFormat = "auto" | "hex" | "base64" | "binary";

export const INPUT_FORMATS: readonly InputFormat[] = ["auto", "hex", "base64", "binary"];

/** A usage mistake: exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** One input to decode: where it came from and its bytes. */
export interface Input {
  readonly source: string;
  readonly bytes: Uint8Array;
}

const HEX_TEXT = /^[0-9A-Fa-f\s]*$/;
const BASE64_TEXT = /^[A-Za-z0-9+/=_\-\s]*$/;

function isText(raw: Uint8Array): boolean {
  for (const byte of raw) {
    if (byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    // Control bytes mean binary; bytes >= 0x80 may be UTF-8 in comment lines.
    if (byte < 0x20 || byte === 0x7f) return false;
  }
  return true;
}

/** Comment lines (`#` ...) are allowed in hex and base64 text files, so samples can say what they are. */
function stripComments(text: string): string {
  return text
    .split(/\r?\n/)
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n");
}

function decodeHex(text: string, source: string): Uint8Array {
  const compact = text.replace(/\s+/g, "");
  if (compact.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(compact)) {
    throw new UsageError(`${source}: not valid hex`);
  }
  return Uint8Array.from(Buffer.from(compact, "hex"));
}

function decodeBase64(text: string, source: string): Uint8Array {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) throw new UsageError(`${source}: not valid base64`);
  return Uint8Array.from(
    Buffer.from(compact, compact.includes("-") || compact.includes("_") ? "base64url" : "base64"),
  );
}

/**
 * Turns raw input into bytes. `auto`: binary unless the input is printable text; text that is
 * all hex digits is hex, otherwise base64.
 */
export function interpret(raw: Uint8Array, format: InputFormat, source: string): Uint8Array {
  if (format === "binary") return raw;
  if (format === "auto" && !isText(raw)) return raw;
  const text = stripComments(Buffer.from(raw).toString("utf8"));
  if (format === "hex") return decodeHex(text, source);
  if (format === "base64") return decodeBase64(text, source);
  if (HEX_TEXT.test(text) && text.replace(/\s+/g, "").length % 2 === 0) return decodeHex(text, source);
  if (BASE64_TEXT.test(text)) return decodeBase64(text, source);
  return raw;
}

export async function readStdin(stdin: NodeJS.ReadableStream, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    total += buf.length;
    if (total > maxBytes) throw new UsageError(`stdin: more than ${maxBytes} bytes`);
    chunks.push(buf);
  }
  return Uint8Array.from(Buffer.concat(chunks));
}

/** Reads every input: inline `--hex`/`--base64` values, files, or stdin (`-` or no file). */
export async function readInputs(options: {
  readonly files: readonly string[];
  readonly hex: readonly string[];
  readonly base64: readonly string[];
  readonly format: InputFormat;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly maxBytes: number;
}): Promise<Input[]> {
  const inputs: Input[] = [];
  options.hex.forEach((value, i) => {
    inputs.push({ source: `--hex[${i}]`, bytes: decodeHex(value, `--hex[${i}]`) });
  });
  options.base64.forEach((value, i) => {
    inputs.push({ source: `--base64[${i}]`, bytes: decodeBase64(value, `--base64[${i}]`) });
  });
  const files = options.files.length === 0 && inputs.length === 0 ? ["-"] : options.files;
  for (const file of files) {
    if (file === "-") {
      if (options.stdin.isTTY === true)
        throw new UsageError("no input: give a file, --hex, --base64 or pipe to stdin");
      const raw = await readStdin(options.stdin, options.maxBytes * 4);
      inputs.push({ source: "stdin", bytes: interpret(raw, options.format, "stdin") });
      continue;
    }
    let raw: Uint8Array;
    try {
      raw = await readFile(file);
    } catch (error) {
      throw new UsageError(`${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    inputs.push({ source: file, bytes: interpret(raw, options.format, file) });
  }
  return inputs;
}

/** JSON.stringify that writes bigint as a decimal string and Uint8Array as hex. */
export function stringifyJson(value: unknown, pretty: boolean): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
      return v;
    },
    pretty ? 2 : undefined,
  );
}
