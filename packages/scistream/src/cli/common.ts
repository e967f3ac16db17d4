/** Pieces shared by the s2cs, s2uc and appctrl commands. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { RpcError, SciStreamError } from "../errors.js";

export const VERSION: string = (createRequire(import.meta.url)("../../package.json") as { version: string })
  .version;

/** Exit codes: 0 ok, 1 failure, 2 usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
};

/**
 * The access token: `--token`, else `--token-file` (first line), else $SCISTREAM_TOKEN, else
 * $SCISTREAM_TOKEN_FILE. Undefined when none is given (the server decides whether that is allowed).
 */
export function resolveToken(
  values: { token?: string | undefined; "token-file"?: string | undefined },
  env: NodeJS.ProcessEnv,
) {
  if (values.token !== undefined) return values.token;
  const file = values["token-file"] ?? env["SCISTREAM_TOKEN_FILE"];
  if (values["token-file"] === undefined && env["SCISTREAM_TOKEN"] !== undefined)
    return env["SCISTREAM_TOKEN"];
  if (file !== undefined) {
    try {
      return readFileSync(file, "utf8").split(/\r?\n/)[0]!.trim();
    } catch (err) {
      throw new UsageError(`cannot read token file ${file}: ${(err as Error).message}`);
    }
  }
  return undefined;
}

export function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** Prints an error on stderr (JSON on stdout with --json) and returns the exit code. */
export function reportError(err: unknown, json: boolean, io: Io): number {
  if (err instanceof UsageError) {
    io.err(`error: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const e = err as Error;
  const body: Record<string, unknown> = { ok: false, error: e.name, message: e.message };
  if (err instanceof SciStreamError) {
    body["error_code"] = err.seedCode;
    body["code"] = err.code;
    body["grpc_status"] = err.grpcStatus;
  }
  if (err instanceof RpcError) body["method"] = err.method;
  if (json) io.out(`${JSON.stringify(body)}\n`);
  io.err(`error: ${err instanceof SciStreamError ? `${err.seedCode}: ` : ""}${e.message}\n`);
  return EXIT_FAILURE;
}

/** "a,b,c" -> ["a","b","c"] (empty items dropped). */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export function parseIntOption(text: string, name: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be an integer`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${name} must be in ${min}..${max}`);
  return n;
}

/** Python-style booleans as the reference's `fire` CLI takes them (`--ssl=False`). */
export function parseBool(text: string, name: string): boolean {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new UsageError(`--${name} must be True or False`);
}
