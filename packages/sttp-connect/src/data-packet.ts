/** DataPacket payloads: `[flags][uint32 count][compact measurements | TSSC block]`. */
import { DataPacketFlags, TSSC_VERSION } from "./constants.js";
import { SttpDecodeError } from "./errors.js";
import {
  type CompactFormat,
  compactMeasurementSize,
  type Measurement,
  stateToCompactFlags,
} from "./measurement.js";
import type { SignalIndexCache } from "./signal-index-cache.js";
import type { TsscDecoder, TsscEncoder } from "./tssc.js";

/** Result of decoding a TSSC packet: measurements, or `skipped` when the sequence is out of order. */
export interface TsscPacketResult {
  readonly measurements: Measurement[];
  /** True when the packet was ignored (out of sequence, waiting for a reset). */
  readonly skipped: boolean;
  /** True when this packet (sequence 0) reset the decoder. */
  readonly reset: boolean;
  readonly sequence: number;
}

/**
 * Decodes a TSSC block `[85][uint16 sequence][bit stream]`. Sequence 0 resets the decoder; any other
 * sequence than the expected one is ignored until the next reset.
 */
export function decodeTsscPacket(
  body: Uint8Array,
  count: number,
  cache: SignalIndexCache,
  decoder: TsscDecoder,
): TsscPacketResult {
  if (body.length < 3) throw new SttpDecodeError("TSSC packet shorter than its 3-byte header");
  if (body[0] !== TSSC_VERSION)
    throw new SttpDecodeError(`TSSC version ${body[0]} not recognized (expected ${TSSC_VERSION})`);
  // Every TSSC measurement takes at least one bit: reject an absurd count before allocating.
  if (count > (body.length - 3) * 8)
    throw new SttpDecodeError(`TSSC packet announces ${count} measurements in ${body.length - 3} bytes`);
  const sequence = ((body[1] as number) << 8) | (body[2] as number);
  let reset = false;
  if (sequence === 0) {
    decoder.reset();
    reset = true;
  }
  if (decoder.sequenceNumber !== sequence) return { measurements: [], skipped: true, reset, sequence };
  decoder.setBuffer(body.subarray(3));
  const out: Measurement[] = new Array(count);
  let i = 0;
  decoder.decodeAll((id, timestamp, flags, value) => {
    if (i >= count)
      throw new SttpDecodeError(`TSSC stream holds more than the ${count} measurements announced`);
    const entry = cache.byIndex(id);
    if (entry === undefined)
      throw new SttpDecodeError(`TSSC runtime index ${id} is not in the signal index cache`);
    out[i++] = { signalId: entry.signalId, value, timestamp, flags };
  });
  if (i !== count) throw new SttpDecodeError(`TSSC stream held ${i} measurements, ${count} announced`);
  decoder.sequenceNumber = (decoder.sequenceNumber + 1) & 0xffff;
  // Sequence 0 is reserved for resets: roll over to 1.
  if (decoder.sequenceNumber === 0) decoder.sequenceNumber = 1;
  return { measurements: out, skipped: false, reset, sequence };
}

export interface RoutedMeasurement {
  readonly runtimeIndex: number;
  readonly measurement: Measurement;
}

/**
 * Splits measurements into compact DataPacket payloads (without the flags byte's encryption) of at most
 * `maxPayload` bytes each. Returns the payloads: `[flags][count][measurements]`.
 */
export function encodeCompactPackets(
  items: readonly RoutedMeasurement[],
  format: CompactFormat,
  flags: number,
  maxPayload: number,
): Buffer[] {
  const packets: Buffer[] = [];
  const n = items.length;
  // One size computation per measurement; the packet split and the writer both use it.
  const sizes = new Uint8Array(n);
  for (let i = 0; i < n; i++)
    sizes[i] = compactMeasurementSize((items[i] as RoutedMeasurement).measurement.timestamp, format);
  const timeIndex = format.timeIndex ?? 0;
  const base = format.baseTimeOffsets[timeIndex];
  const timeFlag = timeIndex !== 0 ? 0x80 : 0;
  let index = 0;
  while (index < n) {
    let size = 5;
    let end = index;
    while (end < n) {
      const s = sizes[end] as number;
      if (size + s > maxPayload && end > index) break;
      size += s;
      end++;
    }
    const out = Buffer.allocUnsafe(size);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    out[0] = flags | DataPacketFlags.Compact;
    view.setUint32(1, end - index);
    let o = 5;
    for (let i = index; i < end; i++) {
      const item = items[i] as RoutedMeasurement;
      const m = item.measurement;
      const s = sizes[i] as number;
      let compact = m.flags === 0 ? 0 : stateToCompactFlags(m.flags);
      compact |= timeFlag;
      if (s === 11 || s === 13) compact |= 0x40;
      view.setUint8(o, compact);
      view.setInt32(o + 1, item.runtimeIndex);
      view.setFloat32(o + 5, m.value);
      if (s === 17) view.setBigInt64(o + 9, m.timestamp);
      else if (s === 13) view.setUint32(o + 9, Number(m.timestamp - base));
      else if (s === 11) view.setUint16(o + 9, Number((m.timestamp - base) / 10_000n));
      o += s;
    }
    packets.push(out);
    index = end;
  }
  return packets;
}

/** Encodes measurements into TSSC DataPacket payloads `[flags][count][85][seq][stream]`, advancing the encoder's sequence. */
export function encodeTsscPackets(
  items: readonly RoutedMeasurement[],
  encoder: TsscEncoder,
  flags: number,
  maxPayload: number,
): Buffer[] {
  const packets: Buffer[] = [];
  let index = 0;
  const bufferSize = Math.max(maxPayload, 256);
  while (index < items.length) {
    const buffer = Buffer.allocUnsafe(bufferSize);
    buffer[0] = flags | DataPacketFlags.Compressed;
    buffer[5] = TSSC_VERSION;
    buffer.writeUInt16BE(encoder.sequenceNumber, 6);
    encoder.setBuffer(buffer, 8, bufferSize - 8);
    let count = 0;
    while (index < items.length) {
      const { runtimeIndex, measurement: m } = items[index] as RoutedMeasurement;
      if (!encoder.tryAdd(runtimeIndex, m.timestamp, m.flags, m.value)) break;
      index++;
      count++;
    }
    const end = encoder.finishBlock();
    buffer.writeUInt32BE(count, 1);
    encoder.sequenceNumber = (encoder.sequenceNumber + 1) & 0xffff;
    if (encoder.sequenceNumber === 0) encoder.sequenceNumber = 1;
    packets.push(buffer.subarray(0, end));
  }
  return packets;
}
