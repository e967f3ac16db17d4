/**
 * Benchmarks, one run on loopback, as ratios:
 *  - throughput through our S2DS pair (outbound -> TLS-PSK -> inbound) vs a Debian stunnel4 pair
 *    with PSK-AES128-GCM-SHA256 (baseline) vs direct TCP, with 1 and 4 parallel channels;
 *  - session set-up latency: a full SciStream session on two S2CS (req, hello, update on both,
 *    release) vs starting a stunnel pair (what the reference S2CS does per session).
 */
import net from "node:net";
import { type Figure, measureDuration, runBenchmarks } from "@x/bench";
import { S2ds } from "../src/s2ds/s2ds.js";
import { generateUid, referencePsk } from "../src/uid.js";
import { pki, startFacility } from "../test/helpers.js";
import { freePort, type StunnelHandle, startStunnel } from "../test/stunnel.js";

const MB = 1024 * 1024;
/** Total bytes per throughput sample (split over the channels); SCISTREAM_BENCH_MB overrides. */
const BYTES_PER_SAMPLE = Number(process.env["SCISTREAM_BENCH_MB"] ?? 96) * MB;

/** A sink that counts bytes; `until(n)` resolves when n bytes arrived in total. */
async function startSink() {
  let received = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      received += d.length;
      if (waiter !== undefined && received >= waiter.target) {
        const w = waiter;
        waiter = undefined;
        w.resolve();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    reset: () => {
      received = 0;
    },
    until: (target: number) =>
      new Promise<void>((resolve) => {
        if (received >= target) resolve();
        else waiter = { target, resolve };
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const CHUNK = Buffer.alloc(256 * 1024, 0x5a);

/** Writes `bytes` to host:port with back-pressure, then ends. */
function pump(port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, noDelay: true }, () => {
      let left = bytes;
      const write = () => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
            s.once("drain", write);
            return;
          }
        }
        s.end();
        resolve();
      };
      write();
    });
    s.on("error", reject);
  });
}

type Sink = Awaited<ReturnType<typeof startSink>>;

/** One throughput sample in Gbit/s: `ports.length` parallel streams into the sink. */
async function sampleThroughput(sink: Sink, ports: readonly number[]): Promise<number> {
  const perChannel = Math.floor(BYTES_PER_SAMPLE / ports.length);
  const total = perChannel * ports.length;
  sink.reset();
  const start = performance.now();
  const done = sink.until(total);
  await Promise.all(ports.map((p) => pump(p, perChannel)));
  await done;
  const seconds = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 50));
  return (total * 8) / seconds / 1e9;
}

interface PathSetup {
  readonly name: string;
  readonly baseline?: true;
  readonly setup: () => Promise<{ ports: readonly number[]; close: () => Promise<void> }>;
}

/**
 * Measures every path in rounds, one sample per path per round in rotating order, and reports
 * each path's median. On a shared machine the load changes from second to second; interleaving
 * exposes every candidate to the same conditions, which sequential runs do not.
 */
async function interleavedThroughput(sink: Sink, paths: readonly PathSetup[], rounds = 5) {
  const opened = [];
  for (const p of paths) opened.push({ path: p, pair: await p.setup(), samples: [] as number[] });
  try {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < opened.length; i++) {
        const o = opened[(i + round) % opened.length]!;
        o.samples.push(await sampleThroughput(sink, o.pair.ports));
      }
    }
  } finally {
    for (const o of opened) await o.pair.close();
  }
  return new Map(
    opened.map((o) => {
      const sorted = [...o.samples].sort((a, b) => a - b);
      return [o.path.name, sorted[Math.floor(sorted.length / 2)]!] as const;
    }),
  );
}

async function ourPair(sink: Sink, channels: number, profile: "secure" | "tls12") {
  // Default worker pool (cores - 1, 1..4).
  const prod = new S2ds({ profile });
  const cons = new S2ds({ profile });
  const uid = generateUid();
  const inbound = await prod.openSession({ uid, direction: "inbound", numConn: channels });
  await inbound.setTargets([{ host: "127.0.0.1", port: sink.port }]);
  const outbound = await cons.openSession({ uid, direction: "outbound", numConn: channels });
  await outbound.setTargets(inbound.ports.map((port) => ({ host: "127.0.0.1", port })));
  return {
    ports: outbound.ports,
    close: async () => {
      await cons.close();
      await prod.close();
    },
  };
}

