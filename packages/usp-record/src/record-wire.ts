/**
 * A strict, single-pass wire decoder for `usp_record.Record`.
 *
 * Hand-written because the ts-proto decoder accepts what a USP receiver must reject: it keeps
 * the last of several `record_type` members (R-ENC.3/4), silently skips fields whose wire type
 * does not match the schema, stops at a zero tag, and replaces invalid UTF-8. It is also about
 * as fast as the generated decoder, so validation stays cheap (see bench/run.ts). It produces
 * exactly the objects of the generated types, so the generated code can consume them.
 * Value-level rules (required fields, enum ranges, ...) live in `validate.ts`.
 */
import { RecordError } from "./errors.js";
import type {
  DisconnectRecord,
  MQTTConnectRecord,
  NoSessionContextRecord,
  SessionContextRecord,
  STOMPConnectRecord,
  Record as UspRecord,
} from "./gen/usp-record-1-4.js";

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const RECORD_TYPE_NAMES = [
  "no_session_context",
  "session_context",
  "websocket_connect",
  "mqtt_connect",
  "stomp_connect",
  "disconnect",
  "uds_connect",
] as const;

class WireError extends Error {}

function fail(message: string): never {
  throw new WireError(message);
}

// Shared zero-length default for absent bytes fields (it has no elements, so it cannot be mutated).
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Decoder state. Decoding is synchronous and not re-entrant, so module-level slots are safe and
// avoid a reader object per call.
let buf: Uint8Array = EMPTY;
let pos = 0;
let lo = 0;
let hi = 0;

function byte(): number {
  if (pos >= buf.length) fail("premature end of input");
  return buf[pos++] as number;
}

/** Reads a varint of up to 10 bytes into `lo`/`hi` (unsigned 32-bit halves). */
function readVarint(): void {
  let b = byte();
  if (b < 0x80) {
    lo = b;
    hi = 0;
    return;
  }
  let low = b & 0x7f;
  for (let shift = 7; shift < 28; shift += 7) {
    b = byte();
    low |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo = low >>> 0;
      hi = 0;
      return;
    }
  }
  b = byte();
  low |= (b & 0x0f) << 28;
  let high = (b & 0x7f) >> 4;
  if (b < 0x80) {
    lo = low >>> 0;
    hi = high;
    return;
  }
  for (let shift = 3; shift < 31; shift += 7) {
    b = byte();
    high |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo = low >>> 0;
      hi = high >>> 0;
      return;
    }
  }
  b = byte();
  if (b > 1) fail("varint overflows 64 bits");
  lo = low >>> 0;
  hi = (high | (b << 31)) >>> 0;
}

function readUint32(what: string): number {
  readVarint();
  if (hi !== 0) fail(`${what} overflows uint32`);
  return lo;
}

/** Field number and wire type; rejects field 0, wire types 6/7 and tags beyond uint32. */
function readTag(): number {
  const tag = readUint32("tag");
  if (tag >>> 3 === 0 || (tag & 7) > 5) fail(`illegal tag: field ${tag >>> 3}, wire type ${tag & 7}`);
  return tag;
}

// The last uint64 above 32 bits that was read. Every Record of a Session Context carries the same
// 63-bit session_id; bigints are immutable values, so handing out the same one again is invisible
// to callers and saves three bigint allocations per Record.
let lastHi = 0;
let lastLo = 0;
let lastBig = 0n;

function readUint64(): bigint {
  readVarint();
  if (hi === 0) return BigInt(lo);
  if (hi !== lastHi || lo !== lastLo) {
    lastBig = (BigInt(hi) << 32n) | BigInt(lo);
    lastHi = hi;
    lastLo = lo;
  }
  return lastBig;
}

/** An enum value: int32 semantics (negative values arrive as 10-byte varints). */
function readEnum(): number {
  readVarint();
  return lo | 0;
}

function readFixed32(): number {
  if (pos + 4 > buf.length) fail("premature end of input");
  const value =
    ((buf[pos] as number) | ((buf[pos + 1] as number) << 8) | ((buf[pos + 2] as number) << 16)) +
    (buf[pos + 3] as number) * 0x1000000;
  pos += 4;
  return value;
}

/** Reads a length prefix and returns the end offset, checked against `end`. */
function readLengthEnd(end: number): number {
  const length = readUint32("length");
  const stop = pos + length;
  if (stop > end) fail("length-delimited field runs past its enclosing message");
  return stop;
}

function readBytes(end: number): Uint8Array {
  const stop = readLengthEnd(end);
  const view = buf.subarray(pos, stop);
  pos = stop;
  return view;
}

const ASCII_FAST_MAX = 256;

// Records of one conversation repeat the same short strings (version, to_id, from_id, topic).
// Returning the same string object for the same bytes skips building the string and lets the
// Endpoint ID validation hit its cache without rehashing. Small and fixed-size, so hostile input
// cannot grow it.
const STRING_CACHE_SIZE = 8;
const STRING_CACHE_MAX = 64;
const cachedBytes: Uint8Array[] = [];
const cachedText: string[] = [];
let cacheNext = 0;

