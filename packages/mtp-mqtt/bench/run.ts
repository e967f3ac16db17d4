/**
 * Throughput of the MQTT MTP (Agent -> Controller through one real Mosquitto; the receiver
 * validates, decodes and de-duplicates every Record) beside bare `mqtt` clients publishing and
 * receiving the same bytes on the same broker, QoS 0 and QoS 1, in one run.
 * Run: `pnpm bench` (after `pnpm build` of the dependencies; needs the mosquitto binary).
 */
import { type Figure, type Group, runBenchmarks } from "@x/bench";
import { sequencedPayload } from "@x/mtp-compliance";
import { startMosquitto } from "@x/test-brokers";
import { decodeRecord, encodeRecord, noSessionContextRecord } from "@x/usp-record";
import mqtt from "mqtt";
import { createMqttMtp } from "../src/index.js";

const AGENT = "os::012345-OBUSPA-0001";
const CONTROLLER = "self::ts-controller";
const BATCH = 10_000;
const SAMPLES = 5;
/** Sends in flight at once (both candidates): a pipelined producer, not 2,000 pending writes. */
const WINDOW = 100;

/** Runs `send` over every item with at most WINDOW in flight. */
async function pipelined<T>(items: readonly T[], send: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await send(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, items.length) }, worker));
}

interface Pipe {
  /** Sends every Record of `records` and resolves when the receiver has them all. */
  batch(records: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
}

/** Distinct Records (a receiver that de-duplicates must not see repeats), about 120 bytes each. */
function recordsFor(sample: number): Uint8Array[] {
  return Array.from({ length: BATCH }, (_, i) =>
    encodeRecord(
      noSessionContextRecord({
        toId: CONTROLLER,
        fromId: AGENT,
        payload: sequencedPayload(sample * BATCH + i, 64),
      }),
    ),
  );
}

/** Rejects when a batch stalls, so a lost Record fails the run instead of hanging it. */
function stallGuard<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: batch stalled for 60 s`)), 60_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

function counter(): { add(): void; until(target: number): Promise<void>; readonly count: number } {
  let count = 0;
  let target = Number.POSITIVE_INFINITY;
  let wake: (() => void) | undefined;
  return {
    add() {
      count++;
      if (count >= target) wake?.();
    },
    until(t) {
      target = t;
      if (count >= t) return Promise.resolve();
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    },
    get count() {
      return count;
    },
  };
}

async function ourPipe(url: string, qos: 0 | 1, tag: string): Promise<Pipe> {
  const controllerTopic = `bench/${tag}/controller`;
  const controller = createMqttMtp({
    role: "controller",
    endpointId: CONTROLLER,
    url,
    qos,
    responseTopic: controllerTopic,
  });
  await controller.open();
  const agent = createMqttMtp({
    role: "agent",
    endpointId: AGENT,
    url,
    qos,
    responseTopic: `bench/${tag}/agent`,
    peers: [{ endpointId: CONTROLLER, topic: controllerTopic }],
    sendDisconnectRecord: false,
  });
  const received = counter();
  controller.on("record", (r) => {
    if (r.record.recordType?.$case === "noSessionContext") received.add();
  });
  await agent.open();
  return {
    async batch(records) {
      const done = received.until(received.count + records.length);
      await pipelined(records, (bytes) => agent.send(CONTROLLER, bytes));
      await done;
    },
    async close() {
      await agent.close({ abrupt: true });
      await controller.close({ abrupt: true });
    },
  };
}

/**
 * Bare `mqtt` clients. With `uspWork`, the publisher also sends the two USP properties and the
 * subscriber decodes and validates each Record, which is the part of our cost that is the codec's.
 */
async function barePipe(url: string, qos: 0 | 1, tag: string, uspWork = false): Promise<Pipe> {
  const topic = `bench/${tag}/bare`;
  const sub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await sub.subscribeAsync(topic, { qos });
  const received = counter();
  sub.on("message", (_topic, payload) => {
    if (uspWork) decodeRecord(payload);
    received.add();
  });
  const properties = uspWork
    ? { properties: { contentType: "usp.msg", responseTopic: `${topic}/reply` } }
    : {};
  return {
    async batch(records) {
      const done = received.until(received.count + records.length);
      await pipelined(
        records,
        (bytes) =>
          new Promise<void>((resolve, reject) =>
            pub.publish(
              topic,
              Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
              { qos, ...properties },
              (err) => (err ? reject(err) : resolve()),
            ),
          ),
      );
      await done;
    },
    async close() {
      await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
    },
  };
}

/**
 * Records/s of both pipes, measured in alternation (bare, ours, ours, bare, ...) so that the
 * load of this shared machine falls on both alike; the median of SAMPLES batches each.
 */
type Which = "bare" | "bareUsp" | "ours";

async function measurePair(qos: 0 | 1): Promise<Record<Which, Figure>> {
  const pipes: Record<Which, Pipe> = {
    bare: await barePipe(broker.url, qos, `bare${qos}`),
    bareUsp: await barePipe(broker.url, qos, `bareusp${qos}`, true),
    ours: await ourPipe(broker.url, qos, `ours${qos}`),
  };
  try {
    const warm = recordsFor(1000);
    for (const pipe of Object.values(pipes)) await pipe.batch(warm);
    const rates: Record<Which, number[]> = { bare: [], bareUsp: [], ours: [] };
    const orders: Which[][] = [
      ["bare", "ours", "bareUsp"],
      ["ours", "bareUsp", "bare"],
      ["bareUsp", "bare", "ours"],
    ];
    for (let s = 0; s < SAMPLES * 2; s++) {
      const records = recordsFor(s);
      for (const which of orders[s % orders.length] ?? []) {
        const pipe = pipes[which];
        const start = performance.now();
        await stallGuard(pipe.batch(records), which);
        rates[which].push((BATCH * 1000) / (performance.now() - start));
      }
    }
    const median = (xs: number[]): Figure => {
      const sorted = [...xs].sort((a, b) => a - b);
      return { value: sorted[Math.floor(sorted.length / 2)] ?? 0, unit: "records/s" };
    };
    return { bare: median(rates.bare), bareUsp: median(rates.bareUsp), ours: median(rates.ours) };
  } finally {
    for (const pipe of Object.values(pipes)) await pipe.close();
  }
}

// Mosquitto drops QoS 1 messages beyond 1,000 queued per subscriber by default: a publisher that
// runs ahead of the subscriber would lose Records and the batch would never complete.
const broker = await startMosquitto({ extraConfig: ["max_queued_messages 0"] });
try {
  const groups: Group[] = [];
  for (const qos of [0, 1] as const) {
    let measured: Promise<Record<Which, Figure>> | undefined;
    const once = () => {
      measured ??= measurePair(qos);
      return measured;
    };
    groups.push({
      name: `Agent -> Controller through Mosquitto, MQTT 5, QoS ${qos}, ~120-byte Records, 10,000 per batch`,
      note: "aim: ours >= 0.9x bare mqtt publish/subscribe of the same bytes; batches alternate between candidates; the third line does the codec's share of our work on bare mqtt",
      candidates: [
        { name: "bare mqtt", baseline: true, run: async () => (await once()).bare },
        { name: "@x/mtp-mqtt", run: async () => (await once()).ours },
        { name: "bare mqtt + USP properties + decodeRecord", run: async () => (await once()).bareUsp },
      ],
    });
  }
  await runBenchmarks("@x/mtp-mqtt", groups);
} finally {
  await broker.dispose();
}
