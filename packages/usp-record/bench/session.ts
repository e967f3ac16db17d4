/** E2E session benchmarks: SAR throughput vs a plain copy, and small-Msg round trips vs bare codec. */
import { type Group, measureOps } from "@x/bench";
import { decodeRecord, encodeRecord, noSessionContextRecord } from "../src/index.js";
import { E2ESession } from "../src/session/index.js";

const AGENT = "proto::agent";
const CONTROLLER = "proto::controller";
const MiB = 1024 * 1024;

function enginePair(maxRecordSize: number) {
  const common = {
    parameters: { MaxUSPRecordSize: maxRecordSize, MaxRetransmitTries: -1 },
    limits: { maxMsgSize: 64 * MiB },
  };
  return {
    a: new E2ESession({ localEndpointId: AGENT, remoteEndpointId: CONTROLLER, role: "agent", ...common }),
    c: new E2ESession({
      localEndpointId: CONTROLLER,
      remoteEndpointId: AGENT,
      role: "controller",
      ...common,
    }),
  };
}

function sarGroup(maxRecordSize: number, label: string): Group {
  const msg = new Uint8Array(16 * MiB).map((_, i) => i & 0xff);
  const { a, c } = enginePair(maxRecordSize);
  let now = 0;
  // The same slice sizes our Records carry, for the baseline copy.
  const sliceSize = maxRecordSize - 100;
  const slices: Uint8Array[] = [];
  for (let o = 0; o < msg.length; o += sliceSize) slices.push(msg.subarray(o, o + sliceSize));
  return {
    name: `segment + reassemble a 16 MiB Msg at ${label} Records`,
    note: "aim: at least 0.5x of the copy rate at 64 KiB",
    candidates: [
      {
        name: "Buffer.concat of the same slices",
        baseline: true,
        run: () =>
          measureOps(() => Buffer.concat(slices), {
            workPerCall: msg.length,
            scale: MiB,
            unit: "MiB/s",
            samples: 3,
          }),
      },
      {
        name: "ours: E2ESession send -> receive",
        run: () =>
          measureOps(
            () => {
              now += 1;
              const sent = a.send(msg, now);
              let delivered = 0;
              for (const r of sent.records) delivered += c.receive(r, now).messages.length;
              if (delivered !== 1) throw new Error("Msg not delivered");
              // Let the receiver acknowledge so the sender's buffer empties between rounds.
              for (const r of c.tick(now + 1000).records) a.receive(r, now);
              now += 1000;
            },
            { workPerCall: msg.length, scale: MiB, unit: "MiB/s", samples: 3, minTimeMs: 500 },
          ),
      },
    ],
  };
}

function roundTripGroup(): Group {
  const request = new TextEncoder().encode("a small Get Msg, about the size of a real one ........");
  const { a, c } = enginePair(0);
  let now = 0;
  return {
    name: "small-Msg round trips (request and response)",
    candidates: [
      {
        name: "bare encodeRecord + decodeRecord, both ways",
        baseline: true,
        run: () =>
          measureOps(
            () => {
              const there = decodeRecord(
                encodeRecord(noSessionContextRecord({ toId: AGENT, fromId: CONTROLLER, payload: request })),
              );
              decodeRecord(
                encodeRecord(
                  noSessionContextRecord({
                    toId: CONTROLLER,
                    fromId: AGENT,
                    payload:
                      there.recordType?.$case === "noSessionContext"
                        ? there.recordType.value.payload
                        : request,
                  }),
                ),
              );
            },
            { unit: "round trips/s" },
          ),
      },
      {
        name: "ours: two E2ESessions",
        run: () =>
          measureOps(
            () => {
              now += 1;
              for (const r of c.send(request, now).records) {
                for (const m of a.receive(r, now).messages) {
                  for (const back of a.send(m, now).records) c.receive(back, now);
                }
              }
            },
            { unit: "round trips/s" },
          ),
      },
    ],
  };
}

export function sessionGroups(): Group[] {
  return [sarGroup(65536, "64 KiB"), sarGroup(512, "512-byte"), roundTripGroup()];
}
