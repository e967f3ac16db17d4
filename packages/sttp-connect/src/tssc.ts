/**
 * TSSC (Time-Series Special Compression), the stateful measurement compression of STTP.
 * The algorithm exists only as code in the reference implementations; this is an independent
 * TypeScript implementation of the same bit stream (code words, adaptive prefix modes, XOR and
 * delta coding, 7-bit varints). Encoder and decoder keep state across packets; both reset together
 * (sequence number 0).
 */
import { SttpDecodeError } from "./errors.js";

/** Code words as the implementations put them on the wire. */
export const TsscCode = {
  EndOfStream: 0,
  PointIdXor4: 1,
  PointIdXor8: 2,
  PointIdXor12: 3,
  PointIdXor16: 4,
  PointIdXor20: 5,
  PointIdXor24: 6,
  PointIdXor32: 7,
  TimeDelta1Forward: 8,
  TimeDelta2Forward: 9,
  TimeDelta3Forward: 10,
  TimeDelta4Forward: 11,
  TimeDelta1Reverse: 12,
  TimeDelta2Reverse: 13,
  TimeDelta3Reverse: 14,
  TimeDelta4Reverse: 15,
  Timestamp2: 16,
  TimeXor7Bit: 17,
  StateFlags2: 18,
  StateFlags7Bit32: 19,
  Value1: 20,
  Value2: 21,
  Value3: 22,
  ValueZero: 23,
  ValueXor4: 24,
  ValueXor8: 25,
  ValueXor12: 26,
  ValueXor16: 27,
  ValueXor20: 28,
  ValueXor24: 29,
  ValueXor28: 30,
  ValueXor32: 31,
} as const;

const C = TsscCode;
const INT64_MAX = 0x7fffffffffffffffn;

/** Per-point coding state: previous values and the adaptive code-word prefix mode. */
class PointState {
  prevNextPointId = 0;
  prevFlags1 = 0;
  prevFlags2 = 0;
  prevValue1 = 0;
  prevValue2 = 0;
  prevValue3 = 0;
  readonly stats = new Uint8Array(32);
  sinceChange = 0;
  mode = 4;
  mode21 = 0;
  mode31 = 0;
  mode301 = 0;
  mode41: number = C.Value1;
  mode401: number = C.Value2;
  mode4001: number = C.Value3;
  startupMode = 0;

  record(code: number): void {
    this.sinceChange++;
    this.stats[code] = ((this.stats[code] as number) + 1) & 0xff;
    if (this.startupMode === 0 && this.sinceChange > 5) {
      this.startupMode++;
      this.adapt();
    } else if (this.startupMode === 1 && this.sinceChange > 20) {
      this.startupMode++;
      this.adapt();
    } else if (this.startupMode === 2 && this.sinceChange > 100) {
      this.adapt();
    }
  }

  /** Picks the prefix mode that would have coded the recent code words in the fewest bits. */
  adapt(): void {
    let code1 = 0;
    let count1 = 0;
    let code2 = 1;
    let count2 = 0;
    let code3 = 2;
    let count3 = 0;
    let total = 0;
    const stats = this.stats;
    for (let i = 0; i < 32; i++) {
      const count = stats[i] as number;
      stats[i] = 0;
      total += count;
      if (count > count3) {
        if (count > count1) {
          code3 = code2;
          count3 = count2;
          code2 = code1;
          count2 = count1;
          code1 = i;
          count1 = count;
        } else if (count > count2) {
          code3 = code2;
          count3 = count2;
          code2 = i;
          count2 = count;
        } else {
          code3 = i;
          count3 = count;
        }
      }
    }
    const mode1 = total * 5;
    const mode2 = count1 + (total - count1) * 6;
    const mode3 = count1 + count2 * 2 + (total - count1 - count2) * 7;
    const mode4 = count1 + count2 * 2 + count3 * 3 + (total - count1 - count2 - count3) * 8;
    const min = Math.min(mode1, mode2, mode3, mode4);
    if (min === mode1) this.mode = 1;
    else if (min === mode2) {
      this.mode = 2;
      this.mode21 = code1;
    } else if (min === mode3) {
      this.mode = 3;
      this.mode31 = code1;
      this.mode301 = code2;
    } else {
      this.mode = 4;
      this.mode41 = code1;
      this.mode401 = code2;
      this.mode4001 = code3;
    }
    this.sinceChange = 0;
  }
}