function cachedString(start: number, length: number): string | undefined {
  for (let e = 0; e < cachedBytes.length; e++) {
    const entry = cachedBytes[e] as Uint8Array;
    if (entry.length !== length) continue;
    let i = 0;
    while (i < length && entry[i] === buf[start + i]) i++;
    if (i === length) return cachedText[e];
  }
  return undefined;
}

function remember(start: number, length: number, text: string): void {
  cachedBytes[cacheNext] = buf.slice(start, start + length);
  cachedText[cacheNext] = text;
  cacheNext = (cacheNext + 1) % STRING_CACHE_SIZE;
}

/** Strict UTF-8 (proto3 strings must be valid UTF-8). Short ASCII avoids TextDecoder's call cost. */
function readString(end: number): string {
  const stop = readLengthEnd(end);
  const start = pos;
  pos = stop;
  const length = stop - start;
  if (length <= STRING_CACHE_MAX) {
    const hit = cachedString(start, length);
    if (hit !== undefined) return hit;
  }
  let text: string | undefined;
  if (length <= ASCII_FAST_MAX) {
    // A plain array is much faster to spread into fromCharCode than a typed array.
    const codes = new Array<number>(length);
    for (let i = 0; i < length; i++) {
      const c = buf[start + i] as number;
      if (c > 0x7f) {
        codes.length = 0;
        break;
      }
      codes[i] = c;
    }
    if (codes.length === length) text = String.fromCharCode.apply(null, codes);
  }
  text ??= utf8.decode(buf.subarray(start, stop));
  if (length <= STRING_CACHE_MAX) remember(start, length, text);
  return text;
}

function expectWire(actual: number, expected: number, field: string): void {
  if (actual !== expected) fail(`field ${field} has wire type ${actual}, expected ${expected}`);
}

/** Skips an unknown field. Groups (wire types 3/4) do not exist in proto3 and are rejected. */
function skipUnknown(wireType: number, fieldNo: number, end: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      readVarint();
      return;
    case WIRE_FIXED64:
      pos += 8;
      break;
    case WIRE_LEN:
      pos = readLengthEnd(end);
      return;
    case WIRE_FIXED32:
      pos += 4;
      break;
    default:
      fail(`field ${fieldNo} has wire type ${wireType} (groups are not allowed in proto3)`);
  }
  if (pos > end) fail("field runs past its enclosing message");
}

function finish(end: number): void {
  if (pos !== end) fail("field runs past its enclosing message");
}

function decodeNoSessionContext(end: number): NoSessionContextRecord {
  const message: NoSessionContextRecord = { payload: EMPTY };
  while (pos < end) {
    const tag = readTag();
    if (tag >>> 3 === 2) {
      expectWire(tag & 7, WIRE_LEN, "no_session_context.payload");
      message.payload = readBytes(end);
    } else skipUnknown(tag & 7, tag >>> 3, end);
  }
  finish(end);
  return message;
}

function decodeSessionContext(end: number): SessionContextRecord {
  const message: SessionContextRecord = {
    sessionId: 0n,
    sequenceId: 0n,
    expectedId: 0n,
    retransmitId: 0n,
    payloadSarState: 0,
    payloadrecSarState: 0,
    payload: [],
  };
  while (pos < end) {
    const tag = readTag();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1:
        expectWire(wireType, WIRE_VARINT, "session_context.session_id");
        message.sessionId = readUint64();
        break;
      case 2:
        expectWire(wireType, WIRE_VARINT, "session_context.sequence_id");
        message.sequenceId = readUint64();
        break;
      case 3:
        expectWire(wireType, WIRE_VARINT, "session_context.expected_id");
        message.expectedId = readUint64();
        break;
      case 4:
        expectWire(wireType, WIRE_VARINT, "session_context.retransmit_id");
        message.retransmitId = readUint64();
        break;
      case 5:
        expectWire(wireType, WIRE_VARINT, "session_context.payload_sar_state");
        message.payloadSarState = readEnum();
        break;
      case 6:
        expectWire(wireType, WIRE_VARINT, "session_context.payloadrec_sar_state");
        message.payloadrecSarState = readEnum();
        break;
      case 7:
        expectWire(wireType, WIRE_LEN, "session_context.payload");
        message.payload.push(readBytes(end));
        break;
      default:
        skipUnknown(wireType, tag >>> 3, end);
    }
  }
  finish(end);
  return message;
}

function decodeEmpty(end: number): Record<string, never> {
  while (pos < end) {
    const tag = readTag();
    skipUnknown(tag & 7, tag >>> 3, end);
  }
  finish(end);
  return {};
}

function decodeMqttConnect(end: number): MQTTConnectRecord {
  const message: MQTTConnectRecord = { version: 0, subscribedTopic: "" };
  while (pos < end) {
    const tag = readTag();
    const fieldNo = tag >>> 3;
    if (fieldNo === 1) {
      expectWire(tag & 7, WIRE_VARINT, "mqtt_connect.version");
      message.version = readEnum();
    } else if (fieldNo === 2) {
      expectWire(tag & 7, WIRE_LEN, "mqtt_connect.subscribed_topic");
      message.subscribedTopic = readString(end);
    } else skipUnknown(tag & 7, fieldNo, end);
  }
  finish(end);
  return message;
}

