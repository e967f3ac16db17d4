/**
 * Benchmarks, each beside a baseline in the same run (loopback):
 *  1. bytes/s through a TAPS Connection (no framer) vs a bare net socket;
 *  2. bytes/s of 64 KiB Messages with a length-prefix framer vs a bare net socket with a hand-written one;
 *  3. Messages/s of 100-byte Messages with a length-prefix framer vs the same bare net socket;
 *  4. establishment time when the first address is black-holed: our racer vs net.connect autoSelectFamily.
 */
import net from "node:net";
import { type Group, measureDuration, measureOps, runBenchmarks } from "@x/bench";
import {
  type Connection,
  LengthPrefixFramer,
  LocalEndpoint,
  Preconnection,
  RemoteEndpoint,
  TransportProperties,
} from "../src/index.js";
import { blackHole, netServer } from "../test/helpers.js";

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const BYTES_PER_CALL = 8 * 1024 * 1024;
const SMALL = Buffer.alloc(100, 0x62);
const MESSAGES_PER_CALL = 2000;

const closers: (() => Promise<void> | void)[] = [];

// ------------------------------------------------------------------------------------------
// Bare net pair

interface NetPair {
  client: net.Socket;
  onBytes: (n: number) => void;
  onMessages: (n: number) => void;
  /** Each parsed Message, as an application would receive it. */
  onMessage: (m: Buffer) => void;
}

async function netPair(parseFrames: boolean): Promise<NetPair> {
  const pair: NetPair = {
    client: undefined as unknown as net.Socket,
    onBytes: () => {},
    onMessages: () => {},
    onMessage: () => {},
  };
  const server = await netServer((s) => {
    let pending: Buffer = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      if (!parseFrames) return pair.onBytes(d.length);
      // Hand-written length-prefix parser: what an application would write without TAPS.
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      let count = 0;
      let bytes = 0;
      let at = 0;
      while (pending.length - at >= 4) {
        const n = pending.readUInt32BE(at);
        if (pending.length - at - 4 < n) break;
        pair.onMessage(pending.subarray(at + 4, at + 4 + n));
        at += 4 + n;
        count++;
        bytes += n;
      }
      pending = pending.subarray(at);
      if (count > 0) {
        pair.onMessages(count);
        pair.onBytes(bytes);
      }
    });
  });
  pair.client = net.connect({ host: "127.0.0.1", port: server.port });
  await new Promise<void>((r) => pair.client.once("connect", () => r()));
  closers.push(() => {
    pair.client.destroy();
    return server.close();
  });
  return pair;
}

function framed(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

async function writeAll(socket: net.Socket, bufs: () => Buffer | undefined): Promise<void> {
  for (;;) {
    const b = bufs();
    if (!b) return;
    if (!socket.write(b)) await new Promise<void>((r) => socket.once("drain", () => r()));
  }
}

// ------------------------------------------------------------------------------------------
// TAPS pair

interface TapsPair {
  client: Connection;
  onBytes: (n: number) => void;
  onMessages: (n: number) => void;
}

async function tapsPair(withFramer: boolean): Promise<TapsPair> {
  const tp = withFramer
    ? new TransportProperties().require("preserve-msg-boundaries")
    : new TransportProperties();
  const listenerPre = new Preconnection({
    local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
    transportProperties: tp,
  });
  if (withFramer) listenerPre.addFramer(new LengthPrefixFramer());
  const listener = listenerPre.listen();
  const pair: TapsPair = {
    client: undefined as unknown as Connection,
    onBytes: () => {},
    onMessages: () => {},
  };
  listener.on("connectionReceived", (conn) => {
    void (async () => {
      for await (const m of conn.messages({ minIncompleteLength: withFramer ? undefined : 1 })) {
        pair.onBytes(m.data.length);
        if (m.endOfMessage) pair.onMessages(1);
      }
    })().catch(() => {});
  });
  await listener.ready;
  const pre = new Preconnection({
    remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(listener.port!),
    transportProperties: tp,
  });
  if (withFramer) pre.addFramer(new LengthPrefixFramer());
  pair.client = pre.initiate();
  await pair.client.ready;
  closers.push(async () => {
    pair.client.abort();
    await listener.stop();
  });
  return pair;
}

/** Resolves when `target` units were counted through the setter. */
function counting(set: (f: (n: number) => void) => void, target: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    set((n) => {
      got += n;
      if (got >= target) {
        set(() => {});
        resolve();
      }
    });
  });
}

/** Sends with TAPS while keeping at most `window` Sends outstanding (like waiting for 'drain'). */
async function tapsSendAll(conn: Connection, count: number, data: Buffer, window: number): Promise<void> {
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    inflight.push(conn.send(data));
    if (inflight.length >= window) await inflight.shift();
  }
  await Promise.all(inflight);
}

