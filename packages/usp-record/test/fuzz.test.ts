/**
 * Fuzzing: >= 100,000 random and mutated inputs. Every input must give either a valid Record
 * (which re-validates, re-encodes and decodes to the same value) or a RecordError with a USP
 * code in 7100-7106. Anything else (another exception type, a crash, a Record that fails its
 * own validation) fails the test.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMsg,
  decodeRecord,
  encodeMsg,
  encodeRecord,
  errorRecordFor,
  MsgError,
  RECORD_ERRORS,
  RecordError,
  validateRecord,
} from "../src/index.js";
import { anyRecordArb, msgArbs } from "./helpers/arbitraries.js";
import { GET_MSG_HEX, RECORD_VECTORS } from "./vectors.js";

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "delete"; at: number; length: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "truncate"; at: number }
  | { kind: "duplicate"; at: number; length: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x4a, 0x6a),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("duplicate" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 12 }),
  }),
);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    switch (m.kind) {
      case "flip":
        if (bytes.length > 0) bytes[at] = (bytes[at] as number) ^ (1 << m.bit);
        break;
      case "set":
        if (bytes.length > 0) bytes[at] = m.value;
        break;
      case "delete":
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + m.length));
        break;
      case "insert":
        bytes = concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
        break;
      case "truncate":
        bytes = bytes.subarray(0, at);
        break;
      case "duplicate":
        bytes = concat(bytes.subarray(0, at + m.length), bytes.subarray(at));
        break;
    }
  }
  return bytes;
}

const stats = { valid: 0, rejected: 0 };

/** True when the outcome is acceptable; throws (fails the property) otherwise. */
function checkRecordBytes(bytes: Uint8Array): boolean {
  let record: ReturnType<typeof decodeRecord>;
  try {
    record = decodeRecord(bytes);
  } catch (error) {
    if (!(error instanceof RecordError)) throw new Error(`non-RecordError thrown: ${String(error)}`);
    if (!(error.uspCode in RECORD_ERRORS) || !error.code.startsWith("ERR_USP_"))
      throw new Error("bad error code");
    stats.rejected++;
    return true;
  }
  stats.valid++;
  validateRecord(record);
  // Canonical form: re-encoding the decoded Record, decoding and encoding again gives the same bytes.
  const canonical = encodeRecord(record);
  const again = encodeRecord(decodeRecord(canonical));
  if (Buffer.compare(canonical, again) !== 0) throw new Error("re-encoding is not stable");
  return true;
}

const seeds: Uint8Array[] = [
  ...RECORD_VECTORS.map((v) => Uint8Array.from(Buffer.from(v.hex, "hex"))),
  ...fc.sample(anyRecordArb, { numRuns: 40, seed: 42 }).map((r) => encodeRecord(r)),
];

describe("fuzz: decodeRecord yields only valid Records or RecordError", () => {
  it("40,000 random byte strings", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), checkRecordBytes), { numRuns: 40_000 });
  });

  it("70,000 mutations of golden vectors and generated Records", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        (seed, mutations) => checkRecordBytes(mutate(seed, mutations)),
      ),
      { numRuns: 70_000 },
    );
    // The mutations must reach both outcomes, or the fuzzer is not exercising the decoder.
    expect(stats.valid).toBeGreaterThan(1_000);
    expect(stats.rejected).toBeGreaterThan(10_000);
  });

  it("errorRecordFor never throws on hostile input", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        (seed, mutations) => {
          const answer = errorRecordFor(mutate(seed, mutations), "proto::controller");
          if (answer !== undefined) decodeRecord(answer);
          return true;
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe("fuzz: decodeMsg yields only valid Msgs or MsgError", () => {
  it("20,000 mutated Msgs", () => {
    const msgSeeds = [
      Uint8Array.from(Buffer.from(GET_MSG_HEX, "hex")),
      ...Object.values(msgArbs).flatMap((arb) =>
        fc.sample(arb, { numRuns: 3, seed: 7 }).map((m) => encodeMsg(m)),
      ),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...msgSeeds),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        (seed, mutations) => {
          try {
            encodeMsg(decodeMsg(mutate(seed, mutations)));
          } catch (error) {
            if (!(error instanceof MsgError)) throw new Error(`non-MsgError thrown: ${String(error)}`);
          }
          return true;
        },
      ),
      { numRuns: 20_000 },
    );
  });
});
