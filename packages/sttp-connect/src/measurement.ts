/** Measurements and the compact measurement format. */
import { CompactFlags, StateFlagMasks, TICKS_PER_MILLISECOND } from "./constants.js";
import { SttpDecodeError } from "./errors.js";
import type { SignalIndexCache } from "./signal-index-cache.js";

/** One time-series value. Values travel as float32 on the wire. */
export interface Measurement {
  /** Signal GUID (lower case). */
  readonly signalId: string;
  readonly value: number;
  /** .NET ticks (100 ns since 0001-01-01). */
  readonly timestamp: bigint;
  /** 32-bit state flags. */
  readonly flags: number;
}

export function compactToStateFlags(compact: number): number {
  let full = 0;
  if (compact & CompactFlags.DataRange) full |= StateFlagMasks.DataRange;
  if (compact & CompactFlags.DataQuality) full |= StateFlagMasks.DataQuality;
  if (compact & CompactFlags.TimeQuality) full |= StateFlagMasks.TimeQuality;
  if (compact & CompactFlags.SystemIssue) full |= StateFlagMasks.SystemIssue;
  if (compact & CompactFlags.CalculatedValue) full |= StateFlagMasks.CalculatedValue;
  if (compact & CompactFlags.DiscardedValue) full |= StateFlagMasks.DiscardedValue;
  return full >>> 0;
}

export function stateToCompactFlags(full: number): number {
  let compact = 0;
  if (full & StateFlagMasks.DataRange) compact |= CompactFlags.DataRange;
  if (full & StateFlagMasks.DataQuality) compact |= CompactFlags.DataQuality;
  if (full & StateFlagMasks.TimeQuality) compact |= CompactFlags.TimeQuality;
  if (full & StateFlagMasks.SystemIssue) compact |= CompactFlags.SystemIssue;
  if (full & StateFlagMasks.CalculatedValue) compact |= CompactFlags.CalculatedValue;
  if (full & StateFlagMasks.DiscardedValue) compact |= CompactFlags.DiscardedValue;
  return compact;
}

/** Settings shared by encoder and decoder of compact measurements. */
export interface CompactFormat {
  readonly includeTime: boolean;
  readonly useMillisecondResolution: boolean;
  /** Base times in ticks for time index 0 and 1; 0 means "no base time". */
  readonly baseTimeOffsets: readonly [bigint, bigint];
  /** Active time index for encoding. */
  readonly timeIndex?: 0 | 1;
}

const MAX_UINT32 = 0xffffffffn;
const MAX_UINT16 = 0xffffn;

/** Size in bytes of one compact measurement with this timestamp. */
export function compactMeasurementSize(timestamp: bigint, format: CompactFormat): number {
  if (!format.includeTime) return 9;
  const base = format.baseTimeOffsets[format.timeIndex ?? 0];
  if (base > 0n) {
    const difference = timestamp - base;
    if (difference > 0n) {
      if (format.useMillisecondResolution) {
        if (difference / TICKS_PER_MILLISECOND < MAX_UINT16) return 11;
      } else if (difference < MAX_UINT32) return 13;
    }
  }
  return 17;
}

/** Writes one compact measurement at `offset`; returns the new offset. */
export function writeCompactMeasurement(
  out: Buffer,
  offset: number,
  runtimeIndex: number,
  m: Measurement,
  format: CompactFormat,
): number {
  const timeIndex = format.timeIndex ?? 0;
  const size = compactMeasurementSize(m.timestamp, format);
  let flags = stateToCompactFlags(m.flags);
  if (timeIndex !== 0) flags |= CompactFlags.TimeIndex;
  if (size === 11 || size === 13) flags |= CompactFlags.BaseTimeOffset;
  out[offset] = flags;
  out.writeInt32BE(runtimeIndex, offset + 1);
  out.writeFloatBE(m.value, offset + 5);
  const base = format.baseTimeOffsets[timeIndex];
  if (size === 17) out.writeBigInt64BE(BigInt.asIntN(64, m.timestamp), offset + 9);
  else if (size === 13) out.writeUInt32BE(Number(m.timestamp - base), offset + 9);
  else if (size === 11) out.writeUInt16BE(Number((m.timestamp - base) / TICKS_PER_MILLISECOND), offset + 9);
  return offset + size;
}

/**
 * Decodes `count` compact measurements from `data` (which starts right after the packet's count field).
 * Unknown runtime indexes and truncation raise {@link SttpDecodeError}.
 */
export function decodeCompactMeasurements(
  data: Uint8Array,
  count: number,
  cache: SignalIndexCache,
  format: CompactFormat,
): Measurement[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = data.byteLength;
  const out: Measurement[] = new Array(count);
  const includeTime = format.includeTime;
  const ms = format.useMillisecondResolution;
  const bases = format.baseTimeOffsets;
  let o = 0;
  for (let i = 0; i < count; i++) {
    if (o + 9 > end) throw new SttpDecodeError(`compact measurement ${i} of ${count} truncated`);
    const flags = view.getUint8(o);
    const runtimeIndex = view.getInt32(o + 1);
    const value = view.getFloat32(o + 5);
    o += 9;
    const entry = cache.byIndex(runtimeIndex);
    if (entry === undefined)
      throw new SttpDecodeError(`runtime index ${runtimeIndex} is not in the signal index cache`);
    let timestamp = 0n;
    if (includeTime) {
      if (flags & CompactFlags.BaseTimeOffset) {
        const base = bases[flags & CompactFlags.TimeIndex ? 1 : 0];
        if (ms) {
          if (o + 2 > end) throw new SttpDecodeError(`compact measurement ${i} timestamp truncated`);
          if (base > 0n) timestamp = base + BigInt(view.getUint16(o)) * TICKS_PER_MILLISECOND;
          o += 2;
        } else {
          if (o + 4 > end) throw new SttpDecodeError(`compact measurement ${i} timestamp truncated`);
          if (base > 0n) timestamp = base + BigInt(view.getUint32(o));
          o += 4;
        }
      } else {
        if (o + 8 > end) throw new SttpDecodeError(`compact measurement ${i} timestamp truncated`);
        timestamp = view.getBigUint64(o);
        o += 8;
      }
    }
    out[i] = { signalId: entry.signalId, value, timestamp, flags: compactToStateFlags(flags) };
  }
  if (o !== end) throw new SttpDecodeError(`${end - o} trailing bytes after ${count} compact measurements`);
  return out;
}