/** Float32 ↔ uint32 bit reinterpretation. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export interface TsscMeasurement {
  readonly id: number;
  readonly timestamp: bigint;
  readonly flags: number;
  readonly value: number;
}

/** Stateful TSSC decoder. Call {@link reset} when a packet with sequence number 0 arrives. */
export class TsscDecoder {
  #data: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #end = 0;
  #prevTs1 = 0n;
  #prevTs2 = 0n;
  #delta1 = INT64_MAX;
  #delta2 = INT64_MAX;
  #delta3 = INT64_MAX;
  #delta4 = INT64_MAX;
  #last = new PointState();
  #points = new Map<number, PointState>();
  #dense: (PointState | undefined)[] = [];
  #bitCount = 0;
  #bitCache = 0;
  /** Sequence number expected next. */
  sequenceNumber = 0;

  reset(): void {
    this.#prevTs1 = 0n;
    this.#prevTs2 = 0n;
    this.#delta1 = this.#delta2 = this.#delta3 = this.#delta4 = INT64_MAX;
    this.#last = new PointState();
    this.#points = new Map();
    this.#dense = [];
    this.#bitCount = 0;
    this.#bitCache = 0;
    this.sequenceNumber = 0;
  }

  setBuffer(data: Uint8Array): void {
    this.#bitCount = 0;
    this.#bitCache = 0;
    this.#data = data;
    this.#pos = 0;
    this.#end = data.length;
  }

  /** Decodes every measurement of the current buffer. */
  decodeAll(onMeasurement: (id: number, timestamp: bigint, flags: number, value: number) => void): number {
    let n = 0;
    while (this.#next(onMeasurement)) n++;
    return n;
  }

  #fail(message: string): never {
    throw new SttpDecodeError(`TSSC: ${message} at byte ${this.#pos} of ${this.#end}`);
  }

  #byte(): number {
    if (this.#pos >= this.#end) this.#fail("stream truncated");
    return this.#data[this.#pos++] as number;
  }

  #bit(): number {
    if (this.#bitCount === 0) {
      this.#bitCount = 8;
      this.#bitCache = this.#byte();
    }
    this.#bitCount--;
    return (this.#bitCache >> this.#bitCount) & 1;
  }

  /** Reads `n` ≤ 8 bits at once; a new byte is fetched exactly when bit-by-bit reading would fetch it. */
  #bits(n: number): number {
    const count = this.#bitCount;
    if (count >= n) {
      this.#bitCount = count - n;
      return (this.#bitCache >> this.#bitCount) & ((1 << n) - 1);
    }
    const high = this.#bitCache & ((1 << count) - 1);
    const rest = n - count;
    this.#bitCache = this.#byte();
    this.#bitCount = 8 - rest;
    return (high << rest) | ((this.#bitCache >> this.#bitCount) & ((1 << rest) - 1));
  }

  #bits4(): number {
    return this.#bits(4);
  }

  #bits5(): number {
    return this.#bits(5);
  }

