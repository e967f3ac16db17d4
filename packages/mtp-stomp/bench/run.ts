/**
 * Records per second through one real RabbitMQ (STOMP plugin): our MTP's `send()` against a bare
 * STOMP client that writes the very same SEND frames on a raw socket. Both feed the same kind of
 * consumer (a raw subscriber counting MESSAGE frames), with the same number of Records in flight.
 * Run with `pnpm bench` (tsx). Starts and disposes its own broker.
 */
import { connect, type Socket } from "node:net";
import { runBenchmarks } from "@x/bench";
import { type RunningRabbitMq, startRabbitMq } from "@x/test-brokers";
import { encodeRecord, noSessionContextRecord } from "@x/usp-record";
import { StompConnection } from "../src/connection.js";
import { encodeFrame, type StompFrame } from "../src/frame.js";
import { createStompMtp, type StompMtp, USP_CONTENT_TYPE } from "../src/mtp.js";
import { FrameParser } from "../src/parser.js";

const RECORDS_PER_SAMPLE = 2000;
const SAMPLES = 5;
const WINDOW = 64;
const AGENT = "proto::bench-agent";
const CONTROLLER = "proto::bench-controller";
const AGENT_DEST = "/queue/bench.agent";

let run = 0;

/** A raw subscriber counting MESSAGE frames on a fresh queue. */
async function consumer(broker: RunningRabbitMq, destination: string) {
  const connection = await StompConnection.connect({
    host: broker.host,
    port: broker.stompPort,
    endpointId: "proto::bench-consumer",
    login: broker.login,
    passcode: broker.passcode,
  });
  let count = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  connection.on("frame", (f: StompFrame) => {
    if (f.command !== "MESSAGE") return;
    count++;
    if (waiter && count >= waiter.target) waiter.resolve();
  });
  await connection.request("SUBSCRIBE", [
    ["id", "1"],
    ["destination", destination],
    ["ack", "auto"],
  ]);
  return {
    get count() {
      return count;
    },
    until(target: number): Promise<void> {
      if (count >= target) return Promise.resolve();
      return new Promise((resolve) => {
        waiter = { target, resolve };
      });
    },
    close: () => connection.disconnect(),
  };
}

/** Sends `total` items keeping `WINDOW` in flight. */
async function pipeline(total: number, sendOne: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) await sendOne(next++);
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
}

function recordBytes(payloadBytes: number): Uint8Array {
  return encodeRecord(
    noSessionContextRecord({ toId: CONTROLLER, fromId: AGENT, payload: Buffer.alloc(payloadBytes, 0x5a) }),
  );
}

interface Runner {
  /** One sample: sends RECORDS_PER_SAMPLE Records and waits until all are delivered; returns records/s. */
  sample(): Promise<number>;
  close(): Promise<void>;
}

/** Ours: agent MTP `send()` to the consumer's queue. */
async function ours(broker: RunningRabbitMq, record: Uint8Array, receipts: boolean): Promise<Runner> {
  const destination = `/queue/bench.ours.${process.pid}.${++run}`;
  const sink = await consumer(broker, destination);
  const agent: StompMtp = createStompMtp({
    role: "agent",
    endpointId: AGENT,
    broker: { host: broker.host, port: broker.stompPort, login: broker.login, passcode: broker.passcode },
    destination: AGENT_DEST,
    peers: [{ endpointId: CONTROLLER, destination }],
    sendConnectRecord: false,
    receipts,
  });
  await agent.open();
  let delivered = 0;
  return {
    async sample() {
      const start = performance.now();
      await pipeline(RECORDS_PER_SAMPLE, () => agent.send(CONTROLLER, record));
      delivered += RECORDS_PER_SAMPLE;
      await sink.until(delivered);
      return (RECORDS_PER_SAMPLE * 1000) / (performance.now() - start);
    },
    async close() {
      await agent.close({ abrupt: true });
      await sink.close();
    },
  };
}