function decodeStompConnect(end: number): STOMPConnectRecord {
  const message: STOMPConnectRecord = { version: 0, subscribedDestination: "" };
  while (pos < end) {
    const tag = readTag();
    const fieldNo = tag >>> 3;
    if (fieldNo === 1) {
      expectWire(tag & 7, WIRE_VARINT, "stomp_connect.version");
      message.version = readEnum();
    } else if (fieldNo === 2) {
      expectWire(tag & 7, WIRE_LEN, "stomp_connect.subscribed_destination");
      message.subscribedDestination = readString(end);
    } else skipUnknown(tag & 7, fieldNo, end);
  }
  finish(end);
  return message;
}

function decodeDisconnect(end: number): DisconnectRecord {
  const message: DisconnectRecord = { reason: "", reasonCode: 0 };
  while (pos < end) {
    const tag = readTag();
    const fieldNo = tag >>> 3;
    if (fieldNo === 1) {
      expectWire(tag & 7, WIRE_LEN, "disconnect.reason");
      message.reason = readString(end);
    } else if (fieldNo === 2) {
      expectWire(tag & 7, WIRE_FIXED32, "disconnect.reason_code");
      if (pos + 4 > end) fail("field runs past its enclosing message");
      message.reasonCode = readFixed32();
    } else skipUnknown(tag & 7, fieldNo, end);
  }
  finish(end);
  return message;
}

function decodeRecordBody(end: number): UspRecord {
  const record: UspRecord = {
    version: "",
    toId: "",
    fromId: "",
    payloadSecurity: 0,
    macSignature: EMPTY,
    senderCert: EMPTY,
    recordType: undefined,
  };
  let recordTypeField = 0;
  while (pos < end) {
    const tag = readTag();
    const fieldNo = tag >>> 3;
    const wireType = tag & 7;
    switch (fieldNo) {
      case 1:
        expectWire(wireType, WIRE_LEN, "version");
        record.version = readString(end);
        continue;
      case 2:
        expectWire(wireType, WIRE_LEN, "to_id");
        record.toId = readString(end);
        continue;
      case 3:
        expectWire(wireType, WIRE_LEN, "from_id");
        record.fromId = readString(end);
        continue;
      case 4:
        expectWire(wireType, WIRE_VARINT, "payload_security");
        record.payloadSecurity = readEnum();
        continue;
      case 5:
        expectWire(wireType, WIRE_LEN, "mac_signature");
        record.macSignature = readBytes(end);
        continue;
      case 6:
        expectWire(wireType, WIRE_LEN, "sender_cert");
        record.senderCert = readBytes(end);
        continue;
    }
    if (fieldNo >= 7 && fieldNo <= 13) {
      const name = RECORD_TYPE_NAMES[fieldNo - 7] as string;
      expectWire(wireType, WIRE_LEN, name);
      if (recordTypeField !== 0) {
        // R-ENC.3/4. Protobuf would merge a repeated member and keep the last of different
        // members; implementations differ on that, so USP's "exactly one" is enforced on the wire.
        throw new RecordError(
          "ERR_USP_RECORD_ONEOF",
          `record_type appears more than once (${RECORD_TYPE_NAMES[recordTypeField - 7]}, then ${name})`,
          { field: "record_type" },
        );
      }
      recordTypeField = fieldNo;
      const stop = readLengthEnd(end);
      switch (fieldNo) {
        case 7:
          record.recordType = { $case: "noSessionContext", value: decodeNoSessionContext(stop) };
          break;
        case 8:
          record.recordType = { $case: "sessionContext", value: decodeSessionContext(stop) };
          break;
        case 9:
          record.recordType = { $case: "websocketConnect", value: decodeEmpty(stop) };
          break;
        case 10:
          record.recordType = { $case: "mqttConnect", value: decodeMqttConnect(stop) };
          break;
        case 11:
          record.recordType = { $case: "stompConnect", value: decodeStompConnect(stop) };
          break;
        case 12:
          record.recordType = { $case: "disconnect", value: decodeDisconnect(stop) };
          break;
        default:
          record.recordType = { $case: "udsConnect", value: decodeEmpty(stop) };
      }
      continue;
    }
    skipUnknown(wireType, fieldNo, end);
  }
  finish(end);
  return record;
}

/**
 * Decodes the wire format of a Record without checking field values.
 * @throws {RecordError} 7100 (`ERR_USP_RECORD_PARSE`, `ERR_USP_RECORD_ONEOF`) and nothing else.
 */
export function decodeRecordWire(bytes: Uint8Array): UspRecord {
  try {
    if (!(bytes instanceof Uint8Array)) fail("input is not a Uint8Array");
    buf = bytes;
    pos = 0;
    return decodeRecordBody(bytes.length);
  } catch (error) {
    if (error instanceof RecordError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new RecordError("ERR_USP_RECORD_PARSE", `Record could not be parsed: ${detail}`, { cause: error });
  } finally {
    buf = EMPTY;
  }
}
