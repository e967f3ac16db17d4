/**
 * `usp-record session-demo`: two E2E session engines (Controller and Agent) exchange Msgs over a
 * simulated link that drops, duplicates and reorders Records, so a user can watch the mechanism:
 * segmentation, retransmission requests, tail probes, in-order delivery. Virtual time; no network.
 */
import { createHash } from "node:crypto";
import { E2ESession, type SessionEvent } from "../session/engine.js";
import { prng, SimulatedLink } from "../session/simulation.js";
import type { Command } from "./commands.js";
import { stringifyJson, UsageError } from "./io.js";

function number(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number from ${min} to ${max}`);
  return n;
}

const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export const sessionDemo: Command = {
  summary: "run two E2E session engines over a simulated lossy link",
  help: `Usage: usp-record session-demo [options]

Runs a Controller and an Agent E2E Session Context engine against each other over a simulated link
that drops, duplicates and reorders Records (virtual time, no network), then prints what happened.

Options:
  --seed <n>              PRNG seed (default 1); the same seed gives the same run
  --loss <p>              probability a Record is dropped, and also duplicated and reordered (default 0.1)
  --max-record-size <n>   MaxUSPRecordSize: 0 (no segmentation) or 512.. (default 1024)
  --msgs <n>              Msgs to exchange, both directions (default 200)
  --max-msg-size <n>      largest Msg in bytes (default 65536)
  --retransmit-tries <n>  MaxRetransmitTries, -1..10 (default -1, unlimited)
  --trace                 print every engine event as it happens (stderr)
  --json                  print the summary as JSON

Exit status: 0 every Msg delivered once, in order and intact; 1 otherwise; 2 usage error.`,
  options: {
    seed: { type: "string" },
    loss: { type: "string" },
    "max-record-size": { type: "string" },
    msgs: { type: "string" },
    "max-msg-size": { type: "string" },
    "retransmit-tries": { type: "string" },
    trace: { type: "boolean" },
  },
  async run(context) {
    const v = context.values;
    const seed = number(v.seed, "seed", 0, 2 ** 32 - 1, 1);
    const loss = number(v.loss, "loss", 0, 0.5, 0.1);
    const maxRecordSize = number(v["max-record-size"], "max-record-size", 0, 2 ** 32 - 1, 1024);
    if (maxRecordSize !== 0 && maxRecordSize < 512)
      throw new UsageError("--max-record-size must be 0 or at least 512");
    const msgs = number(v.msgs, "msgs", 1, 100_000, 200);
    const maxMsgSize = number(v["max-msg-size"], "max-msg-size", 0, 16 * 1024 * 1024, 65536);
    const tries = number(v["retransmit-tries"], "retransmit-tries", -1, 10, -1);
    const random = prng(seed);
    const common = {
      parameters: { MaxUSPRecordSize: maxRecordSize, MaxRetransmitTries: tries },
      limits: { retransmitTimeoutMs: 200, ackDelayMs: 5, maxMsgSize: Math.max(maxMsgSize, 1) },
      random,
    };
    const agent = new E2ESession({
      localEndpointId: "proto::agent",
      remoteEndpointId: "proto::controller",
      role: "agent",
      ...common,
    });
    const controller = new E2ESession({
      localEndpointId: "proto::controller",
      remoteEndpointId: "proto::agent",
      role: "controller",
      ...common,
    });
    const link = new SimulatedLink(
      agent,
      controller,
      { drop: loss, duplicate: loss, reorder: loss, delayMs: 5 },
      random,
      true,
    );
    const counts = new Map<string, number>();
    const trace = v.trace === true;
    const absorb = link.absorb.bind(link);
    link.absorb = (from, out) => {
      for (const e of out.events) {
        counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
        if (trace)
          context.stderr.write(`${link.now.toFixed(1).padStart(10)} ms ${from.padEnd(10)} ${describe(e)}\n`);
      }
      absorb(from, out);
    };
    const expected = { agent: [] as string[], controller: [] as string[] };
    let sent = 0;
    while (sent < msgs || link.step()) {
      if (sent < msgs) {
        const from = random() < 0.5 ? "agent" : "controller";
        const to = from === "agent" ? "controller" : "agent";
        if (link[from].snapshot.outgoingBytes < 1024 * 1024) {
          const size = Math.floor(random() ** 3 * (maxMsgSize + 1));
          const msg = new Uint8Array(size).map((_, i) => (i * 31 + sent) & 0xff);
          expected[to].push(digest(msg));
          link.send(from, msg);
          sent++;
        } else if (!link.step()) break;
      }
    }
    const sides = (["agent", "controller"] as const).map((side) => {
      const got = link.delivered[side].map(digest);
      return {
        side,
        expected: expected[side].length,
        delivered: got.length,
        inOrderAndIntact:
          got.length === expected[side].length && got.every((d, i) => d === expected[side][i]),
        restarts: link[side].snapshot.restarts,
      };
    });
    const ok = sides.every((s) => s.inOrderAndIntact);
    const summary = {
      seed,
      loss,
      maxRecordSize,
      msgs,
      recordsSent: link.recordsSent,
      virtualTimeMs: Math.round(link.now),
      events: Object.fromEntries(counts),
      sides,
      ok,
    };
    if (v.json === true) {
      context.stdout.write(`${stringifyJson(summary, true)}\n`);
    } else {
      const lines = [
        `${msgs} Msgs over a link dropping, duplicating and reordering ${(loss * 100).toFixed(0)} % each (seed ${seed})`,
        `MaxUSPRecordSize ${maxRecordSize || "off"}, MaxRetransmitTries ${tries}; ${link.recordsSent} Records sent in ${summary.virtualTimeMs} ms of virtual time`,
        `retransmit requests ${counts.get("retransmit-requested") ?? 0}, retransmissions ${counts.get("retransmitted") ?? 0}, ` +
          `tail probes ${counts.get("probe-sent") ?? 0}, duplicates ignored ${counts.get("duplicate-ignored") ?? 0}`,
        ...sides.map(
          (s) =>
            `${s.side}: ${s.delivered} of ${s.expected} Msgs delivered${s.inOrderAndIntact ? ", exactly once, in order, byte-identical" : " WITH ERRORS"}; ${s.restarts} restarts`,
        ),
      ];
      context.stdout.write(`${lines.join("\n")}\n`);
    }
    return ok ? 0 : 1;
  },
};

function describe(e: SessionEvent): string {
  switch (e.type) {
    case "session-started":
      return `session ${e.sessionId} started by ${e.by}`;
    case "session-restarted":
      return `session restarted: ${e.error.code} ${e.error.message}`;
    case "retry-scheduled":
      return `retry ${e.attempt} in ${e.delayMs} ms`;
    case "retransmit-requested":
    case "retransmitted":
    case "probe-sent":
    case "duplicate-ignored":
      return `${e.type} ${e.sequenceId}`;
    case "record-ignored":
      return `record ignored: ${e.reason}`;
    default:
      return `${e.type} ${"reasonCode" in e ? e.reasonCode : ""}`;
  }
}