/** Baseline: a bare STOMP client on a raw socket writing the same SEND frames (same headers and body). */
async function bare(broker: RunningRabbitMq, record: Uint8Array, receipts: boolean): Promise<Runner> {
  const destination = `/queue/bench.bare.${process.pid}.${++run}`;
  const sink = await consumer(broker, destination);
  const socket: Socket = connect(broker.stompPort, broker.host);
  socket.setNoDelay(true);
  const pending = new Map<string, () => void>();
  let connected: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const parser = new FrameParser((f) => {
    if (f.command === "CONNECTED") connected();
    if (f.command === "RECEIPT") {
      const id = f.headers.get("receipt-id") ?? "";
      pending.get(id)?.();
      pending.delete(id);
    }
  });
  socket.on("data", (d: Buffer) => parser.push(d));
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(
    encodeFrame("STOMP", [
      ["accept-version", "1.2"],
      ["endpoint-id", AGENT],
      ["login", broker.login],
      ["passcode", broker.passcode],
    ]),
  );
  await ready;
  const headers: Array<[string, string]> = [
    ["content-length", String(record.byteLength)],
    ["content-type", USP_CONTENT_TYPE],
    ["reply-to-dest", AGENT_DEST],
    ["destination", destination],
  ];
  const unreceipted = encodeFrame("SEND", headers, record);
  let receiptId = 0;
  let delivered = 0;
  return {
    async sample() {
      const start = performance.now();
      await pipeline(RECORDS_PER_SAMPLE, () => {
        if (!receipts) {
          socket.write(unreceipted);
          return Promise.resolve();
        }
        const id = `r-${++receiptId}`;
        const done = new Promise<void>((resolve) => pending.set(id, resolve));
        socket.write(encodeFrame("SEND", [...headers, ["receipt", id]], record));
        return done;
      });
      delivered += RECORDS_PER_SAMPLE;
      await sink.until(delivered);
      return (RECORDS_PER_SAMPLE * 1000) / (performance.now() - start);
    },
    async close() {
      socket.destroy();
      await sink.close();
    },
  };
}

/**
 * Measures both candidates in alternating rounds (bare, ours, ours, bare, ...) so the drift of a
 * shared, loaded machine hits both alike; returns the medians.
 */
async function measurePair(
  broker: RunningRabbitMq,
  record: Uint8Array,
  receipts: boolean,
): Promise<{ bare: number; ours: number }> {
  const runners = { bare: await bare(broker, record, receipts), ours: await ours(broker, record, receipts) };
  const rates = { bare: [] as number[], ours: [] as number[] };
  try {
    for (let round = 0; round < SAMPLES; round++) {
      const order = round % 2 === 0 ? (["bare", "ours"] as const) : (["ours", "bare"] as const);
      for (const name of order) rates[name].push(await runners[name].sample());
    }
  } finally {
    await runners.bare.close();
    await runners.ours.close();
  }
  return { bare: median(rates.bare), ours: median(rates.ours) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const broker = await startRabbitMq();
try {
  const small = recordBytes(200);
  const large = recordBytes(64 * 1024);
  const group = (name: string, record: Uint8Array, receipts: boolean, note: string) => {
    let measured: Promise<{ bare: number; ours: number }> | undefined;
    const both = () => (measured ??= measurePair(broker, record, receipts));
    return {
      name,
      note,
      candidates: [
        {
          name: "bare STOMP client (raw socket, same frames)",
          baseline: true,
          run: async () => ({ value: (await both()).bare, unit: "records/s" }),
        },
        {
          name: "@x/mtp-stomp StompMtp.send()",
          run: async () => ({ value: (await both()).ours, unit: "records/s" }),
        },
      ],
    };
  };
  await runBenchmarks("@x/mtp-stomp", [
    group(
      `${small.byteLength}-byte Records, RECEIPT per SEND (default)`,
      small,
      true,
      `RabbitMQ, ${SAMPLES} alternating rounds of ${RECORDS_PER_SAMPLE}, ${WINDOW} in flight, until delivered to a subscriber; aim >= 0.9x`,
    ),
    group(
      `${small.byteLength}-byte Records, no receipts`,
      small,
      false,
      "fire-and-forget SEND on both sides; aim >= 0.9x",
    ),
    group(
      `${large.byteLength}-byte Records, RECEIPT per SEND`,
      large,
      true,
      "larger bodies: framing and copying dominate",
    ),
  ]);
} finally {
  await broker.dispose();
}