async function stunnelPair(
  sink: Sink,
  channels: number,
): Promise<{ ports: number[]; close: () => Promise<void> }> {
  const uid = generateUid();
  const psk = { identity: "client1", keyHex: referencePsk(uid).toString("hex") };
  const ciphers = "PSK-AES128-GCM-SHA256";
  const serverPorts: number[] = [];
  const clientPorts: number[] = [];
  for (let i = 0; i < channels; i++) {
    serverPorts.push(await freePort());
    clientPorts.push(await freePort());
  }
  const server: StunnelHandle = await startStunnel(
    serverPorts.map((p) => ({ client: false, acceptPort: p, connect: `127.0.0.1:${sink.port}`, ciphers })),
    psk,
  );
  const client = await startStunnel(
    clientPorts.map((p, i) => ({
      client: true,
      acceptPort: p,
      connect: `127.0.0.1:${serverPorts[i]}`,
      ciphers,
    })),
    psk,
  );
  return {
    ports: clientPorts,
    close: async () => {
      await client.stop();
      await server.stop();
    },
  };
}

function throughputGroup(sink: Sink, channels: number) {
  const paths: PathSetup[] = [
    { name: "stunnel4 pair PSK-AES128-GCM-SHA256", baseline: true, setup: () => stunnelPair(sink, channels) },
    { name: "ours, S2DS pair, secure (TLS 1.3 PSK)", setup: () => ourPair(sink, channels, "secure") },
    { name: "ours, S2DS pair, tls12 (PSK-AES128-GCM)", setup: () => ourPair(sink, channels, "tls12") },
    {
      name: "direct TCP (ceiling)",
      setup: async () => ({ ports: Array(channels).fill(sink.port) as number[], close: async () => {} }),
    },
  ];
  let results: Promise<Map<string, number>> | undefined;
  const figure = async (name: string): Promise<Figure> => {
    results ??= interleavedThroughput(sink, paths);
    return { value: (await results).get(name)!, unit: "Gbit/s" };
  };
  return {
    name: `throughput, ${channels} parallel channel${channels > 1 ? "s" : ""} (${BYTES_PER_SAMPLE / MB} MiB per sample)`,
    note: "relay pair on loopback, candidates interleaved, median of 5; aim: ours >= 1.0x stunnel",
    candidates: paths.map((p) => ({
      name: p.name,
      ...(p.baseline ? { baseline: true } : {}),
      run: () => figure(p.name),
    })),
  };
}

async function main() {
  const sink = await startSink();
  await pki();
  const prod = await startFacility({ s2ds: { workers: 1 }, rateLimit: false, peerRateLimit: false });
  const cons = await startFacility({ s2ds: { workers: 1 }, rateLimit: false, peerRateLimit: false });
  const prodClient = prod.client();
  const consClient = cons.client();
  try {
    await runBenchmarks("@x/scistream", [
      throughputGroup(sink, 1),
      throughputGroup(sink, 4),
      {
        name: "session set-up latency (2 channels)",
        lowerIsBetter: true,
        note: "ours: req+hello+update on both S2CS over gRPC/TLS, then release; baseline: starting a stunnel pair",
        candidates: [
          {
            name: "stunnel pair start (reference S2DS mechanism)",
            baseline: true,
            run: () =>
              measureDuration(async () => {
                const pair = await stunnelPair(sink, 2);
                await pair.close();
              }, 7),
          },
          {
            name: "ours, full SciStream session",
            run: () =>
              measureDuration(async () => {
                const uid = generateUid();
                const ib = await prodClient.inboundRequest({
                  uid,
                  numConn: 2,
                  receivers: [`127.0.0.1:${sink.port}`],
                });
                await consClient.outboundRequest({ uid, numConn: 2, remoteListeners: ib.listeners });
                await prodClient.release(uid);
                await consClient.release(uid);
              }, 7),
          },
        ],
      },
    ]);
  } finally {
    await prod.close();
    await cons.close();
    await sink.close();
  }
}

await main();
