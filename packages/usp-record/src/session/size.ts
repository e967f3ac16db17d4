/**
 * Exact serialised size of a Session Context Record, without encoding it, so that segmentation can
 * fill every Record up to MaxUSPRecordSize and never past it. The arithmetic follows the protobuf
 * wire format of the 1.4 schema; tests check it against the real encoder.
 */

// 2^7, 2^14, ... 2^63: a varint of a value below VARINT_LIMITS[i] takes i + 1 bytes.
const VARINT_LIMITS = Array.from({ length: 9 }, (_, i) => 1n << BigInt(7 * (i + 1)));

export function varintSize(value: number | bigint): number {
  if (typeof value === "number") return varintSizeNumber(value);
  if (value < 0x10000000n) return varintSizeNumber(Number(value));
  for (let i = 4; i < VARINT_LIMITS.length; i++) if (value < VARINT_LIMITS[i]!) return i + 1;
  return 10;
}

function varintSizeNumber(value: number): number {
  // Lengths are small non-negative integers: avoid bigint arithmetic on the hot path.
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

const utf8 = new TextEncoder();

export function lengthDelimitedSize(length: number): number {
  return 1 + varintSizeNumber(length) + length;
}

export interface RecordHeaderShape {
  readonly version: string;
  readonly toId: string;
  readonly fromId: string;
  readonly payloadSecurity: number;
  /** Bytes reserved for `mac_signature` (0 when none). */
  readonly macLength: number;
  readonly senderCertLength: number;
}

export interface SessionFieldsShape {
  readonly sessionId: bigint;
  readonly sequenceId: bigint;
  readonly expectedId: bigint;
  readonly retransmitId: bigint;
  readonly payloadSarState: number;
  readonly payloadrecSarState: number;
}

/** Size of the Record fields 1-6 (everything outside `session_context`). */
export function recordHeaderSize(h: RecordHeaderShape): number {
  let n = 0;
  for (const s of [h.version, h.toId, h.fromId]) {
    const len = utf8.encode(s).length;
    if (len > 0) n += lengthDelimitedSize(len);
  }
  if (h.payloadSecurity !== 0) n += 1 + varintSizeNumber(h.payloadSecurity);
  if (h.macLength > 0) n += lengthDelimitedSize(h.macLength);
  if (h.senderCertLength > 0) n += lengthDelimitedSize(h.senderCertLength);
  return n;
}

/** Size of the SessionContextRecord fields 1-6 (everything but `payload`). */
export function sessionFieldsSize(s: SessionFieldsShape): number {
  let n = 0;
  for (const v of [s.sessionId, s.sequenceId, s.expectedId, s.retransmitId])
    if (v !== 0n) n += 1 + varintSize(v);
  if (s.payloadSarState !== 0) n += 2;
  if (s.payloadrecSarState !== 0) n += 2;
  return n;
}

/** Whole Record size with one payload element of `payloadLength` bytes (or none when undefined). */
export function sessionRecordSize(
  headerSize: number,
  sessionSize: number,
  payloadLength: number | undefined,
): number {
  const inner = sessionSize + (payloadLength === undefined ? 0 : lengthDelimitedSize(payloadLength));
  return headerSize + lengthDelimitedSize(inner);
}

/**
 * The largest payload element that keeps the Record within `maxRecordSize`, or 0 when not even an
 * empty payload fits.
 */
export function payloadCapacity(headerSize: number, sessionSize: number, maxRecordSize: number): number {
  let guess = maxRecordSize - headerSize - sessionSize - 2 - 2 * 5;
  if (guess < 0) guess = 0;
  if (sessionRecordSize(headerSize, sessionSize, guess) > maxRecordSize) {
    while (guess > 0 && sessionRecordSize(headerSize, sessionSize, guess) > maxRecordSize) guess--;
    return guess;
  }
  while (sessionRecordSize(headerSize, sessionSize, guess + 1) <= maxRecordSize) guess++;
  return guess;
}
