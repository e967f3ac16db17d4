/** Segmentation and reassembly: exact Record sizes, the spec's case tables, broken sequences. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRecord, RecordCodec } from "../src/index.js";
import {
  E2ESession,
  payloadCapacity,
  Reassembler,
  recordHeaderSize,
  SarState,
  sessionFieldsSize,
  sessionRecordSize,
} from "../src/session/index.js";
import { AGENT, CONTROLLER } from "./session-harness.js";

const { NONE, BEGIN, INPROCESS, COMPLETE } = SarState;
const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("Record size arithmetic", () => {
  it("matches the encoder for any field values and payload length", () => {
    const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    fc.assert(
      fc.property(
        fc.record({
          to: fc.string({ minLength: 1, maxLength: 80 }),
          from: fc.string({ minLength: 1, maxLength: 80 }),
          sec: fc.constantFrom(0, 1),
          mac: fc.nat({ max: 100 }),
          cert: fc.nat({ max: 3000 }),
          sid: u64,
          seq: u64,
          exp: u64,
          retx: u64,
          psar: fc.constantFrom(0, 1, 2, 3),
          prsar: fc.constantFrom(0, 1, 2, 3),
          len: fc.option(fc.nat({ max: 70_000 }), { nil: undefined }),
        }),
        (v) => {
          const header = recordHeaderSize({
            version: "1.4",
            toId: v.to,
            fromId: v.from,
            payloadSecurity: v.sec,
            macLength: v.mac,
            senderCertLength: v.cert,
          });
          const fields = {
            sessionId: v.sid,
            sequenceId: v.seq,
            expectedId: v.exp,
            retransmitId: v.retx,
            payloadSarState: v.psar,
            payloadrecSarState: v.prsar,
          };
          const encoded = RecordCodec.encode({
            version: "1.4",
            toId: v.to,
            fromId: v.from,
            payloadSecurity: v.sec,
            macSignature: bytes(v.mac),
            senderCert: bytes(v.cert),
            recordType: {
              $case: "sessionContext",
              value: { ...fields, payload: v.len === undefined ? [] : [bytes(v.len)] },
            },
          }).finish();
          expect(sessionRecordSize(header, sessionFieldsSize(fields), v.len)).toBe(encoded.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("payloadCapacity is the largest payload that fits", () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 200_000 }), fc.nat({ max: 90 }), (max, extra) => {
        const header = 40 + extra;
        const session = 30;
        const c = payloadCapacity(header, session, max);
        if (c > 0) expect(sessionRecordSize(header, session, c)).toBeLessThanOrEqual(max);
        expect(sessionRecordSize(header, session, c + 1)).toBeGreaterThan(max);
      }),
      { numRuns: 500 },
    );
  });
});

describe("segmentation", () => {
  function sendAndCollect(max: number, size: number) {
    const a = new E2ESession({
      localEndpointId: AGENT,
      remoteEndpointId: CONTROLLER,
      role: "agent",
      parameters: { MaxUSPRecordSize: max },
    });
    return a.send(bytes(size, 7), 0).records.map((r) => ({ r, d: decodeRecord(r) }));
  }

  it("fills every Record up to MaxUSPRecordSize and never past it", () => {
    for (const max of [512, 513, 1000, 4096, 65536]) {
      for (const size of [0, 1, 400, 511, 512, 5000, 200_000]) {
        const records = sendAndCollect(max, size);
        for (const { r } of records) expect(r.length).toBeLessThanOrEqual(max);
        // All but the last (and the hello-free single case) are full to the byte.
        for (const { r } of records.slice(0, -1)) expect(r.length).toBe(max);
      }
    }
  });

  it("PLAINTEXT case tables: one Record NONE/NONE; three Records BEGIN, INPROCESS, COMPLETE on both fields", () => {
    const single = sendAndCollect(4096, 100);
    expect(single).toHaveLength(1);
    const s = single[0]!.d.recordType;
    expect(s?.$case === "sessionContext" && [s.value.payloadSarState, s.value.payloadrecSarState]).toEqual([
      NONE,
      NONE,
    ]);
    const triple = sendAndCollect(512, 1200);
    const states = triple.map(({ d }) =>
      d.recordType?.$case === "sessionContext"
        ? [
            d.recordType.value.payloadSarState,
            d.recordType.value.payloadrecSarState,
            d.recordType.value.payload.length,
          ]
        : [],
    );
    expect(states).toEqual([
      [BEGIN, BEGIN, 1],
      [INPROCESS, INPROCESS, 1],
      [COMPLETE, COMPLETE, 1],
    ]);
    const seqs = triple.map(({ d }) =>
      d.recordType?.$case === "sessionContext" ? d.recordType.value.sequenceId : 0n,
    );
    expect(seqs).toEqual([1n, 2n, 3n]);
  });

  it("rejects MaxUSPRecordSize below 512 and configurations that leave no room for payload", () => {
    expect(
      () =>
        new E2ESession({
          localEndpointId: AGENT,
          remoteEndpointId: CONTROLLER,
          role: "agent",
          parameters: { MaxUSPRecordSize: 511 },
        }),
    ).toThrow(expect.objectContaining({ code: "ERR_E2E_CONFIG" }));
    expect(
      () =>
        new E2ESession({
          localEndpointId: `proto::${"a".repeat(40)}`,
          remoteEndpointId: CONTROLLER,
          role: "agent",
          parameters: { MaxUSPRecordSize: 512 },
          integrity: {
            method: { kind: "signature", privateKey: "unused", certificatePem: "x".repeat(600) },
          },
        }),
    ).toThrow(expect.objectContaining({ code: "ERR_E2E_CONFIG" }));
  });
});

describe("reassembly", () => {
  const push = (r: Reassembler, psar: SarState, prsar: SarState, ...payload: Uint8Array[]) =>
    r.push({ payloadSarState: psar, payloadrecSarState: prsar, payload });

  it("TLS12 case 7: three payload records over seven USP Records", () => {
    const r = new Reassembler(1 << 20);
    const steps: [SarState, SarState][] = [
      [BEGIN, BEGIN],
      [INPROCESS, INPROCESS],
      [INPROCESS, COMPLETE],
      [INPROCESS, BEGIN],
      [INPROCESS, INPROCESS],
      [INPROCESS, COMPLETE],
      [COMPLETE, NONE],
    ];
    let out: Uint8Array[] | undefined;
    steps.forEach(([m, p], i) => {
      out = push(r, m, p, bytes(3, i + 1));
      if (i < steps.length - 1) expect(out).toBeUndefined();
    });
    expect(out).toEqual([
      new Uint8Array([1, 1, 1, 2, 2, 2, 3, 3, 3]),
      new Uint8Array([4, 4, 4, 5, 5, 5, 6, 6, 6]),
      new Uint8Array([7, 7, 7]),
    ]);
    expect(r.bufferedBytes).toBe(0);
  });

  it("several whole payload records in one Record (TLS records that fit together)", () => {
    const r = new Reassembler(1 << 20);
    expect(push(r, NONE, NONE, bytes(2, 1), bytes(2, 2))).toEqual([bytes(2, 1), bytes(2, 2)]);
  });

  it.each([
    ["INPROCESS without BEGIN", [[INPROCESS, INPROCESS]]],
    ["COMPLETE without BEGIN", [[COMPLETE, COMPLETE]]],
    [
      "BEGIN twice",
      [
        [BEGIN, BEGIN],
        [BEGIN, BEGIN],
      ],
    ],
    [
      "NONE inside a segmented Msg",
      [
        [BEGIN, BEGIN],
        [NONE, NONE],
      ],
    ],
    ["payloadrec without payload state", [[NONE, BEGIN]]],
    [
      "Msg completes with an open payload record",
      [
        [BEGIN, BEGIN],
        [COMPLETE, INPROCESS],
      ],
    ],
  ] as [string, [SarState, SarState][]][])("%s is a SAR failure and resets the buffer", (_name, steps) => {
    const r = new Reassembler(1 << 20);
    expect(() => {
      for (const [m, p] of steps) push(r, m, p, bytes(4));
    }).toThrow(expect.objectContaining({ code: "ERR_E2E_SAR" }));
    expect(r.bufferedBytes).toBe(0);
    expect(r.inProgress).toBe(false);
  });

  it("stops at maxMsgSize instead of growing", () => {
    const r = new Reassembler(1000);
    push(r, BEGIN, BEGIN, bytes(600));
    expect(() => push(r, INPROCESS, INPROCESS, bytes(600))).toThrow(
      expect.objectContaining({ code: "ERR_E2E_MSG_TOO_LARGE" }),
    );
    expect(r.bufferedBytes).toBe(0);
  });
});
