/**
 * Benchmarks, each against a baseline measured in the same run:
 * 1. measurements/s decoded from compact and TSSC DataPackets vs a plain DataView loop reading the
 *    same compact bytes (the memory-bound limit: no objects, no lookups);
 * 2. publisher → subscriber measurements/s over loopback TCP (compact and TSSC) vs a bare socket
 *    pushing the same compact bytes through the same framing.
 */

import { existsSync } from "node:fs";
import * as net from "node:net";
import { measureOps, runBenchmarks } from "@x/bench";
import type { Measurement, MeasurementDefinition } from "../src/index.js";

// Measure the shipped code (dist, compiled by tsc) rather than tsx's on-the-fly transpilation of src;
// the types come from src either way. Falls back to src when the package has not been built.
const distUrl = new URL("../dist/index.js", import.meta.url);
const lib = (await import(
  existsSync(distUrl) ? distUrl.href : "../src/index.js"
)) as typeof import("../src/index.js");
const {
  decodeCompactMeasurements,
  decodeTsscPacket,
  encodeCompactPackets,
  encodeResponse,
  encodeTsscPackets,
  FrameReader,
  Publisher,
  SignalIndexCache,
  Subscriber,
  TsscDecoder,
  TsscEncoder,
} = lib;

const SIGNALS = 100;
const FRAMES = 300;
const defs: MeasurementDefinition[] = Array.from({ length: SIGNALS }, (_, i) => ({
  signalId: `00000000-0000-4000-8000-${(i + 1).toString(16).padStart(12, "0")}`,
  source: "PPA",
  id: i + 1,
}));
const cache = new SignalIndexCache(
  "11111111-1111-4111-8111-111111111111",
  defs.map((d, i) => ({ runtimeIndex: i, signalId: d.signalId, source: d.source, id: BigInt(d.id) })),
);
const T0 = 639_000_000_000_000_000n;
function frameOf(k: number): Measurement[] {
  return defs.map((d, i) => ({
    signalId: d.signalId,
    value: 60 + Math.sin((k + i) / 10),
    timestamp: T0 + BigInt(k) * 333_333n,
    flags: 0,
  }));
}
const all: Measurement[] = [];
for (let k = 0; k < FRAMES; k++) all.push(...frameOf(k));
const routed = all.map((m, i) => ({ runtimeIndex: i % SIGNALS, measurement: m }));
const TOTAL = all.length;

// Compact packets with 8-byte timestamps (as the cppapi capture) and the same with base-time offsets.
const format = { includeTime: true, useMillisecondResolution: false, baseTimeOffsets: [0n, 0n] as const };
const compactPackets = encodeCompactPackets(routed, format, 0, 32768);
const baseFormat = {
  includeTime: true,
  useMillisecondResolution: false,
  baseTimeOffsets: [T0 - 10_000_000n, 0n] as const,
};
const basePackets = encodeCompactPackets(routed, baseFormat, 0, 32768);
const tsscPackets = encodeTsscPackets(routed, new TsscEncoder(), 0, 32768);

function decodeCompact(packets: Buffer[], f: typeof format | typeof baseFormat): number {
  let n = 0;
  for (const p of packets) n += decodeCompactMeasurements(p.subarray(5), p.readUInt32BE(1), cache, f).length;
  return n;
}

function decodeTssc(): number {
  const decoder = new TsscDecoder();
  let n = 0;
  for (const p of tsscPackets)
    n += decodeTsscPacket(p.subarray(5), p.readUInt32BE(1), cache, decoder).measurements.length;
  return n;
}

/** The memory-bound baseline: read every field of the compact bytes with a DataView, build nothing. */
let sink = 0;
function dataViewLoop(packets: Buffer[]): number {
  let n = 0;
  for (const p of packets) {
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const count = view.getUint32(1);
    let o = 5;
    for (let i = 0; i < count; i++) {
      const flags = view.getUint8(o);
      const index = view.getInt32(o + 1);
      const value = view.getFloat32(o + 5);
      const hi = view.getUint32(o + 9);
      const lo = view.getUint32(o + 13);
      sink += flags + index + value + hi + lo;
      o += 17;
      n++;
    }
  }
  return n;
}

