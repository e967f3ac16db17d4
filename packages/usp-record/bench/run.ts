/**
 * Record codec benchmarks: ours (validated) beside the bare ts-proto generated code (no
 * validation, the baseline) and protobufjs reflection loaded from the same .proto files, for a
 * small Connect Record, a ~1 KiB and a ~64 KiB no_session_context Record. Run: `pnpm bench`.
 */
import { fileURLToPath } from "node:url";
import { type Candidate, type Group, measureOps, runBenchmarks } from "@x/bench";
import protobuf from "protobufjs";
import {
  decodeRecord,
  encodeRecord,
  mqttConnectRecord,
  noSessionContextRecord,
  RecordCodec,
  type UspRecord,
} from "../src/index.js";
import { encodeValidRecord } from "../src/record-encode.js";
import { decodeRecordWire } from "../src/record-wire.js";
import { sessionGroups } from "./session.js";

const protoDir = fileURLToPath(new URL("../proto/", import.meta.url));
const root = protobuf.loadSync([`${protoDir}usp-record-1-4.proto`, `${protoDir}usp-msg-1-4.proto`]);
const PbRecord = root.lookupType("usp_record.Record");

const addressing = { toId: "self::ts-controller", fromId: "os::012345-OBUSPA-0001", version: "1.3" };

function payloadOfTotal(total: number): Uint8Array {
  const overhead =
    encodeRecord(noSessionContextRecord({ ...addressing, payload: new Uint8Array(1) })).length - 1;
  // Length prefixes grow with the payload; a few bytes of slack keep the total at or under `total`.
  const payload = new Uint8Array(total - overhead - 4);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  return payload;
}

const cases: { name: string; record: UspRecord }[] = [
  {
    name: "MQTTConnectRecord (77 B)",
    record: mqttConnectRecord({ ...addressing, mqttVersion: "5", subscribedTopic: "usp/agent/obuspa-0001" }),
  },
  {
    name: "no_session_context 1 KiB",
    record: noSessionContextRecord({ ...addressing, payload: payloadOfTotal(1024) }),
  },
  {
    name: "no_session_context 64 KiB",
    record: noSessionContextRecord({ ...addressing, payload: payloadOfTotal(65536) }),
  },
];

let sink = 0;
const groups: Group[] = [];

interface Contender {
  readonly name: string;
  readonly baseline?: true;
  readonly fn: () => unknown;
}

const ROUNDS = 9;

/**
 * Measures the contenders in interleaved short rounds and keeps each one's median, so that load
 * from other processes on a shared machine hits every contender alike (measuring them one after
 * the other let load drift swing the ratios by +-50%).
 */
async function interleaved(
  contenders: readonly Contender[],
  opts: { workPerCall: number; unit: string; scale: number },
): Promise<Candidate[]> {
  const rates = contenders.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of contenders.entries()) {
      const figure = await measureOps(c.fn, {
        ...opts,
        minTimeMs: 60,
        samples: 1,
        warmupMs: round === 0 ? 150 : 10,
      });
      rates[i]?.push(figure.value);
    }
  }
  return contenders.map((c, i) => {
    const sorted = [...(rates[i] ?? [])].sort((a, b) => a - b);
    const value = sorted[Math.floor(sorted.length / 2)] ?? 0;
    return {
      name: c.name,
      ...(c.baseline ? { baseline: true } : {}),
      run: () => ({ value, unit: opts.unit }),
    };
  });
}
for (const { name, record } of cases) {
  const bytes = encodeRecord(record);
  const pbMessage = PbRecord.decode(bytes);
  const large = bytes.length > 4096;
  const opts = large
    ? { workPerCall: bytes.length, unit: "MB/s", scale: 1e6 }
    : { workPerCall: 1, unit: "records/s", scale: 1 };
  const size = `${name.split(" (")[0]}, ${bytes.length} B`;
  const encoders = await interleaved(
    [
      {
        name: "bare ts-proto (no validation)",
        baseline: true,
        fn: () => (sink += RecordCodec.encode(record).finish().length),
      },
      { name: "ours (validated)", fn: () => (sink += encodeRecord(record).length) },
      { name: "ours, codec only (no validation)", fn: () => (sink += encodeValidRecord(record).length) },
      { name: "protobufjs reflection", fn: () => (sink += PbRecord.encode(pbMessage).finish().length) },
    ],
    opts,
  );
  const decoders = await interleaved(
    [
      {
        name: "bare ts-proto (no validation)",
        baseline: true,
        fn: () => (sink += RecordCodec.decode(bytes).version.length),
      },
      { name: "ours (validated)", fn: () => (sink += decodeRecord(bytes).version.length) },
      {
        name: "ours, codec only (no validation)",
        fn: () => (sink += decodeRecordWire(bytes).version.length),
      },
      {
        name: "protobufjs reflection",
        fn: () => (sink += (PbRecord.decode(bytes) as unknown as { version: string }).version.length),
      },
    ],
    opts,
  );
  const aim = "aim: ours (validated) >= 0.90x of bare ts-proto, and >= protobufjs";
  groups.push({ name: `encode ${size}`, note: aim, candidates: encoders });
  groups.push({ name: `decode ${size}`, note: aim, candidates: decoders });
}

groups.push(...sessionGroups());

await runBenchmarks("@x/usp-record", groups, fileURLToPath(new URL("..", import.meta.url)));
if (sink === 42) console.log("");
