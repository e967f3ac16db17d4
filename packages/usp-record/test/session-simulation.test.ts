/**
 * Seeded simulation: two engines exchange 10,000 Msgs of random sizes (0 to 1 MiB) over a link that
 * drops, duplicates and reorders at least 10 % each, with MaxUSPRecordSize from 512 bytes to 64 KiB.
 * Every Msg must arrive exactly once, in order, byte-identical, with bounded buffers. A failure
 * prints the seed; re-run with E2E_SEED=<seed> to reproduce.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeRecord } from "../src/index.js";
import { pair, prng, SimulatedLink } from "./session-harness.js";

const SEED = Number(process.env.E2E_SEED ?? 0x5eed);
const PROFILE = { drop: 0.1, duplicate: 0.1, reorder: 0.1, delayMs: 5 };
// 4 runs x 2,500 Msgs = 10,000 Msgs, both directions.
const RUNS = [
  { maxRecordSize: 512, msgs: 2500 },
  { maxRecordSize: 4096, msgs: 2500 },
  { maxRecordSize: 16384, msgs: 2500 },
  { maxRecordSize: 65536, msgs: 2500 },
];
const MAX_MSG = 1024 * 1024;
const OUT_OF_ORDER_LIMIT = 4 * 1024 * 1024;
const WINDOW_BYTES = 2 * 1024 * 1024;

/** Sizes from 0 to 1 MiB, log-uniform so that small Msgs (the common USP case) and large ones both occur. */
function msgSize(random: () => number, maxRecordSize: number): number {
  const r = random();
  if (r < 0.02) return 0;
  if (r < 0.03) return MAX_MSG;
  // Small Records make large Msgs expensive to simulate; cap the bulk of them, keep the extremes above.
  const top = maxRecordSize <= 512 ? 64 * 1024 : MAX_MSG;
  return Math.floor(2 ** (random() * Math.log2(top)));
}

function makeMsg(random: () => number, size: number, index: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = (index * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  if (size > 0) bytes[0] = Math.floor(random() * 256);
  return bytes;
}

const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("E2E session over a lossy, duplicating, reordering link", () => {
  for (const [runIndex, run] of RUNS.entries()) {
    it(`delivers ${run.msgs} Msgs exactly once, in order, at MaxUSPRecordSize ${run.maxRecordSize} (seed ${SEED + runIndex})`, {
      timeout: 240_000,
    }, () => {
      const seed = SEED + runIndex;
      const random = prng(seed);
      const { agent, controller } = pair({
        parameters: { MaxUSPRecordSize: run.maxRecordSize, MaxRetransmitTries: -1 },
        limits: {
          maxOutOfOrderBytes: OUT_OF_ORDER_LIMIT,
          maxMsgSize: MAX_MSG,
          retransmitTimeoutMs: 200,
          ackDelayMs: 5,
        },
        random,
      });
      const link = new SimulatedLink(agent, controller, PROFILE, random, false);
      const expected = { agent: [] as string[], controller: [] as string[] };
      const peak = { outOfOrder: 0, reassembly: 0, outgoing: 0 };
      let sent = 0;
      let checkedRecords = 0;
      const originalAbsorb = link.absorb.bind(link);
      // Every Record on the wire must respect MaxUSPRecordSize (checked on a sample to keep the run fast).
      link.absorb = (from, out) => {
        for (const r of out.records) {
          expect(r.length, `seed ${seed}`).toBeLessThanOrEqual(run.maxRecordSize);
          if (checkedRecords++ % 97 === 0) decodeRecord(r);
        }
        originalAbsorb(from, out);
      };
      let steps = 0;
      while (sent < run.msgs || link.step()) {
        // Offer a Msg when the sender's window allows it (back-pressure on unacknowledged bytes).
        if (sent < run.msgs) {
          const from = random() < 0.5 ? "agent" : "controller";
          const to = from === "agent" ? "controller" : "agent";
          if (link[from].snapshot.outgoingBytes < WINDOW_BYTES) {
            const m = makeMsg(random, msgSize(random, run.maxRecordSize), sent);
            expected[to].push(digest(m));
            link.send(from, m);
            sent++;
          } else if (!link.step()) {
            break;
          }
        }
        for (const side of ["agent", "controller"] as const) {
          const s = link[side].snapshot;
          peak.outOfOrder = Math.max(peak.outOfOrder, s.outOfOrderBytes);
          peak.reassembly = Math.max(peak.reassembly, s.reassemblyBytes);
          peak.outgoing = Math.max(peak.outgoing, s.outgoingBytes);
        }
        if (++steps > 20_000_000) throw new Error(`seed ${seed}: simulation did not settle`);
      }
      for (const side of ["agent", "controller"] as const) {
        const got = link.delivered[side].map(digest);
        expect(got.length, `seed ${seed}: ${side} received ${got.length} of ${expected[side].length}`).toBe(
          expected[side].length,
        );
        expect(got, `seed ${seed}: ${side} Msgs differ or are out of order`).toEqual(expected[side]);
        expect(link[side].snapshot.restarts, `seed ${seed}`).toBe(0);
        // Every Msg was acknowledged; only empty acknowledgement Records may wait for the peer's next Record.
        expect(link[side].snapshot.unacknowledgedMsgs, `seed ${seed}: ${side} left unacknowledged Msgs`).toBe(
          0,
        );
        expect(link[side].snapshot.queuedMsgs).toBe(0);
      }
      expect(peak.outOfOrder).toBeLessThanOrEqual(OUT_OF_ORDER_LIMIT);
      expect(peak.reassembly).toBeLessThanOrEqual(MAX_MSG);
      // The sender never holds much more than its window plus one Msg in flight.
      expect(peak.outgoing).toBeLessThanOrEqual(WINDOW_BYTES + 2 * MAX_MSG);
    });
  }
});