if (
  decodeCompact(compactPackets, format) !== TOTAL ||
  decodeTssc() !== TOTAL ||
  dataViewLoop(compactPackets) !== TOTAL
) {
  throw new Error("benchmark self-check failed");
}

async function pubSub(tssc: boolean): Promise<{ value: number; unit: string }> {
  const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0 });
  const subscriber = new Subscriber({ compressPayload: tssc, dataLossIntervalMs: 0 });
  const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
  await subscriber.connect({ host: "127.0.0.1", port });
  await subscriber.subscribe({ filterExpression: defs.map((d) => `PPA:${d.id}`).join(";") });
  let received = 0;
  subscriber.on("measurements", (ms) => {
    received += ms.length;
  });
  // Frames are made before timing: the figure is transport + encode + decode, not data generation.
  const frames = Array.from({ length: 200 }, (_, k) => frameOf(k));
  // The first 300 000 measurements warm up the JIT and are not timed.
  const warmup = 300_000;
  const target = warmup + 1_000_000;
  let start = 0;
  let k = 0;
  while (received < target) {
    if (start === 0 && received >= warmup) {
      start = performance.now();
      received = warmup;
    }
    publisher.publish(frames[k++ % frames.length] as Measurement[]);
    if (k % 20 === 0) {
      await publisher.drained();
      await new Promise((r) => setImmediate(r));
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await subscriber.close();
  await publisher.close();
  return { value: (received - warmup) / seconds, unit: "meas/s" };
}

/** Baseline: the same compact frames through a bare socket and the same frame reader, no decoding. */
async function bareSocket(): Promise<{ value: number; unit: string }> {
  const frames = compactPackets.map((p) => encodeResponse(0x82, 0x02, p));
  const perRound = TOTAL;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const target = 1_000_000;
  let received = 0;
  const server = net.createServer((socket) => {
    const reader = new FrameReader({ maxFrameSize: 1 << 20 });
    socket.on("data", (chunk: Buffer) =>
      reader.push(chunk, (body) => {
        received += body.readUInt32BE(7);
        if (received >= target) resolveDone();
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port });
  await new Promise<void>((r) => client.once("connect", () => r()));
  const start = performance.now();
  let sent = 0;
  while (sent < target) {
    for (const f of frames) client.write(f);
    sent += perRound;
    if (client.writableNeedDrain) await new Promise((r) => client.once("drain", r));
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return { value: received / seconds, unit: "meas/s" };
}

await runBenchmarks("@x/sttp-connect", [
  {
    name: "decode DataPackets (100 signals × 300 frames, one decoder per run)",
    note: "baseline reads the same compact bytes with a bare DataView loop and builds nothing",
    candidates: [
      {
        name: "DataView loop (memory-bound limit)",
        baseline: true,
        run: () => measureOps(() => dataViewLoop(compactPackets), { workPerCall: TOTAL, unit: "meas/s" }),
      },
      {
        name: "compact, 8-byte timestamps",
        run: () =>
          measureOps(() => decodeCompact(compactPackets, format), { workPerCall: TOTAL, unit: "meas/s" }),
      },
      {
        name: "compact, 4-byte base-time offsets",
        run: () =>
          measureOps(() => decodeCompact(basePackets, baseFormat), { workPerCall: TOTAL, unit: "meas/s" }),
      },
      { name: "TSSC", run: () => measureOps(decodeTssc, { workPerCall: TOTAL, unit: "meas/s" }) },
    ],
  },
  {
    name: "publisher → subscriber over loopback TCP",
    note: "baseline: the same compact frames through a bare socket and frame reader, nothing encoded or decoded",
    candidates: [
      { name: "bare socket, framing only", baseline: true, run: bareSocket },
      { name: "STTP compact", run: () => pubSub(false) },
      { name: "STTP TSSC", run: () => pubSub(true) },
    ],
  },
]);
if (sink === 0) console.log("");
