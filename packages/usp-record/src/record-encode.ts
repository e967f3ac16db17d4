/**
 * A single-allocation encoder for an already validated `usp_record.Record`.
 *
 * Hand-written for speed: the generated encoder goes through `BinaryWriter`'s chunk list and
 * fork/join for every sub-message, which made a validated small Record slower to encode than
 * protobufjs. This one computes the exact size first, allocates once and writes in place. It
 * writes the same bytes as the generated encoder and protobufjs (fields in number order,
 * proto3 defaults omitted, oneof members always written); the property tests check that.
 * Call it only after `validateRecord` (it trusts types and ranges).
 */
import type { Record as UspRecord } from "./gen/usp-record-1-4.js";

const utf8Encoder = new TextEncoder();

/** UTF-8 length of a well-formed string (validation rejects lone surrogates). */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

// The last uint64 above 32 bits that was encoded, and its varint bytes. A session engine writes the
// same 63-bit random session_id into every Record; bigint shifts allocate, so encoding it once and
// copying the bytes afterwards saves most of the per-Record cost of small segments.
let bigValue = -1n;
const bigBytes = new Uint8Array(10);
let bigLength = 0;

function bigVarint(value: bigint): number {
  if (value !== bigValue) {
    let n = 0;
    let rest = value;
    while (rest > 0x7fn) {
      bigBytes[n++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    bigBytes[n++] = Number(rest);
    bigLength = n;
    bigValue = value;
  }
  return bigLength;
}

function varint64Size(value: bigint): number {
  if (value < 0x1_0000_0000n) return varintSize(Number(value));
  return bigVarint(value);
}

/** Size of a length-delimited field with a one-byte tag. */
function ldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

// Allocating a fresh small Uint8Array costs more than encoding a Connect Record, so small outputs
// are carved out of a shared slab, as Node's Buffer.allocUnsafe pool does. The result is an
// exact-length view (use byteOffset/byteLength when going through `.buffer`).
const SLAB_SIZE = 16 * 1024;
const POOLED_MAX = 2 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabOffset = 0;

function allocate(size: number): Uint8Array {
  // Every byte is written by the encoder: skip the zero-fill, which cost more than the copy itself
  // for large Records.
  if (size > POOLED_MAX) return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
  if (slabOffset + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabOffset = 0;
  }
  const view = new Uint8Array(slab, slabOffset, size);
  slabOffset = (slabOffset + size + 7) & ~7;
  return view;
}
// The writers take the output and position and return the new position (locals are faster
// than shared mutable state in hot loops).
function writeVarint(out: Uint8Array, at: number, value: number): number {
  while (value > 0x7f) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

function writeVarint64(out: Uint8Array, at: number, value: bigint): number {
  if (value < 0x1_0000_0000n) return writeVarint(out, at, Number(value));
  const length = bigVarint(value);
  for (let i = 0; i < length; i++) out[at++] = bigBytes[i]!;
  return at;
}

function writeString(out: Uint8Array, at: number, tag: number, text: string, length: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, length);
  if (length === text.length) {
    for (let i = 0; i < length; i++) out[at++] = text.charCodeAt(i);
    return at;
  }
  return at + utf8Encoder.encodeInto(text, out.subarray(at, at + length)).written;
}

function writeBytes(out: Uint8Array, at: number, tag: number, bytes: Uint8Array): number {
  out[at++] = tag;
  at = writeVarint(out, at, bytes.length);
  out.set(bytes, at);
  return at + bytes.length;
}

/** Encodes a validated Record. */
export function encodeValidRecord(record: UspRecord): Uint8Array {
  const versionLength = utf8Length(record.version);
  const toLength = utf8Length(record.toId);
  const fromLength = utf8Length(record.fromId);
  let size = 0;
  if (versionLength > 0) size += ldSize(versionLength);
  if (toLength > 0) size += ldSize(toLength);
  if (fromLength > 0) size += ldSize(fromLength);
  if (record.payloadSecurity !== 0) size += 1 + varintSize(record.payloadSecurity);
  if (record.macSignature.length > 0) size += ldSize(record.macSignature.length);
  if (record.senderCert.length > 0) size += ldSize(record.senderCert.length);

  const recordType = record.recordType;
  let inner = 0;
  let stringLength = 0;
  switch (recordType?.$case) {
    case "noSessionContext":
      if (recordType.value.payload.length > 0) inner = ldSize(recordType.value.payload.length);
      break;
    case "sessionContext": {
      const v = recordType.value;
      if (v.sessionId !== 0n) inner += 1 + varint64Size(v.sessionId);
      if (v.sequenceId !== 0n) inner += 1 + varint64Size(v.sequenceId);
      if (v.expectedId !== 0n) inner += 1 + varint64Size(v.expectedId);
      if (v.retransmitId !== 0n) inner += 1 + varint64Size(v.retransmitId);
      if (v.payloadSarState !== 0) inner += 1 + varintSize(v.payloadSarState);
      if (v.payloadrecSarState !== 0) inner += 1 + varintSize(v.payloadrecSarState);
      for (const p of v.payload) inner += ldSize(p.length);
      break;
    }
    case "mqttConnect":
      stringLength = utf8Length(recordType.value.subscribedTopic);
      if (recordType.value.version !== 0) inner += 1 + varintSize(recordType.value.version);
      if (stringLength > 0) inner += ldSize(stringLength);
      break;
    case "stompConnect":
      stringLength = utf8Length(recordType.value.subscribedDestination);
      if (recordType.value.version !== 0) inner += 1 + varintSize(recordType.value.version);
      if (stringLength > 0) inner += ldSize(stringLength);
      break;
    case "disconnect":
      stringLength = utf8Length(recordType.value.reason);
      if (stringLength > 0) inner += ldSize(stringLength);
      if (recordType.value.reasonCode !== 0) inner += 5;
      break;
    default:
      break;
  }
  if (recordType !== undefined) size += ldSize(inner);

  const out = allocate(size);
  let at = 0;
  if (versionLength > 0) at = writeString(out, at, 0x0a, record.version, versionLength);
  if (toLength > 0) at = writeString(out, at, 0x12, record.toId, toLength);
  if (fromLength > 0) at = writeString(out, at, 0x1a, record.fromId, fromLength);
  if (record.payloadSecurity !== 0) {
    out[at++] = 0x20;
    at = writeVarint(out, at, record.payloadSecurity);
  }
  if (record.macSignature.length > 0) at = writeBytes(out, at, 0x2a, record.macSignature);
  if (record.senderCert.length > 0) at = writeBytes(out, at, 0x32, record.senderCert);

  switch (recordType?.$case) {
    case "noSessionContext":
      out[at++] = 0x3a;
      at = writeVarint(out, at, inner);
      if (recordType.value.payload.length > 0) at = writeBytes(out, at, 0x12, recordType.value.payload);
      break;
    case "sessionContext": {
      const v = recordType.value;
      out[at++] = 0x42;
      at = writeVarint(out, at, inner);
      if (v.sessionId !== 0n) {
        out[at++] = 0x08;
        at = writeVarint64(out, at, v.sessionId);
      }
      if (v.sequenceId !== 0n) {
        out[at++] = 0x10;
        at = writeVarint64(out, at, v.sequenceId);
      }
      if (v.expectedId !== 0n) {
        out[at++] = 0x18;
        at = writeVarint64(out, at, v.expectedId);
      }
      if (v.retransmitId !== 0n) {
        out[at++] = 0x20;
        at = writeVarint64(out, at, v.retransmitId);
      }
      if (v.payloadSarState !== 0) {
        out[at++] = 0x28;
        at = writeVarint(out, at, v.payloadSarState);
      }
      if (v.payloadrecSarState !== 0) {
        out[at++] = 0x30;
        at = writeVarint(out, at, v.payloadrecSarState);
      }
      for (const p of v.payload) at = writeBytes(out, at, 0x3a, p);
      break;
    }
    case "websocketConnect":
      out[at++] = 0x4a;
      out[at++] = 0;
      break;
    case "mqttConnect":
      out[at++] = 0x52;
      at = writeVarint(out, at, inner);
      if (recordType.value.version !== 0) {
        out[at++] = 0x08;
        at = writeVarint(out, at, recordType.value.version);
      }
      if (stringLength > 0) at = writeString(out, at, 0x12, recordType.value.subscribedTopic, stringLength);
      break;
    case "stompConnect":
      out[at++] = 0x5a;
      at = writeVarint(out, at, inner);
      if (recordType.value.version !== 0) {
        out[at++] = 0x08;
        at = writeVarint(out, at, recordType.value.version);
      }
      if (stringLength > 0)
        at = writeString(out, at, 0x12, recordType.value.subscribedDestination, stringLength);
      break;
    case "disconnect": {
      out[at++] = 0x62;
      at = writeVarint(out, at, inner);
      if (stringLength > 0) at = writeString(out, at, 0x0a, recordType.value.reason, stringLength);
      const code = recordType.value.reasonCode;
      if (code !== 0) {
        out[at++] = 0x15;
        out[at++] = code & 0xff;
        out[at++] = (code >>> 8) & 0xff;
        out[at++] = (code >>> 16) & 0xff;
        out[at++] = (code >>> 24) & 0xff;
      }
      break;
    }
    case "udsConnect":
      out[at++] = 0x6a;
      out[at++] = 0;
      break;
    default:
      break;
  }
  if (at !== size) throw new Error(`internal error: encoded ${at} of ${size} bytes`);
  return out;
}
