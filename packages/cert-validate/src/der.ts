/**
 * A strict DER reader (X.690 distinguished encoding). Hand-written because certificate validation
 * needs the exact original bytes of every element (signatures are over the TBS as sent, name
 * constraints compare raw IP bytes) and must reject non-canonical encodings that tolerant BER
 * decoders accept. Every read is bounds-checked; errors are {@link CertParseError}.
 */
import { CertParseError } from "./errors.js";

export interface Tlv {
  /** Full identifier octet (class, constructed bit, tag number < 31). */
  readonly tag: number;
  /** Start of the whole element (identifier octet). */
  readonly start: number;
  /** Start of the content. */
  readonly valueStart: number;
  /** End (exclusive) of the element. */
  readonly end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  T61: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL: 0x1c,
  BMP: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads one TLV at `pos`, not beyond `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new CertParseError("DER: truncated element");
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new CertParseError("DER: high tag numbers are not supported");
  let len = buf[pos + 1]!;
  let off = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new CertParseError("DER: indefinite length is not DER");
    if (n > 4) throw new CertParseError("DER: length too large");
    if (off + n > limit) throw new CertParseError("DER: truncated length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + i]!;
    if (buf[off] === 0) throw new CertParseError("DER: non-minimal length");
    if (len < 0x80) throw new CertParseError("DER: non-minimal length");
    off += n;
  }
  const end = off + len;
  if (end > limit) throw new CertParseError("DER: element longer than its container");
  return { tag, start: pos, valueStart: off, end };
}

/** Reads the children of a constructed element. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.valueStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Reads exactly one top-level element spanning the whole buffer. */
export function readRoot(buf: Uint8Array): Tlv {
  const t = readTlv(buf, 0, buf.length);
  if (t.end !== buf.length) throw new CertParseError("DER: trailing data after the element");
  return t;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new CertParseError(`DER: expected ${what}`);
  return t;
}

export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.valueStart, t.end);
}

export function whole(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function readOid(buf: Uint8Array, t: Tlv): string {
  expectTag(t, TAG.OID, "OBJECT IDENTIFIER");
  const parts: number[] = [];
  let v = 0;
  let first = true;
  if (t.end === t.valueStart) throw new CertParseError("DER: empty OID");
  for (let i = t.valueStart; i < t.end; i++) {
    const b = buf[i]!;
    if (v === 0 && b === 0x80) throw new CertParseError("DER: non-minimal OID arc");
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new CertParseError("DER: OID arc too large");
    if (!(b & 0x80)) {
      if (first) {
        const a = v < 40 ? 0 : v < 80 ? 1 : 2;
        parts.push(a, v - a * 40);
        first = false;
      } else parts.push(v);
      v = 0;
    } else if (i === t.end - 1) throw new CertParseError("DER: truncated OID");
  }
  return parts.join(".");
}

export function readBoolean(buf: Uint8Array, t: Tlv): boolean {
  expectTag(t, TAG.BOOLEAN, "BOOLEAN");
  if (t.end - t.valueStart !== 1) throw new CertParseError("DER: BOOLEAN length");
  const b = buf[t.valueStart];
  if (b === 0xff) return true;
  if (b === 0) return false;
  throw new CertParseError("DER: BOOLEAN must be 0x00 or 0xFF");
}

/** INTEGER content bytes, checked for minimal encoding. */
export function readIntegerBytes(buf: Uint8Array, t: Tlv, tag: number = TAG.INTEGER): Uint8Array {
  expectTag(t, tag, "INTEGER");
  const c = content(buf, t);
  if (c.length === 0) throw new CertParseError("DER: empty INTEGER");
  if (c.length > 1 && ((c[0] === 0 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80)))
    throw new CertParseError("DER: non-minimal INTEGER");
  return c;
}

/** Small non-negative INTEGER as a number. */
export function readSmallInt(buf: Uint8Array, t: Tlv, tag: number = TAG.INTEGER): number {
  const c = readIntegerBytes(buf, t, tag);
  if (c[0]! & 0x80) throw new CertParseError("DER: negative INTEGER where a count is expected");
  if (c.length > 6) throw new CertParseError("DER: INTEGER too large");
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** BIT STRING: returns the bytes after the unused-bits octet and the unused-bit count. */
export function readBitString(buf: Uint8Array, t: Tlv): { bytes: Uint8Array; unused: number } {
  expectTag(t, TAG.BIT_STRING, "BIT STRING");
  const c = content(buf, t);
  if (c.length === 0) throw new CertParseError("DER: empty BIT STRING");
  const unused = c[0]!;
  if (unused > 7 || (c.length === 1 && unused !== 0)) throw new CertParseError("DER: bad BIT STRING padding");
  const bytes = c.subarray(1);
  if (unused && bytes.length && bytes[bytes.length - 1]! & ((1 << unused) - 1))
    throw new CertParseError("DER: BIT STRING padding bits must be zero");
  return { bytes, unused };
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a string type; returns undefined for types without a text form. */
export function readString(buf: Uint8Array, t: Tlv): string | undefined {
  const c = content(buf, t);
  switch (t.tag) {
    case TAG.UTF8:
      try {
        return utf8.decode(c);
      } catch (cause) {
        throw new CertParseError("DER: invalid UTF8String", { cause });
      }
    case TAG.PRINTABLE:
    case TAG.IA5:
    case TAG.T61:
    case 0x1a: // VisibleString
    case 0x12: // NumericString
      return latin1.decode(c);
    case TAG.BMP: {
      if (c.length % 2) throw new CertParseError("DER: odd BMPString");
      let s = "";
      for (let i = 0; i < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
      return s;
    }
    case TAG.UNIVERSAL: {
      if (c.length % 4) throw new CertParseError("DER: bad UniversalString");
      let s = "";
      for (let i = 0; i < c.length; i += 4)
        s += String.fromCodePoint(((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0);
      return s;
    }
    default:
      return undefined;
  }
}

/** Parses UTCTime / GeneralizedTime into milliseconds since the epoch (DER forms only: `Z`, no fraction). */
export function readTime(buf: Uint8Array, t: Tlv | undefined): number {
  if (!t) throw new CertParseError("DER: expected a time");
  const s = latin1.decode(content(buf, t));
  let m: RegExpExecArray | null;
  let year: number;
  let rest: string;
  if (t.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{10})Z$/.exec(s);
    if (!m) throw new CertParseError(`DER: bad UTCTime ${JSON.stringify(s)}`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = m[2]!;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{10})Z$/.exec(s);
    if (!m) throw new CertParseError(`DER: bad GeneralizedTime ${JSON.stringify(s)}`);
    year = Number(m[1]);
    rest = m[2]!;
  } else throw new CertParseError("DER: expected a time");
  const mo = Number(rest.slice(0, 2));
  const d = Number(rest.slice(2, 4));
  const h = Number(rest.slice(4, 6));
  const mi = Number(rest.slice(6, 8));
  const se = Number(rest.slice(8, 10));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
    throw new CertParseError(`DER: time out of range ${JSON.stringify(s)}`);
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  if (new Date(ms).getUTCDate() !== d) throw new CertParseError(`DER: no such date ${JSON.stringify(s)}`);
  return ms;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