  #readCode(p: PointState): number {
    let code: number;
    switch (p.mode) {
      case 1:
        code = this.#bits5();
        break;
      case 2:
        code = this.#bit() === 1 ? p.mode21 : this.#bits5();
        break;
      case 3:
        code = this.#bit() === 1 ? p.mode31 : this.#bit() === 1 ? p.mode301 : this.#bits5();
        break;
      default:
        code =
          this.#bit() === 1
            ? p.mode41
            : this.#bit() === 1
              ? p.mode401
              : this.#bit() === 1
                ? p.mode4001
                : this.#bits5();
    }
    p.record(code);
    return code;
  }

  #varint32(): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.#byte();
      if (i === 4) return (value + b * 2 ** shift) >>> 0;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value >>> 0;
      shift += 7;
    }
    return value >>> 0;
  }

  #varint64(): bigint {
    let low = 0;
    let shift = 0;
    // First 4 groups (28 bits) in plain arithmetic; the rest in bigint (rare: large time jumps).
    for (let i = 0; i < 4; i++) {
      const b = this.#byte();
      low += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return BigInt(low);
      shift += 7;
    }
    let value = BigInt(low);
    let bshift = 28n;
    for (let i = 4; i < 9; i++) {
      const b = this.#byte();
      if (i === 8) return BigInt.asUintN(64, value | (BigInt(b) << bshift));
      value |= BigInt(b & 0x7f) << bshift;
      if (b < 0x80) return value;
      bshift += 7n;
    }
    return value;
  }

  #point(id: number): PointState {
    let p = id >= 0 && id < 65536 ? this.#dense[id] : this.#points.get(id);
    if (p === undefined) {
      p = new PointState();
      p.prevNextPointId = (id + 1) | 0;
      if (id >= 0 && id < 65536) this.#dense[id] = p;
      else this.#points.set(id, p);
    }
    return p;
  }

  #next(emit: (id: number, timestamp: bigint, flags: number, value: number) => void): boolean {
    if (this.#pos === this.#end && this.#bitCount === 0) return false;
    const last = this.#last;
    let code = this.#readCode(last);
    if (code === C.EndOfStream) {
      this.#bitCount = 0;
      this.#bitCache = 0;
      return false;
    }
    if (code <= C.PointIdXor32) {
      this.#decodePointId(code, last);
      code = this.#readCode(last);
      if (code < C.TimeDelta1Forward) this.#fail(`expected a time code, got ${code}`);
    }
    const id = last.prevNextPointId;
    const point = this.#point(id);
    let timestamp: bigint;
    if (code <= C.TimeXor7Bit) {
      timestamp = this.#decodeTimestamp(code);
      code = this.#readCode(last);
      if (code < C.StateFlags2) this.#fail(`expected a state flags code, got ${code}`);
    } else {
      timestamp = this.#prevTs1;
    }
    let flags: number;
    if (code <= C.StateFlags7Bit32) {
      flags = code === C.StateFlags2 ? point.prevFlags2 : this.#varint32();
      point.prevFlags2 = point.prevFlags1;
      point.prevFlags1 = flags;
      code = this.#readCode(last);
      if (code < C.Value1) this.#fail(`expected a value code, got ${code}`);
    } else {
      flags = point.prevFlags1;
    }
    let raw: number;
    if (code === C.Value1) {
      raw = point.prevValue1;
    } else if (code === C.Value2) {
      raw = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = raw;
    } else if (code === C.Value3) {
      raw = point.prevValue3;
      point.prevValue3 = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = raw;
    } else if (code === C.ValueZero) {
      raw = 0;
      point.prevValue3 = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = 0;
    } else {
      raw = (this.#readXor(code - C.ValueXor4) ^ point.prevValue1) >>> 0;
      point.prevValue3 = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = raw;
    }
    u32[0] = raw;
    this.#last = point;
    emit(id, timestamp, flags, f32[0] as number);
    return true;
  }

  /** Reads an XOR operand of class k (0 → 4 bits, 1 → 8, … 7 → 32 bits): odd nibble from the bit stream, bytes little-endian. */
  #readXor(k: number): number {
    switch (k) {
      case 0:
        return this.#bits4();
      case 1:
        return this.#byte();
      case 2:
        return this.#bits4() | (this.#byte() << 4);
      case 3:
        return this.#byte() | (this.#byte() << 8);
      case 4:
        return this.#bits4() | (this.#byte() << 4) | (this.#byte() << 12);
      case 5:
        return this.#byte() | (this.#byte() << 8) | (this.#byte() << 16);
      case 6:
        return (this.#bits4() | (this.#byte() << 4) | (this.#byte() << 12) | (this.#byte() << 20)) >>> 0;
      default:
        return (this.#byte() | (this.#byte() << 8) | (this.#byte() << 16) | (this.#byte() << 24)) >>> 0;
    }
  }

  #decodePointId(code: number, last: PointState): void {
    last.prevNextPointId = (this.#readXor(code - C.PointIdXor4) ^ last.prevNextPointId) | 0;
  }

  #decodeTimestamp(code: number): bigint {
    const prev = this.#prevTs1;
    let ts: bigint;
    switch (code) {
      case C.TimeDelta1Forward:
        ts = prev + this.#delta1;
        break;
      case C.TimeDelta2Forward:
        ts = prev + this.#delta2;
        break;
      case C.TimeDelta3Forward:
        ts = prev + this.#delta3;
        break;
      case C.TimeDelta4Forward:
        ts = prev + this.#delta4;
        break;
      case C.TimeDelta1Reverse:
        ts = prev - this.#delta1;
        break;
      case C.TimeDelta2Reverse:
        ts = prev - this.#delta2;
        break;
      case C.TimeDelta3Reverse:
        ts = prev - this.#delta3;
        break;
      case C.TimeDelta4Reverse:
        ts = prev - this.#delta4;
        break;
      case C.Timestamp2:
        ts = this.#prevTs2;
        break;
      default:
        ts = BigInt.asIntN(64, prev ^ this.#varint64());
    }
    ts = BigInt.asIntN(64, ts);
    this.#recordDelta(prev, ts);
    return ts;
  }

  #recordDelta(prev: bigint, ts: bigint): void {
    let d = prev - ts;
    if (d < 0n) d = -d;
    d = BigInt.asIntN(64, d);
    if (d < this.#delta4 && d !== this.#delta1 && d !== this.#delta2 && d !== this.#delta3) {
      if (d < this.#delta1) {
        this.#delta4 = this.#delta3;
        this.#delta3 = this.#delta2;
        this.#delta2 = this.#delta1;
        this.#delta1 = d;
      } else if (d < this.#delta2) {
        this.#delta4 = this.#delta3;
        this.#delta3 = this.#delta2;
        this.#delta2 = d;
      } else if (d < this.#delta3) {
        this.#delta4 = this.#delta3;
        this.#delta3 = d;
      } else {
        this.#delta4 = d;
      }
    }
    this.#prevTs2 = this.#prevTs1;
    this.#prevTs1 = ts;
  }
}