// ------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const bareRaw = await netPair(false);
  const bareFramed = await netPair(true);
  const tapsRaw = await tapsPair(false);
  const tapsFramed = await tapsPair(true);
  const chunks = BYTES_PER_CALL / CHUNK.length;

  const bytesOptions = {
    workPerCall: BYTES_PER_CALL,
    unit: "MB/s",
    scale: 1e6,
    samples: 5,
    minTimeMs: 400,
  } as const;
  const msgOptions = { workPerCall: MESSAGES_PER_CALL, unit: "msg/s", samples: 5, minTimeMs: 400 } as const;

  // Establishment with a black-holed first address ([::1]:P black hole, 127.0.0.1:P live).
  let hole = await blackHole("::1");
  let live: Awaited<ReturnType<typeof netServer>> | undefined;
  for (let i = 0; i < 10 && !live; i++) {
    try {
      live = await netServer((s) => s.end(), "127.0.0.1", hole.port);
    } catch {
      await hole.close();
      hole = await blackHole("::1");
    }
  }
  if (!live) throw new Error("could not set up the black hole");
  closers.push(
    () => hole.close(),
    () => live!.close(),
  );
  const port = hole.port;
  const lookup = ((
    _host: string,
    _opts: unknown,
    cb: (e: null, a: { address: string; family: number }[]) => void,
  ) =>
    cb(null, [
      { address: "::1", family: 6 },
      { address: "127.0.0.1", family: 4 },
    ])) as unknown as net.LookupFunction;
  const resolver = {
    lookup: async (_h: string, family: 4 | 6) => (family === 6 ? ["::1"] : ["127.0.0.1"]),
  };

  const groups: Group[] = [
    {
      name: "bytes/s, no framer (64 KiB writes)",
      note: "aim: TAPS >= 0.85x bare net",
      candidates: [
        {
          name: "bare net socket",
          baseline: true,
          run: () =>
            measureOps(async () => {
              const done = counting((f) => (bareRaw.onBytes = f), BYTES_PER_CALL);
              let i = 0;
              await writeAll(bareRaw.client, () => (i++ < chunks ? CHUNK : undefined));
              await done;
            }, bytesOptions),
        },
        {
          name: "TAPS Connection",
          run: () =>
            measureOps(async () => {
              const done = counting((f) => (tapsRaw.onBytes = f), BYTES_PER_CALL);
              await tapsSendAll(tapsRaw.client, chunks, CHUNK, 16);
              await done;
            }, bytesOptions),
        },
      ],
    },
    {
      name: "bytes/s, length-prefix framer (64 KiB Messages)",
      note: "baseline: the same framing hand-written on a net socket",
      candidates: [
        {
          name: "bare net + hand-written framing",
          baseline: true,
          run: () =>
            measureOps(async () => {
              const done = counting((f) => (bareFramed.onBytes = f), BYTES_PER_CALL);
              let i = 0;
              await writeAll(bareFramed.client, () => (i++ < chunks ? framed(CHUNK) : undefined));
              await done;
            }, bytesOptions),
        },
        {
          name: "TAPS + LengthPrefixFramer",
          run: () =>
            measureOps(async () => {
              const done = counting((f) => (tapsFramed.onBytes = f), BYTES_PER_CALL);
              await tapsSendAll(tapsFramed.client, chunks, CHUNK, 16);
              await done;
            }, bytesOptions),
        },
      ],
    },
    {
      name: "Messages/s, length-prefix framer (100-byte Messages)",
      note: "one Send and one Receive per Message vs one write per frame",
      candidates: [
        {
          name: "bare net + hand-written framing",
          baseline: true,
          run: () =>
            measureOps(async () => {
              const done = counting((f) => (bareFramed.onMessages = f), MESSAGES_PER_CALL);
              let i = 0;
              await writeAll(bareFramed.client, () => (i++ < MESSAGES_PER_CALL ? framed(SMALL) : undefined));
              await done;
            }, msgOptions),
        },
        {
          name: "TAPS + LengthPrefixFramer",
          run: () =>
            measureOps(async () => {
              const done = counting((f) => (tapsFramed.onMessages = f), MESSAGES_PER_CALL);
              await tapsSendAll(tapsFramed.client, MESSAGES_PER_CALL, SMALL, 256);
              await done;
            }, msgOptions),
        },
      ],
    },
    {
      name: "establishment, first address black-holed ([::1] dropped, 127.0.0.1 live)",
      lowerIsBetter: true,
      note: "both with a 250 ms attempt delay; ours keeps the first attempt alive",
      candidates: [
        {
          name: "net.connect autoSelectFamily",
          baseline: true,
          run: () =>
            measureDuration(
              () =>
                new Promise<void>((resolve, reject) => {
                  const s = net.connect({
                    host: "dual.test",
                    port,
                    lookup,
                    autoSelectFamily: true,
                    autoSelectFamilyAttemptTimeout: 250,
                  });
                  s.once("connect", () => {
                    s.destroy();
                    resolve();
                  });
                  s.once("error", reject);
                }),
              5,
            ),
        },
        {
          name: "TAPS racer",
          run: () =>
            measureDuration(async () => {
              const conn = new Preconnection({
                remote: new RemoteEndpoint().withHostname("dual.test").withPort(port),
                options: { resolver, attemptDelay: 250 },
              }).initiate({ timeout: 10_000 });
              await conn.ready;
              conn.abort();
            }, 5),
        },
      ],
    },
  ];

  try {
    await runBenchmarks("@x/taps-core", groups);
  } finally {
    for (const c of closers.reverse()) await c();
  }
}

await main();
