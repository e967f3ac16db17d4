/**
 * Throughput of the WebSocket MTP (Agent client -> Controller server, both ours: encode nothing,
 * validate and decode every Record on receipt) beside the bare `ws` library sending the same
 * bytes between a bare client and server. 100-byte and 64 KiB Records, Records/s and MB/s.
 * Run: `pnpm bench` (after `pnpm build` of the dependencies).
 */
import type { AddressInfo } from "node:net";
import { type Figure, type Group, runBenchmarks } from "@x/bench";
import { recordOfSize } from "@x/mtp-compliance";
import WebSocket, { WebSocketServer } from "ws";
import { createWebSocketMtp } from "../src/index.js";

const AGENT = "os::012345-OBUSPA-0001";
const CONTROLLER = "self::ts-controller";

interface Pipe {
  /** Sends `count` copies of the Record and resolves when the receiver has them all. */
  batch(count: number): Promise<void>;
  close(): Promise<void>;
}

async function ourPipe(): Promise<Pipe> {
  const controller = createWebSocketMtp({
    role: "controller",
    endpointId: CONTROLLER,
    listen: { port: 0 },
    maxRecordSize: 1 << 20,
  });
  await controller.open();
  const agent = createWebSocketMtp({
    role: "agent",
    endpointId: AGENT,
    peers: [{ url: controller.url as string, endpointId: CONTROLLER }],
  });
  await agent.open();
  let received = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  controller.on("record", (r) => {
    if (r.record.recordType?.$case !== "noSessionContext") return;
    received++;
    if (received >= target) wake?.();
  });
  let bytes: Uint8Array = new Uint8Array(0);
  return {
    async batch(count) {
      target = received + count;
      const done = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const sends: Promise<void>[] = [];
      for (let i = 0; i < count; i++) sends.push(agent.send(CONTROLLER, bytes));
      await Promise.all(sends);
      if (received < target) await done;
    },
    async close() {
      await agent.close({ abrupt: true });
      await controller.close({ abrupt: true });
    },
    set record(b: Uint8Array) {
      bytes = b;
    },
  } as Pipe & { record: Uint8Array };
}

async function barePipe(): Promise<Pipe> {
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: false,
    maxPayload: 1 << 20,
  });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  let received = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  wss.on("connection", (ws) =>
    ws.on("message", () => {
      received++;
      if (received >= target) wake?.();
    }),
  );
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/usp`, {
    perMessageDeflate: false,
  });
  await new Promise((resolve) => client.once("open", resolve));
  let bytes: Uint8Array = new Uint8Array(0);
  return {
    async batch(count) {
      target = received + count;
      const done = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const sends: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        sends.push(
          new Promise<void>((resolve, reject) =>
            client.send(bytes, { binary: true }, (e) => (e ? reject(e) : resolve())),
          ),
        );
      }
      await Promise.all(sends);
      if (received < target) await done;
    },
    async close() {
      client.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
    set record(b: Uint8Array) {
      bytes = b;
    },
  } as Pipe & { record: Uint8Array };
}

/** Runs batches for at least `ms` and returns Records/s. */
async function rateFor(pipe: Pipe, perBatch: number, ms: number): Promise<number> {
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await pipe.batch(perBatch);
    count += perBatch;
    now = performance.now();
  }
  return (count * 1000) / (now - start);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * Both pipes stay open and their samples alternate (bare, ours, ours, bare, ...), so the load of
 * a shared machine drifts over both alike; each figure is the median of the samples.
 */
async function measurePair(
  recordBytes: Uint8Array,
  perBatch: number,
): Promise<Record<"bare" | "ours", { rps: Figure; mbps: Figure }>> {
  const bare = (await barePipe()) as Pipe & { record: Uint8Array };
  const ours = (await ourPipe()) as Pipe & { record: Uint8Array };
  bare.record = recordBytes;
  ours.record = recordBytes;
  try {
    await rateFor(bare, perBatch, 150);
    await rateFor(ours, perBatch, 150);
    const rates = { bare: [] as number[], ours: [] as number[] };
    for (let i = 0; i < 7; i++) {
      const order = i % 2 === 0 ? (["bare", "ours"] as const) : (["ours", "bare"] as const);
      for (const which of order)
        rates[which].push(await rateFor(which === "bare" ? bare : ours, perBatch, 300));
    }
    const figures = (xs: number[]) => {
      const rps = median(xs);
      return {
        rps: { value: rps, unit: "records/s" },
        mbps: { value: (rps * recordBytes.length) / 1e6, unit: "MB/s" },
      };
    };
    return { bare: figures(rates.bare), ours: figures(rates.ours) };
  } finally {
    await bare.close();
    await ours.close();
  }
}

const small = recordOfSize({ toId: CONTROLLER, fromId: AGENT, totalBytes: 100 });
const large = recordOfSize({ toId: CONTROLLER, fromId: AGENT, totalBytes: 64 * 1024 });

const cache = new Map<string, ReturnType<typeof measurePair>>();
const once = (key: string, bytes: Uint8Array, perBatch: number) => {
  let p = cache.get(key);
  if (p === undefined) {
    p = measurePair(bytes, perBatch);
    cache.set(key, p);
  }
  return p;
};

const groups: Group[] = [];
for (const [label, bytes, perBatch] of [
  ["100-byte Records", small, 500],
  ["64 KiB Records", large, 40],
] as const) {
  for (const unit of ["rps", "mbps"] as const) {
    groups.push({
      name: `${label}, ${unit === "rps" ? "Records/s" : "MB/s"}`,
      note: "client -> server on loopback, same bytes; ours validates and decodes every Record; aim >= 0.9x",
      candidates: [
        { name: "bare ws", baseline: true, run: async () => (await once(label, bytes, perBatch)).bare[unit] },
        { name: "@x/mtp-websocket", run: async () => (await once(label, bytes, perBatch)).ours[unit] },
      ],
    });
  }
}

await runBenchmarks("@x/mtp-websocket", groups);
