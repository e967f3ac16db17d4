/**
 * A deliberately tiny, independent protobuf writer/reader for the few Records and Msgs the suite
 * sends. It does not use the @x/usp-record codec on purpose: the suite then checks every MTP
 * (and, through it, the codec) against bytes built from the TR-369 field numbers directly.
 *
 * Field numbers (usp-record-1-4.proto / usp-msg-1-4.proto):
 * Record: version=1, to_id=2, from_id=3, payload_security=4 (enum), no_session_context=7, disconnect=12;
 * NoSessionContextRecord: payload=2; DisconnectRecord: reason=1, reason_code=2 (fixed32).
 * Msg: header=1, body=2; Header: msg_id=1, msg_type=2 (GET=1, ERROR=0);
 * Body: request=1, response=2, error=3; Request: get=1; Get: param_paths=1;
 * Error: err_code=1 (fixed32), err_msg=2.
 */

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Length-delimited field (wire type 2). */
export function lengthDelimited(field: number, body: Uint8Array): Uint8Array {
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(body.length)]), body]);
}

function stringField(field: number, value: string): Uint8Array {
  return value === "" ? new Uint8Array(0) : lengthDelimited(field, utf8.encode(value));
}

/** Varint field (wire type 0), e.g. an enum. */
export function varintField(field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}

function fixed32Field(field: number, value: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = (field << 3) | 5;
  new DataView(out.buffer).setUint32(1, value >>> 0, true);
  return out;
}

function recordHeader(toId: string, fromId: string, version: string): Uint8Array {
  return concat([stringField(1, version), stringField(2, toId), stringField(3, fromId)]);
}

/** Bytes of a Msg of type GET with the given msg_id and one parameter path. */
export function getRequestMsg(msgId: string, paramPath = "Device.DeviceInfo."): Uint8Array {
  const header = concat([stringField(1, msgId), varintField(2, 1)]);
  const get = stringField(1, paramPath);
  const request = lengthDelimited(1, get);
  const body = lengthDelimited(1, request);
  return concat([lengthDelimited(1, header), lengthDelimited(2, body)]);
}

/** Bytes of a NoSessionContext Record carrying `payload`. */
export function noSessionContextRecordBytes(o: {
  toId: string;
  fromId: string;
  payload: Uint8Array;
  version?: string;
}): Uint8Array {
  return concat([
    recordHeader(o.toId, o.fromId, o.version ?? "1.4"),
    lengthDelimited(7, lengthDelimited(2, o.payload)),
  ]);
}

/** A valid Record whose `payload_security` is the out-of-range enum value 7 (R-ENC.2 -> R-MTP.5). */
export function outOfRangeEnumRecordBytes(o: {
  toId: string;
  fromId: string;
  payload: Uint8Array;
}): Uint8Array {
  // Protobuf: the last occurrence of a scalar wins, so appending the field overrides PLAINTEXT.
  return concat([noSessionContextRecordBytes(o), varintField(4, 7)]);
}

/** Bytes of a DisconnectRecord, for checking what the MTPs send. */
export function disconnectRecordBytes(o: {
  toId: string;
  fromId: string;
  reason: string;
  reasonCode: number;
}): Uint8Array {
  return concat([
    recordHeader(o.toId, o.fromId, "1.4"),
    lengthDelimited(12, concat([stringField(1, o.reason), fixed32Field(2, o.reasonCode)])),
  ]);
}

interface Field {
  readonly field: number;
  readonly wireType: number;
  /** varint / fixed32 value */
  readonly number?: number;
  /** length-delimited body */
  readonly bytes?: Uint8Array;
}

