import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildSubscribeConnectionString,
  decodeCipherKeys,
  decodeCompactMeasurements,
  decodeSignalIndexCache,
  decodeTsscPacket,
  decryptPayload,
  encodeCipherKeys,
  encodeCommand,
  encodeCompactPackets,
  encodeResponse,
  encodeSignalIndexCache,
  encodeTsscPackets,
  encryptPayload,
  FrameReader,
  generateCipherKeyPair,
  type Measurement,
  parseCommand,
  parseConnectionString,
  parseResponse,
  resolveFilterExpression,
  resolveReconnectOptions,
  retryDelayMs,
  SignalIndexCache,
  SttpError,
  TsscDecoder,
  TsscEncoder,
  writeCompactMeasurement,
} from "../src/index.js";
import { definitions } from "./helpers.js";

const defs = definitions(20);
const cache = new SignalIndexCache(
  "6f1b1d43-1b7e-4c8e-8f0a-3c4d5e6f7a8b",
  defs.map((d, i) => ({ runtimeIndex: i, signalId: d.signalId, source: d.source, id: BigInt(d.id) })),
);

describe("framing", () => {
  it("encodes commands and responses in the implemented layouts", () => {
    expect(encodeCommand(0x06, Buffer.from([0xc0, 0, 2, 0x22]))).toEqual(
      Buffer.from("0000000506c0000222", "hex"),
    );
    expect(encodeResponse(0xff, 0x02)).toEqual(Buffer.from("00000006ff0200000000", "hex"));
    const body = encodeResponse(0x80, 0x01, Buffer.from("ok")).subarray(4);
    expect(parseResponse(body)).toMatchObject({ code: 0x80, inResponseTo: 0x01 });
  });

  it("reassembles frames split at every byte boundary", () => {
    const stream = Buffer.concat([
      encodeCommand(0x01),
      encodeCommand(0x02, Buffer.alloc(300, 7)),
      encodeCommand(0x0a),
    ]);
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new FrameReader({ maxFrameSize: 1024 });
      const bodies: number[] = [];
      reader.push(stream.subarray(0, cut), (b) => bodies.push(b.length));
      reader.push(stream.subarray(cut), (b) => bodies.push(b.length));
      expect(bodies).toEqual([1, 301, 1]);
    }
  });

  it("joins a large frame delivered in many small chunks", () => {
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const stream = Buffer.concat([encodeResponse(0x80, 0x01, payload), encodeCommand(0x0a)]);
    const reader = new FrameReader({ maxFrameSize: 2 << 20 });
    const bodies: Buffer[] = [];
    for (let o = 0; o < stream.length; o += 1000)
      reader.push(stream.subarray(o, o + 1000), (b) => bodies.push(Buffer.from(b)));
    expect(bodies).toHaveLength(2);
    expect(parseResponse(bodies[0] as Buffer).payload).toEqual(payload);
    expect(reader.pending).toBe(0);
  });

  it("applies the initial-message limit before buffering and rejects zero-length frames", () => {
    const reader = new FrameReader({ maxFrameSize: 1 << 20, maxFirstFrameSize: 8193 });
    expect(() => reader.push(Buffer.from("474554202f20485454", "hex"), () => undefined)).toThrow(
      expect.objectContaining({ code: "ERR_STTP_FRAME_TOO_LARGE" }),
    );
    expect(() => new FrameReader({ maxFrameSize: 10 }).push(Buffer.alloc(4), () => undefined)).toThrow(
      expect.objectContaining({ code: "ERR_STTP_FRAME" }),
    );
  });

  it("fuzz: random bodies give a parsed frame or a typed error, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const parse of [parseCommand, parseResponse]) {
          try {
            parse(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(SttpError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("fuzz: a random byte stream cut anywhere yields typed errors only", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (chunks) => {
        const reader = new FrameReader({ maxFrameSize: 4096 });
        try {
          for (const c of chunks) reader.push(Buffer.from(c), (b) => parseResponse(b));
        } catch (error) {
          expect(error).toBeInstanceOf(SttpError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("connection strings", () => {
  it("round-trips nested values and builds the subscribe string", () => {
    const text = buildSubscribeConnectionString(
      { filterExpression: "PPA:1;PPA:2", lagTime: 3 },
      { udpPort: 9000 },
    );
    const map = parseConnectionString(text);
    expect(map.get("filterexpression")).toBe("PPA:1;PPA:2");
    expect(map.get("datachannel")).toBe("localport=9000");
    expect(map.get("includetime")).toBe("true");
    expect(map.get("lagtime")).toBe("10".replace("10", "3"));
    expect(() => parseConnectionString("a={b")).toThrow(expect.objectContaining({ code: "ERR_STTP_DECODE" }));
  });

  it("resolves ids, keys and point tags, and reports unmatched terms", () => {
    const { matched, unmatched } = resolveFilterExpression(
      `${defs[3]?.signalId};ppa:1;TAG:PPA2;nothing`,
      defs,
    );
    expect(matched.map((d) => d.id)).toEqual([4, 1, 2]);
    expect(unmatched).toEqual(["nothing"]);
  });
});

describe("signal index cache", () => {
  it("round-trips and rejects duplicates and truncation", () => {
    const bytes = encodeSignalIndexCache(cache);
    expect(bytes.readUInt32BE(0)).toBe(bytes.length);
    const decoded = decodeSignalIndexCache(bytes);
    expect(decoded.entries).toEqual(cache.entries);
    expect(decoded.subscriberId).toBe(cache.subscriberId);
    for (let cut = 0; cut < bytes.length - 4; cut += 7) {
      expect(() => decodeSignalIndexCache(bytes.subarray(0, cut))).toThrow(SttpError);
    }
    const duplicate = Buffer.from(bytes);
    duplicate.writeInt32BE(0, 24 + (32 + 3)); // second entry gets runtime index 0
    expect(() => decodeSignalIndexCache(duplicate)).toThrow(/repeats runtime index 0/);
  });

  it("fuzz: random SIC bytes give a cache or a typed error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeSignalIndexCache(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(SttpError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

const measurementArb = fc.record({
  index: fc.integer({ min: 0, max: defs.length - 1 }),
  value: fc.float({ noNaN: true }),
  dt: fc.oneof(
    fc.constant(0n),
    fc.bigInt({ min: -10_000_000n, max: 10_000_000n }),
    fc.bigInt({ min: 0n, max: 1n << 40n }),
  ),
  flags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
});

function toMeasurements(raw: { index: number; value: number; dt: bigint; flags: number }[]): Measurement[] {
  let t = 638_000_000_000_000_000n;
  return raw.map((r) => {
    t += r.dt;
    return {
      signalId: defs[r.index]?.signalId as string,
      value: Math.fround(r.value),
      timestamp: t,
      flags: r.flags >>> 0,
    };
  });
}

describe("TSSC", () => {
  it("property: encode → decode is lossless across packets, with sequence numbers", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(measurementArb, { maxLength: 60 }), { minLength: 1, maxLength: 6 }),
        (batches) => {
          const encoder = new TsscEncoder();
          const decoder = new TsscDecoder();
          for (const batch of batches) {
            const ms = toMeasurements(batch);
            const routed = ms.map((m) => ({
              runtimeIndex: cache.bySignalId(m.signalId)?.runtimeIndex as number,
              measurement: m,
            }));
            const out: Measurement[] = [];
            for (const packet of encodeTsscPackets(routed, encoder, 0, 512)) {
              const result = decodeTsscPacket(packet.subarray(5), packet.readUInt32BE(1), cache, decoder);
              expect(result.skipped).toBe(false);
              out.push(...result.measurements);
            }
            expect(
              out.map((m) => [m.signalId, Object.is(m.value, -0) ? 0 : m.value, m.timestamp, m.flags]),
            ).toEqual(
              ms.map((m) => [m.signalId, Object.is(m.value, -0) ? 0 : m.value, m.timestamp, m.flags]),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("ignores packets out of sequence until sequence 0 resets the decoder", () => {
    const encoder = new TsscEncoder();
    const ms = toMeasurements(
      Array.from({ length: 30 }, (_, i) => ({ index: i % 5, value: i, dt: 333_333n, flags: 0 })),
    );
    const routed = ms.map((m) => ({
      runtimeIndex: cache.bySignalId(m.signalId)?.runtimeIndex as number,
      measurement: m,
    }));
    const packets = [0, 1, 2].map(
      (k) => encodeTsscPackets(routed.slice(k * 10, k * 10 + 10), encoder, 0, 4096)[0] as Buffer,
    );
    expect(packets.map((p) => p.readUInt16BE(6))).toEqual([0, 1, 2]);
    const decoder = new TsscDecoder();
    expect(decodeTsscPacket(packets[0]?.subarray(5) as Buffer, 10, cache, decoder).skipped).toBe(false);
    // 2 before 1 is ignored (state untouched), so 1 then 2 still decode; a replayed 1 is ignored.
    expect(decodeTsscPacket(packets[2]?.subarray(5) as Buffer, 10, cache, decoder).skipped).toBe(true);
    expect(decodeTsscPacket(packets[1]?.subarray(5) as Buffer, 10, cache, decoder).skipped).toBe(false);
    const third = decodeTsscPacket(packets[2]?.subarray(5) as Buffer, 10, cache, decoder);
    expect(third.measurements.map((m) => m.value)).toEqual(ms.slice(20, 30).map((m) => m.value));
    expect(decodeTsscPacket(packets[1]?.subarray(5) as Buffer, 10, cache, decoder).skipped).toBe(true);
    encoder.reset();
    const fresh = encodeTsscPackets(routed.slice(0, 10), encoder, 0, 4096)[0] as Buffer;
    const result = decodeTsscPacket(fresh.subarray(5), 10, cache, decoder);
    expect(result).toMatchObject({ skipped: false, reset: true, sequence: 0 });
    expect(result.measurements.map((m) => m.value)).toEqual(ms.slice(0, 10).map((m) => m.value));
  });

  it("fuzz: random and truncated TSSC streams give typed errors", () => {
    const encoder = new TsscEncoder();
    const ms = toMeasurements(
      Array.from({ length: 40 }, (_, i) => ({ index: i % 7, value: i * 3.25, dt: 10_000n, flags: i % 3 })),
    );
    const routed = ms.map((m) => ({
      runtimeIndex: cache.bySignalId(m.signalId)?.runtimeIndex as number,
      measurement: m,
    }));
    const packet = encodeTsscPackets(routed, encoder, 0, 4096)[0] as Buffer;
    for (let cut = 5; cut < packet.length - 1; cut++) {
      expect(() => decodeTsscPacket(packet.subarray(5, cut), 40, cache, new TsscDecoder())).toThrow(
        SttpError,
      );
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 50 }), (bytes, count) => {
        const body = Buffer.concat([Buffer.from([85, 0, 0]), bytes]);
        try {
          decodeTsscPacket(body, count, cache, new TsscDecoder());
        } catch (error) {
          expect(error).toBeInstanceOf(SttpError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("compact measurements", () => {
  it("property: encode → decode round-trips with 8-byte, 4-byte and 2-byte timestamps", () => {
    fc.assert(
      fc.property(
        fc.array(measurementArb, { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        (raw, useBase, ms) => {
          const measurements = toMeasurements(raw.map((r) => ({ ...r, dt: r.dt < 0n ? -r.dt : r.dt })));
          const first = measurements[0]?.timestamp as bigint;
          const base = useBase ? first - 10_000_000n - (first % 10_000n) : 0n;
          const format = {
            includeTime: true,
            useMillisecondResolution: ms,
            baseTimeOffsets: [base, 0n] as const,
            timeIndex: 0 as const,
          };
          const routed = measurements.map((m) => ({
            runtimeIndex: cache.bySignalId(m.signalId)?.runtimeIndex as number,
            measurement: m,
          }));
          for (const packet of encodeCompactPackets(routed, format, 0, 200)) {
            const decoded = decodeCompactMeasurements(
              packet.subarray(5),
              packet.readUInt32BE(1),
              cache,
              format,
            );
            for (const m of decoded) {
              const original = measurements.find(
                (o) =>
                  o.signalId === m.signalId &&
                  (m.timestamp === o.timestamp ||
                    (ms && o.timestamp - m.timestamp < 10_000n && o.timestamp >= m.timestamp)),
              );
              expect(original).toBeDefined();
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("writeCompactMeasurement writes the same bytes as the packet encoder", () => {
    const format = {
      includeTime: true,
      useMillisecondResolution: true,
      baseTimeOffsets: [638_000_000_000_000_000n, 0n] as const,
    };
    const m = {
      signalId: defs[2]?.signalId as string,
      value: 2.5,
      timestamp: 638_000_000_001_230_000n,
      flags: 0x00400000,
    };
    const single = Buffer.alloc(11);
    expect(writeCompactMeasurement(single, 0, 2, m, format)).toBe(11);
    const [packet] = encodeCompactPackets([{ runtimeIndex: 2, measurement: m }], format, 0, 100);
    expect((packet as Buffer).subarray(5)).toEqual(single);
    expect(single[0]).toBe(0x40 | 0x20); // BaseTimeOffset | DiscardedValue
    expect(decodeCompactMeasurements(single, 1, cache, format)[0]).toEqual(m);
  });

  it("rejects unknown runtime indexes, truncation and trailing bytes", () => {
    const format = { includeTime: true, useMillisecondResolution: false, baseTimeOffsets: [0n, 0n] as const };
    const m = { signalId: defs[0]?.signalId as string, value: 1, timestamp: 1n, flags: 0 };
    const [packet] = encodeCompactPackets([{ runtimeIndex: 0, measurement: m }], format, 0, 100);
    const body = (packet as Buffer).subarray(5);
    expect(decodeCompactMeasurements(body, 1, cache, format)).toHaveLength(1);
    expect(() => decodeCompactMeasurements(body.subarray(0, 12), 1, cache, format)).toThrow(/truncated/);
    expect(() => decodeCompactMeasurements(Buffer.concat([body, Buffer.alloc(1)]), 1, cache, format)).toThrow(
      /trailing/,
    );
    const unknown = Buffer.from(body);
    unknown.writeInt32BE(999, 1);
    expect(() => decodeCompactMeasurements(unknown, 1, cache, format)).toThrow(
      /not in the signal index cache/,
    );
  });
});

describe("cipher keys", () => {
  it("round-trips keys and AES-256-CBC payloads; a wrong key is a typed error", () => {
    const keys = {
      activeIndex: 1 as const,
      pairs: [generateCipherKeyPair(), generateCipherKeyPair()] as const,
    };
    const decoded = decodeCipherKeys(encodeCipherKeys(keys));
    expect(decoded.activeIndex).toBe(1);
    expect(decoded.pairs[1].key).toEqual(keys.pairs[1].key);
    const plain = Buffer.from("measurements");
    expect(decryptPayload(decoded.pairs[0], encryptPayload(keys.pairs[0], plain))).toEqual(plain);
    expect(() =>
      decryptPayload(decoded.pairs[1], encryptPayload(keys.pairs[0], Buffer.alloc(64, 1))),
    ).toThrow(SttpError);
    expect(() => decodeCipherKeys(encodeCipherKeys(keys).subarray(0, 50))).toThrow(SttpError);
  });
});

describe("reconnect schedule", () => {
  it("doubles from the retry interval, caps at the maximum and applies jitter downwards", () => {
    const options = resolveReconnectOptions({ retryIntervalMs: 1000, maxRetryIntervalMs: 30_000, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6, 20].map((n) => retryDelayMs(n, options))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    const jittered = resolveReconnectOptions({ retryIntervalMs: 1000, jitter: 0.5, random: () => 1 });
    expect(retryDelayMs(1, jittered)).toBe(500);
    expect(() => resolveReconnectOptions({ jitter: 2 })).toThrow(
      expect.objectContaining({ code: "ERR_STTP_CONFIG" }),
    );
  });
});
