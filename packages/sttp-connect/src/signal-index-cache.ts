/**
 * The signal index cache (SIC): maps the 32-bit runtime indexes used in data packets to signal
 * GUIDs and measurement keys (`source:id`). Layout (after gunzip):
 * `[uint32 binaryLength][GUID subscriberId][uint32 count]` + count × `[int32 index][GUID][uint32 n][source][uint64 id]`
 * + `[uint32 unauthorizedCount]`.
 */
import { SttpDecodeError } from "./errors.js";
import { readGuid, writeGuid } from "./guid.js";

export interface SignalIndexEntry {
  readonly runtimeIndex: number;
  readonly signalId: string;
  readonly source: string;
  readonly id: bigint;
}

export class SignalIndexCache {
  readonly subscriberId: string;
  readonly entries: readonly SignalIndexEntry[];
  readonly #byIndex = new Map<number, SignalIndexEntry>();
  readonly #bySignal = new Map<string, SignalIndexEntry>();
  /** Dense lookup for small indexes (the common case) to keep decoding fast. */
  readonly #dense: (SignalIndexEntry | undefined)[] = [];

  constructor(subscriberId: string, entries: readonly SignalIndexEntry[]) {
    this.subscriberId = subscriberId;
    this.entries = entries;
    for (const entry of entries) {
      if (this.#byIndex.has(entry.runtimeIndex)) {
        throw new SttpDecodeError(`signal index cache repeats runtime index ${entry.runtimeIndex}`);
      }
      if (this.#bySignal.has(entry.signalId)) {
        throw new SttpDecodeError(`signal index cache repeats signal ID ${entry.signalId}`);
      }
      this.#byIndex.set(entry.runtimeIndex, entry);
      this.#bySignal.set(entry.signalId, entry);
      if (entry.runtimeIndex >= 0 && entry.runtimeIndex < 65536) this.#dense[entry.runtimeIndex] = entry;
    }
  }

  get size(): number {
    return this.entries.length;
  }

  byIndex(runtimeIndex: number): SignalIndexEntry | undefined {
    return runtimeIndex >= 0 && runtimeIndex < 65536
      ? this.#dense[runtimeIndex]
      : this.#byIndex.get(runtimeIndex);
  }

  bySignalId(signalId: string): SignalIndexEntry | undefined {
    return this.#bySignal.get(signalId);
  }

  maxRuntimeIndex(): number {
    let max = -1;
    for (const e of this.entries) if (e.runtimeIndex > max) max = e.runtimeIndex;
    return max;
  }
}

/** Serialises a SIC (uncompressed). Sources are UTF-8. */
export function encodeSignalIndexCache(cache: SignalIndexCache, dotNetGuids = false): Buffer {
  const sources = cache.entries.map((e) => Buffer.from(e.source, "utf8"));
  const binaryLength = 28 + sources.reduce((sum, s) => sum + 32 + s.length, 0);
  const out = Buffer.alloc(binaryLength);
  let o = 0;
  out.writeUInt32BE(binaryLength, o);
  o += 4;
  writeGuid(out, o, cache.subscriberId, dotNetGuids);
  o += 16;
  out.writeUInt32BE(cache.entries.length, o);
  o += 4;
  cache.entries.forEach((entry, i) => {
    const source = sources[i] as Buffer;
    out.writeInt32BE(entry.runtimeIndex, o);
    o += 4;
    writeGuid(out, o, entry.signalId, dotNetGuids);
    o += 16;
    out.writeUInt32BE(source.length, o);
    o += 4;
    source.copy(out, o);
    o += source.length;
    out.writeBigUInt64BE(BigInt.asUintN(64, entry.id), o);
    o += 8;
  });
  out.writeUInt32BE(0, o);
  return out;
}

/** Parses a SIC (uncompressed); rejects truncation, inconsistent lengths and duplicate indexes or IDs. */
export function decodeSignalIndexCache(data: Uint8Array, dotNetGuids = false): SignalIndexCache {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const need = (o: number, n: number) => {
    if (o + n > buf.length)
      throw new SttpDecodeError(`signal index cache truncated at byte ${o} (${buf.length} bytes)`);
  };
  need(0, 24);
  const binaryLength = buf.readUInt32BE(0);
  if (binaryLength > buf.length) {
    throw new SttpDecodeError(
      `signal index cache declares ${binaryLength} bytes but only ${buf.length} are present`,
    );
  }
  const subscriberId = readGuid(buf, 4, dotNetGuids);
  const count = buf.readUInt32BE(20);
  // Every entry needs at least 32 bytes: reject absurd counts before allocating.
  if (count > (buf.length - 24) / 32)
    throw new SttpDecodeError(`signal index cache count ${count} exceeds its size`);
  let o = 24;
  const entries: SignalIndexEntry[] = [];
  for (let i = 0; i < count; i++) {
    need(o, 24);
    const runtimeIndex = buf.readInt32BE(o);
    const signalId = readGuid(buf, o + 4, dotNetGuids);
    const n = buf.readUInt32BE(o + 20);
    o += 24;
    need(o, n + 8);
    const source = buf.toString("utf8", o, o + n);
    o += n;
    const id = buf.readBigUInt64BE(o);
    o += 8;
    entries.push({ runtimeIndex, signalId, source, id });
  }
  // unauthorizedCount trailer (v2+); tolerate its absence from older publishers.
  if (o + 4 <= buf.length) {
    const unauthorized = buf.readUInt32BE(o);
    if (unauthorized > (buf.length - o - 4) / 16) {
      throw new SttpDecodeError(`signal index cache unauthorized count ${unauthorized} exceeds its size`);
    }
  }
  return new SignalIndexCache(subscriberId, entries);
}