/** Stateful TSSC encoder. */
export class TsscEncoder {
  #data: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #end = 0;
  #prevTs1 = 0n;
  #prevTs2 = 0n;
  #delta1 = INT64_MAX;
  #delta2 = INT64_MAX;
  #delta3 = INT64_MAX;
  #delta4 = INT64_MAX;
  #last = new PointState();
  #points = new Map<number, PointState>();
  #dense: (PointState | undefined)[] = [];
  #bitIndex = -1;
  #bitCount = 0;
  #bitCache = 0;
  /** Sequence number of the next packet (0 = decoder resets). */
  sequenceNumber = 0;

  reset(): void {
    this.#prevTs1 = 0n;
    this.#prevTs2 = 0n;
    this.#delta1 = this.#delta2 = this.#delta3 = this.#delta4 = INT64_MAX;
    this.#last = new PointState();
    this.#points = new Map();
    this.#dense = [];
    this.#clearBits();
    this.sequenceNumber = 0;
  }

  /** Starts a block written into `data[start, start + length)`. */
  setBuffer(data: Uint8Array, start: number, length: number): void {
    this.#clearBits();
    this.#data = data;
    this.#pos = start;
    this.#end = start + length;
  }

  /** Ends the block (flushes the bit stream) and returns the position after the last byte written. */
  finishBlock(): number {
    this.#flushBits();
    return this.#pos;
  }

