/**
 * Property tests: whatever sequence of Records (valid, hostile, or random bytes) reaches an engine,
 * it answers with events, Records or restarts, never an exception, and its buffers stay bounded.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { disconnectRecord, encodeRecord, noSessionContextRecord, RecordCodec } from "../src/index.js";
import { E2ESession } from "../src/session/index.js";
import { AGENT, CONTROLLER } from "./session-harness.js";

const LIMITS = {
  maxOutOfOrderBytes: 64 * 1024,
  maxMsgSize: 128 * 1024,
  retransmitTimeoutMs: 100,
  ackDelayMs: 5,
};

const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 20n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constant(2n ** 64n - 1n),
  fc.constant(2n ** 64n - 10_001n),
);

const sessionRecord = fc
  .record({
    sessionId: fc.oneof(fc.constantFrom(7n, 8n), u64),
    sequenceId: u64,
    expectedId: u64,
    retransmitId: fc.oneof(fc.constant(0n), u64),
    payloadSarState: fc.integer({ min: 0, max: 3 }),
    payloadrecSarState: fc.integer({ min: 0, max: 3 }),
    payload: fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 3 }),
    payloadSecurity: fc.integer({ min: 0, max: 1 }),
    mac: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 80 })),
    toId: fc.constantFrom(AGENT, AGENT, AGENT, "proto::other"),
  })
  .map((v) =>
    RecordCodec.encode({
      version: "1.4",
      toId: v.toId,
      fromId: CONTROLLER,
      payloadSecurity: v.payloadSecurity,
      macSignature: v.mac,
      senderCert: new Uint8Array(0),
      recordType: {
        $case: "sessionContext",
        value: {
          sessionId: v.sessionId,
          sequenceId: v.sequenceId,
          expectedId: v.expectedId,
          retransmitId: v.retransmitId,
          payloadSarState: v.payloadSarState,
          payloadrecSarState: v.payloadrecSarState,
          payload: v.payload,
        },
      },
    }).finish(),
  );

const anyInput = fc.oneof(
  { weight: 6, arbitrary: sessionRecord },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constant(
      encodeRecord(disconnectRecord({ toId: AGENT, fromId: CONTROLLER, reasonCode: 7105 })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constant(
      encodeRecord(noSessionContextRecord({ toId: AGENT, fromId: CONTROLLER, payload: new Uint8Array([1]) })),
    ),
  },
);

describe("E2E engine under hostile input", () => {
  it("never throws and keeps every buffer within its limit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("receive", "send", "tick"), anyInput, fc.nat({ max: 500 })), {
          maxLength: 60,
        }),
        fc.constantFrom(-1, 0, 2),
        fc.constantFrom(0, 512, 4096),
        (ops, tries, maxRecord) => {
          const engine = new E2ESession({
            localEndpointId: AGENT,
            remoteEndpointId: CONTROLLER,
            role: "agent",
            parameters: { MaxRetransmitTries: tries, MaxUSPRecordSize: maxRecord, SessionExpiration: 1 },
            limits: LIMITS,
            random: () => 0.5,
          });
          let now = 0;
          for (const [op, input, dt] of ops) {
            now += dt;
            if (op === "receive") engine.receive(input, now);
            else if (op === "send") engine.send(input.subarray(0, 2000), now);
            else engine.tick(now);
            const s = engine.snapshot;
            expect(s.outOfOrderBytes).toBeLessThanOrEqual(LIMITS.maxOutOfOrderBytes);
            expect(s.reassemblyBytes).toBeLessThanOrEqual(LIMITS.maxMsgSize);
            // Outgoing holds our own Msgs plus at most one small Record per input.
            expect(s.outgoingRecords).toBeLessThanOrEqual(ops.length * 8 + 8);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("a Msg larger than maxMsgSize is refused with a typed error", () => {
    const engine = new E2ESession({
      localEndpointId: AGENT,
      remoteEndpointId: CONTROLLER,
      role: "agent",
      limits: LIMITS,
    });
    expect(() => engine.send(new Uint8Array(LIMITS.maxMsgSize + 1), 0)).toThrow(
      expect.objectContaining({ code: "ERR_E2E_MSG_TOO_LARGE" }),
    );
  });
});