/** Splits one protobuf message into its top-level fields. Throws on malformed input. */
export function readFields(bytes: Uint8Array): Field[] {
  const fields: Field[] = [];
  let i = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 1;
    for (;;) {
      if (i >= bytes.length) throw new Error("truncated varint");
      const b = bytes[i++]!;
      result += (b & 0x7f) * shift;
      if ((b & 0x80) === 0) return result;
      shift *= 128;
      if (shift > 2 ** 63) throw new Error("varint too long");
    }
  };
  while (i < bytes.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) fields.push({ field, wireType, number: readVarint() });
    else if (wireType === 2) {
      const length = readVarint();
      if (i + length > bytes.length) throw new Error("truncated field");
      fields.push({ field, wireType, bytes: bytes.subarray(i, i + length) });
      i += length;
    } else if (wireType === 5) {
      if (i + 4 > bytes.length) throw new Error("truncated fixed32");
      const view = new DataView(bytes.buffer, bytes.byteOffset + i, 4);
      fields.push({ field, wireType, number: view.getUint32(0, true) });
      i += 4;
    } else if (wireType === 1) {
      if (i + 8 > bytes.length) throw new Error("truncated fixed64");
      i += 8;
      fields.push({ field, wireType });
    } else throw new Error(`unsupported wire type ${wireType}`);
  }
  return fields;
}

function lastBytes(fields: readonly Field[], field: number): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  for (const f of fields) if (f.field === field && f.bytes !== undefined) found = f.bytes;
  return found;
}

/** What the suite needs to know about a Msg: its id, and the Error body if it is one. */
export interface MsgSummary {
  readonly msgId: string;
  readonly msgType: number;
  readonly error: { readonly errCode: number; readonly errMsg: string } | undefined;
}

export function summarizeMsg(bytes: Uint8Array): MsgSummary {
  const msg = readFields(bytes);
  const header = readFields(lastBytes(msg, 1) ?? new Uint8Array(0));
  const body = readFields(lastBytes(msg, 2) ?? new Uint8Array(0));
  const msgId = utf8Decoder.decode(lastBytes(header, 1) ?? new Uint8Array(0));
  const msgType = header.find((f) => f.field === 2)?.number ?? 0;
  const errorBytes = lastBytes(body, 3);
  let error: MsgSummary["error"];
  if (errorBytes !== undefined) {
    const e = readFields(errorBytes);
    error = {
      errCode: e.find((f) => f.field === 1)?.number ?? 0,
      errMsg: utf8Decoder.decode(lastBytes(e, 2) ?? new Uint8Array(0)),
    };
  }
  return { msgId, msgType, error };
}

/** Extracts the plaintext payload of a NoSessionContext Record given as raw bytes. */
export function noSessionContextPayload(recordBytes: Uint8Array): Uint8Array | undefined {
  const nsc = lastBytes(readFields(recordBytes), 7);
  return nsc === undefined ? undefined : (lastBytes(readFields(nsc), 2) ?? new Uint8Array(0));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A payload that carries a sequence number, so order can be checked at the far end. */
export function sequencedPayload(seq: number, size = 16): Uint8Array {
  const out = new Uint8Array(Math.max(size, 4));
  new DataView(out.buffer).setUint32(0, seq, false);
  for (let i = 4; i < out.length; i++) out[i] = (seq + i) & 0xff;
  return out;
}

export function payloadSequence(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.length).getUint32(0, false);
}

/**
 * A NoSessionContext Record of exactly `totalBytes` bytes (header + nested lengths included), so
 * "a 4 MiB Record" means the whole Record, not just its payload.
 */
export function recordOfSize(o: { toId: string; fromId: string; totalBytes: number }): Uint8Array {
  let payloadLength = o.totalBytes;
  for (let guard = 0; guard < 16; guard++) {
    const payload = new Uint8Array(payloadLength);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    const bytes = noSessionContextRecordBytes({ toId: o.toId, fromId: o.fromId, payload });
    if (bytes.length === o.totalBytes) return bytes;
    payloadLength -= bytes.length - o.totalBytes;
  }
  throw new Error(`cannot build a Record of exactly ${o.totalBytes} bytes`);
}