  /** Adds a measurement; returns false when fewer than 100 bytes remain (the block is full). */
  tryAdd(id: number, timestamp: bigint, flags: number, value: number): boolean {
    if (this.#end - this.#pos < 100) return false;
    let point = id >= 0 && id < 65536 ? this.#dense[id] : this.#points.get(id);
    if (point === undefined) {
      point = new PointState();
      point.prevNextPointId = (id + 1) | 0;
      if (id >= 0 && id < 65536) this.#dense[id] = point;
      else this.#points.set(id, point);
    }
    const last = this.#last;
    if (last.prevNextPointId !== id) this.#writePointId(id, last);
    if (this.#prevTs1 !== timestamp) this.#writeTimestamp(timestamp, last);
    flags >>>= 0;
    if (point.prevFlags1 !== flags) {
      if (point.prevFlags2 === flags) this.#writeCode(last, C.StateFlags2);
      else {
        this.#writeCode(last, C.StateFlags7Bit32);
        this.#varint32(flags);
      }
      point.prevFlags2 = point.prevFlags1;
      point.prevFlags1 = flags;
    }
    f32[0] = value;
    const raw = u32[0] as number;
    if (point.prevValue1 === raw) {
      this.#writeCode(last, C.Value1);
    } else if (point.prevValue2 === raw) {
      this.#writeCode(last, C.Value2);
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = raw;
    } else if (point.prevValue3 === raw) {
      this.#writeCode(last, C.Value3);
      point.prevValue3 = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = raw;
    } else if (raw === 0) {
      this.#writeCode(last, C.ValueZero);
      point.prevValue3 = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = 0;
    } else {
      this.#writeXor(last, C.ValueXor4, (raw ^ point.prevValue1) >>> 0);
      point.prevValue3 = point.prevValue2;
      point.prevValue2 = point.prevValue1;
      point.prevValue1 = raw;
    }
    this.#last = point;
    return true;
  }

  #writeXor(last: PointState, baseCode: number, bits: number): void {
    const d = this.#data;
    if (bits <= 0xf) {
      this.#writeCode(last, baseCode);
      this.#writeBits(bits & 15, 4);
    } else if (bits <= 0xff) {
      this.#writeCode(last, baseCode + 1);
      d[this.#pos++] = bits;
    } else if (bits <= 0xfff) {
      this.#writeCode(last, baseCode + 2);
      this.#writeBits(bits & 15, 4);
      d[this.#pos++] = bits >>> 4;
    } else if (bits <= 0xffff) {
      this.#writeCode(last, baseCode + 3);
      d[this.#pos++] = bits;
      d[this.#pos++] = bits >>> 8;
    } else if (bits <= 0xfffff) {
      this.#writeCode(last, baseCode + 4);
      this.#writeBits(bits & 15, 4);
      d[this.#pos++] = bits >>> 4;
      d[this.#pos++] = bits >>> 12;
    } else if (bits <= 0xffffff) {
      this.#writeCode(last, baseCode + 5);
      d[this.#pos++] = bits;
      d[this.#pos++] = bits >>> 8;
      d[this.#pos++] = bits >>> 16;
    } else if (bits <= 0xfffffff) {
      this.#writeCode(last, baseCode + 6);
      this.#writeBits(bits & 15, 4);
      d[this.#pos++] = bits >>> 4;
      d[this.#pos++] = bits >>> 12;
      d[this.#pos++] = bits >>> 20;
    } else {
      this.#writeCode(last, baseCode + 7);
      d[this.#pos++] = bits;
      d[this.#pos++] = bits >>> 8;
      d[this.#pos++] = bits >>> 16;
      d[this.#pos++] = bits >>> 24;
    }
  }

  #writePointId(id: number, last: PointState): void {
    this.#writeXor(last, C.PointIdXor4, (id ^ last.prevNextPointId) >>> 0);
    last.prevNextPointId = id;
  }

  #writeTimestamp(ts: bigint, last: PointState): void {
    const prev = this.#prevTs1;
    if (this.#prevTs2 === ts) this.#writeCode(last, C.Timestamp2);
    else if (prev < ts) {
      if (prev + this.#delta1 === ts) this.#writeCode(last, C.TimeDelta1Forward);
      else if (prev + this.#delta2 === ts) this.#writeCode(last, C.TimeDelta2Forward);
      else if (prev + this.#delta3 === ts) this.#writeCode(last, C.TimeDelta3Forward);
      else if (prev + this.#delta4 === ts) this.#writeCode(last, C.TimeDelta4Forward);
      else {
        this.#writeCode(last, C.TimeXor7Bit);
        this.#varint64(BigInt.asUintN(64, ts ^ prev));
      }
    } else {
      if (prev - this.#delta1 === ts) this.#writeCode(last, C.TimeDelta1Reverse);
      else if (prev - this.#delta2 === ts) this.#writeCode(last, C.TimeDelta2Reverse);
      else if (prev - this.#delta3 === ts) this.#writeCode(last, C.TimeDelta3Reverse);
      else if (prev - this.#delta4 === ts) this.#writeCode(last, C.TimeDelta4Reverse);
      else {
        this.#writeCode(last, C.TimeXor7Bit);
        this.#varint64(BigInt.asUintN(64, ts ^ prev));
      }
    }
    let d = prev - ts;
    if (d < 0n) d = -d;
    d = BigInt.asIntN(64, d);
    if (d < this.#delta4 && d !== this.#delta1 && d !== this.#delta2 && d !== this.#delta3) {
      if (d < this.#delta1) {
        this.#delta4 = this.#delta3;
        this.#delta3 = this.#delta2;
        this.#delta2 = this.#delta1;
        this.#delta1 = d;
      } else if (d < this.#delta2) {
        this.#delta4 = this.#delta3;
        this.#delta3 = this.#delta2;
        this.#delta2 = d;
      } else if (d < this.#delta3) {
        this.#delta4 = this.#delta3;
        this.#delta3 = d;
      } else {
        this.#delta4 = d;
      }
    }
    this.#prevTs2 = prev;
    this.#prevTs1 = ts;
  }

  #varint32(value: number): void {
    const d = this.#data;
    let v = value >>> 0;
    for (let i = 0; i < 4; i++) {
      if (v < 0x80) {
        d[this.#pos++] = v;
        return;
      }
      d[this.#pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    d[this.#pos++] = v;
  }

  #varint64(value: bigint): void {
    const d = this.#data;
    let v = value;
    for (let i = 0; i < 8; i++) {
      if (v < 0x80n) {
        d[this.#pos++] = Number(v);
        return;
      }
      d[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    d[this.#pos++] = Number(v & 0xffn);
  }

  #writeCode(p: PointState, code: number): void {
    switch (p.mode) {
      case 1:
        this.#writeBits(code, 5);
        break;
      case 2:
        if (code === p.mode21) this.#writeBits(1, 1);
        else this.#writeBits(code, 6);
        break;
      case 3:
        if (code === p.mode31) this.#writeBits(1, 1);
        else if (code === p.mode301) this.#writeBits(1, 2);
        else this.#writeBits(code, 7);
        break;
      default:
        if (code === p.mode41) this.#writeBits(1, 1);
        else if (code === p.mode401) this.#writeBits(1, 2);
        else if (code === p.mode4001) this.#writeBits(1, 3);
        else this.#writeBits(code, 8);
    }
    p.record(code);
  }

  #clearBits(): void {
    this.#bitIndex = -1;
    this.#bitCount = 0;
    this.#bitCache = 0;
  }

  // Bits fill a byte reserved in the stream at the moment its first bit is written, so the decoder
  // meets each bit byte exactly where it first needs a bit.
  #writeBits(code: number, length: number): void {
    if (this.#bitIndex < 0) this.#bitIndex = this.#pos++;
    this.#bitCache = (this.#bitCache << length) | code;
    this.#bitCount += length;
    if (this.#bitCount > 7) this.#drainBits();
  }

  #drainBits(): void {
    while (this.#bitCount > 7) {
      this.#data[this.#bitIndex] = (this.#bitCache >> (this.#bitCount - 8)) & 0xff;
      this.#bitCount -= 8;
      this.#bitCache &= (1 << this.#bitCount) - 1;
      this.#bitIndex = this.#bitCount > 0 ? this.#pos++ : -1;
    }
  }

  #flushBits(): void {
    if (this.#bitCount <= 0) return;
    if (this.#bitIndex < 0) this.#bitIndex = this.#pos++;
    this.#writeCode(this.#last, C.EndOfStream);
    if (this.#bitCount > 7) this.#drainBits();
    if (this.#bitCount <= 0) return;
    this.#data[this.#bitIndex] = (this.#bitCache << (8 - this.#bitCount)) & 0xff;
    this.#clearBits();
  }
}
