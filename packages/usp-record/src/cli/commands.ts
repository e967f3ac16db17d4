/**
 * The subcommands of `usp-record`. Each entry of {@link COMMANDS} is self-contained (its own
 * options, help text and run function), so new subcommands are added by appending an entry.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { ParseArgsConfig } from "node:util";
import { MsgError, RecordError } from "../errors.js";
import { Header_MsgType, type Msg } from "../gen/usp-msg-1-4.js";
import {
  MQTTConnectRecord_MQTTVersion,
  Record_PayloadSecurity,
  SessionContextRecord_PayloadSARState,
  type Record as UspRecord,
} from "../gen/usp-record-1-4.js";
import { embeddedMsgOf, type Json, msgToJson, recordFromJson, recordToJson } from "../json.js";
import { decodeMsg, msgKindOf } from "../msg.js";
import { decodeRecord, encodeRecord, type RecordCodecOptions } from "../record.js";
import { DEFAULT_MAX_RECORD_SIZE } from "../validate.js";
import {
  INPUT_FORMATS,
  type Input,
  type InputFormat,
  readInputs,
  readStdin,
  stringifyJson,
  UsageError,
} from "./io.js";
import { sessionDemo } from "./session-demo.js";

/** What a command gets: parsed values, positionals and the process streams. */
export interface CommandContext {
  readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  readonly positionals: readonly string[];
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export interface Command {
  readonly summary: string;
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig["options"]>;
  /** Resolves to the exit code (0 ok, 1 failure). Throw {@link UsageError} for exit code 2. */
  readonly run: (context: CommandContext) => Promise<number>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  json: { type: "boolean" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

const INPUT_OPTIONS = {
  format: { type: "string", short: "f" },
  hex: { type: "string", multiple: true },
  base64: { type: "string", multiple: true },
  "max-size": { type: "string" },
  "no-endpoint-id-check": { type: "boolean" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

const INPUT_HELP = `Input (files, '-' for stdin, or stdin when no file is given):
  -f, --format <auto|hex|base64|binary>   how to read files and stdin (default auto:
                                          binary unless printable; hex if all hex digits,
                                          else base64; '#' comment lines allowed in text)
      --hex <HEX>                         a Record given inline as hex (repeatable)
      --base64 <B64>                      a Record given inline as base64 (repeatable)
      --max-size <BYTES>                  largest accepted Record (default ${DEFAULT_MAX_RECORD_SIZE})
      --no-endpoint-id-check              accept to_id/from_id that are not TR-369 Endpoint IDs`;

function inputFormat(context: CommandContext): InputFormat {
  const format = (context.values.format as string | undefined) ?? "auto";
  if (!(INPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${INPUT_FORMATS.join(", ")}`);
  }
  return format as InputFormat;
}

function codecOptions(context: CommandContext): RecordCodecOptions & { maxSize: number } {
  const text = context.values["max-size"] as string | undefined;
  const maxSize = text === undefined ? DEFAULT_MAX_RECORD_SIZE : Number(text);
  if (!Number.isSafeInteger(maxSize) || maxSize <= 0)
    throw new UsageError("--max-size must be a positive integer");
  return { maxSize, validateEndpointIds: context.values["no-endpoint-id-check"] !== true };
}

async function inputsOf(context: CommandContext): Promise<Input[]> {
  return readInputs({
    files: context.positionals,
    hex: (context.values.hex as string[] | undefined) ?? [],
    base64: (context.values.base64 as string[] | undefined) ?? [],
    format: inputFormat(context),
    stdin: context.stdin,
    maxBytes: codecOptions(context).maxSize,
  });
}

function errorJson(error: unknown): Json {
  if (error instanceof RecordError || error instanceof MsgError) {
    return { name: error.name, code: error.code, uspCode: error.uspCode, message: error.message };
  }
  return { name: "Error", message: error instanceof Error ? error.message : String(error) };
}

function describeError(error: unknown): string {
  if (error instanceof RecordError || error instanceof MsgError)
    return `${error.code} (${error.uspCode}): ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

interface DecodedEntry {
  readonly source: string;
  readonly size: number;
  readonly record?: UspRecord;
  readonly msg?: Msg;
  readonly msgError?: unknown;
  readonly error?: unknown;
}

function decodeEntry(input: Input, options: RecordCodecOptions): DecodedEntry {
  let record: UspRecord;
  try {
    record = decodeRecord(input.bytes, options);
  } catch (error) {
    return { source: input.source, size: input.bytes.length, error };
  }
  const embedded = embeddedMsgOf(record);
  if (embedded.status === "decoded")
    return { source: input.source, size: input.bytes.length, record, msg: embedded.msg };
  if (embedded.status === "invalid") {
    return { source: input.source, size: input.bytes.length, record, msgError: embedded.error };
  }
  return { source: input.source, size: input.bytes.length, record };
}

function entryJson(entry: DecodedEntry): Json {
  const out: { [key: string]: Json } = { source: entry.source, size: entry.size };
  if (entry.error !== undefined) {
    out.error = errorJson(entry.error);
    return out;
  }
  if (entry.record !== undefined) out.record = recordToJson(entry.record);
  if (entry.msg !== undefined) out.msg = msgToJson(entry.msg);
  if (entry.msgError !== undefined) out.msgError = errorJson(entry.msgError);
  return out;
}

/** The one-line summary of a decoded Record. */
export function summarizeRecord(record: UspRecord, msg?: Msg): string {
  const recordType = record.recordType;
  const parts = [`${recordType?.$case ?? "?"}`, `v${record.version}`, `${record.fromId} -> ${record.toId}`];
  if (record.payloadSecurity !== 0)
    parts.push(Record_PayloadSecurity[record.payloadSecurity] ?? String(record.payloadSecurity));
  if (record.macSignature.length > 0) parts.push(`mac_signature ${record.macSignature.length}B`);
  switch (recordType?.$case) {
    case "noSessionContext":
      parts.push(`payload ${recordType.value.payload.length}B`);
      break;
    case "sessionContext": {
      const v = recordType.value;
      parts.push(`session ${v.sessionId} seq ${v.sequenceId} expected ${v.expectedId}`);
      if (v.retransmitId !== 0n) parts.push(`retransmit ${v.retransmitId}`);
      if (v.payloadSarState !== 0 || v.payloadrecSarState !== 0) {
        parts.push(
          `sar ${SessionContextRecord_PayloadSARState[v.payloadSarState]}/${SessionContextRecord_PayloadSARState[v.payloadrecSarState]}`,
        );
      }
      parts.push(
        v.payload.length === 0
          ? "no payload"
          : `payload ${v.payload.length}x [${v.payload.map((p) => p.length).join(",")}]B`,
      );
      break;
    }
    case "mqttConnect":
      parts.push(`MQTT ${recordType.value.version === MQTTConnectRecord_MQTTVersion.V5 ? "5" : "3.1.1"}`);
      parts.push(`topic ${JSON.stringify(recordType.value.subscribedTopic)}`);
      break;
    case "stompConnect":
      parts.push(`STOMP 1.2 destination ${JSON.stringify(recordType.value.subscribedDestination)}`);
      break;
    case "disconnect":
      parts.push(
        `reason_code ${recordType.value.reasonCode} reason ${JSON.stringify(recordType.value.reason)}`,
      );
      break;
    default:
      break;
  }
  if (msg !== undefined) {
    const kind = msgKindOf(msg);
    const type = Header_MsgType[msg.header?.msgType ?? -1] ?? String(msg.header?.msgType);
    parts.push(
      `| msg ${type} id ${JSON.stringify(msg.header?.msgId ?? "")}${kind ? ` (${kind.bodyCase})` : ""}`,
    );
    const body = msg.body?.msgBody;
    if (body?.$case === "error")
      parts.push(`err_code ${body.value.errCode} ${JSON.stringify(body.value.errMsg)}`);
  }
  return parts.join(" ");
}

const decode: Command = {
  summary: "decode Records (and the Msg they carry) to text or JSON",
  help: `Usage: usp-record decode [options] [FILE...]

Decodes each Record, validates it, and decodes the USP Msg inside when it is readable
(no_session_context, or an unsegmented PLAINTEXT session_context). Several files may be given.

${INPUT_HELP}

Output:
      --json                              one JSON document: an array of
                                          {source, size, record, msg} or {source, size, error}
                                          (proto3 JSON: uint64 as decimal strings, bytes as base64)
      --msg                               the inputs are bare Msgs, not Records

Exit status: 0 all inputs decoded, 1 at least one invalid input, 2 usage error.`,
  options: { ...INPUT_OPTIONS, msg: { type: "boolean" } },
  async run(context) {
    const inputs = await inputsOf(context);
    const options = codecOptions(context);
    if (context.values.msg === true) return decodeBareMsgs(inputs, context);
    const entries = inputs.map((input) => decodeEntry(input, options));
    if (context.values.json === true) {
      context.stdout.write(`${stringifyJson(entries.map(entryJson), true)}\n`);
    } else {
      for (const entry of entries) {
        if (entry.error !== undefined) {
          context.stderr.write(`${entry.source}: ${describeError(entry.error)}\n`);
          continue;
        }
        const { source, size, ...rest } = entryJson(entry) as { [key: string]: Json };
        context.stdout.write(
          `${source} (${size} bytes): ${summarizeRecord(entry.record as UspRecord, entry.msg)}\n`,
        );
        context.stdout.write(`${stringifyJson(rest, true)}\n`);
        if (entry.msgError !== undefined)
          context.stderr.write(`${source}: payload: ${describeError(entry.msgError)}\n`);
      }
    }
    return entries.some((e) => e.error !== undefined) ? 1 : 0;
  },
};

async function decodeBareMsgs(inputs: Input[], context: CommandContext): Promise<number> {
  const out: Json[] = [];
  let failed = false;
  for (const input of inputs) {
    try {
      const msg = decodeMsg(input.bytes);
      out.push({ source: input.source, size: input.bytes.length, msg: msgToJson(msg) });
    } catch (error) {
      failed = true;
      out.push({ source: input.source, size: input.bytes.length, error: errorJson(error) });
      if (context.values.json !== true) context.stderr.write(`${input.source}: ${describeError(error)}\n`);
    }
  }
  if (context.values.json === true) context.stdout.write(`${stringifyJson(out, true)}\n`);
  else {
    for (const entry of out as { [key: string]: Json }[]) {
      if (entry.error === undefined)
        context.stdout.write(`${entry.source} (${entry.size} bytes):\n${stringifyJson(entry.msg, true)}\n`);
    }
  }
  return failed ? 1 : 0;
}

const inspect: Command = {
  summary: "print a one-line summary per Record",
  help: `Usage: usp-record inspect [options] [FILE...]

Prints one line per Record: type, version, from -> to, session fields, payload sizes and,
when readable, the Msg type and msg_id. Invalid Records print their error code instead.

${INPUT_HELP}

Output:
      --json                              an array of {source, size, ok, summary | error}

Exit status: 0 all inputs valid, 1 at least one invalid input, 2 usage error.`,
  options: INPUT_OPTIONS,
  async run(context) {
    const inputs = await inputsOf(context);
    const options = codecOptions(context);
    const entries = inputs.map((input) => decodeEntry(input, options));
    if (context.values.json === true) {
      const out = entries.map(
        (entry): Json =>
          entry.error !== undefined
            ? { source: entry.source, size: entry.size, ok: false, error: errorJson(entry.error) }
            : {
                source: entry.source,
                size: entry.size,
                ok: true,
                summary: summarizeRecord(entry.record as UspRecord, entry.msg),
              },
      );
      context.stdout.write(`${stringifyJson(out, true)}\n`);
    } else {
      for (const entry of entries) {
        const line =
          entry.error !== undefined
            ? `INVALID ${describeError(entry.error)}`
            : summarizeRecord(entry.record as UspRecord, entry.msg);
        context.stdout.write(`${entry.source}: ${line}\n`);
      }
    }
    return entries.some((e) => e.error !== undefined) ? 1 : 0;
  },
};

const encode: Command = {
  summary: "encode a Record from JSON",
  help: `Usage: usp-record encode [options] [FILE]

Reads one Record in JSON (the 'record' form printed by 'decode --json': proto3 JSON names,
uint64 as strings, bytes as base64) from FILE or stdin, validates it and writes it encoded.
A top-level "msg" (a Msg in JSON) is encoded and used as the payload of an empty
noSessionContext/sessionContext (or of a new noSessionContext when no Record type is given).

Example:
  echo '{"version":"1.4","toId":"proto::agent","fromId":"proto::controller",
         "msg":{"header":{"msgId":"1","msgType":"GET"},
                "body":{"request":{"get":{"paramPaths":["Device.DeviceInfo."]}}}}}' | usp-record encode

Options:
  -f, --format <hex|base64|binary>        output encoding (default hex)
  -o, --output <FILE>                     write to FILE instead of stdout
      --no-endpoint-id-check              accept to_id/from_id that are not TR-369 Endpoint IDs
      --json                              print {size, hex, base64} as JSON

Exit status: 0 encoded, 1 invalid Record, 2 usage error.`,
  options: {
    format: { type: "string", short: "f" },
    output: { type: "string", short: "o" },
    "no-endpoint-id-check": { type: "boolean" },
  },
  async run(context) {
    if (context.positionals.length > 1) throw new UsageError("encode takes at most one input file");
    const file = context.positionals[0] ?? "-";
    let text: string;
    if (file === "-") {
      if (context.stdin.isTTY === true)
        throw new UsageError("no input: give a JSON file or pipe JSON to stdin");
      text = Buffer.from(await readStdin(context.stdin, DEFAULT_MAX_RECORD_SIZE * 4)).toString("utf8");
    } else {
      try {
        text = await readFile(file, "utf8");
      } catch (error) {
        throw new UsageError(`${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    const format = (context.values.format as string | undefined) ?? "hex";
    if (!["hex", "base64", "binary"].includes(format))
      throw new UsageError("--format must be hex, base64 or binary");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      context.stderr.write(`${file}: not JSON: ${(error as Error).message}\n`);
      return 1;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeRecord(recordFromJson(json), {
        validateEndpointIds: context.values["no-endpoint-id-check"] !== true,
      });
    } catch (error) {
      context.stderr.write(`${file}: ${describeError(error)}\n`);
      return 1;
    }
    const buffer = Buffer.from(bytes);
    const output =
      context.values.json === true
        ? `${stringifyJson({ size: bytes.length, hex: buffer.toString("hex"), base64: buffer.toString("base64") }, true)}\n`
        : format === "binary"
          ? buffer
          : `${buffer.toString(format as "hex" | "base64")}\n`;
    const target = context.values.output as string | undefined;
    if (target !== undefined) await writeFile(target, output);
    else context.stdout.write(output);
    return 0;
  },
};

/** The subcommand table. Add an entry to add a subcommand. */
export const COMMANDS: Record<string, Command> = { decode, encode, inspect, "session-demo": sessionDemo };
