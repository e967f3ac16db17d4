/**
 * TP-469 E2E cases (3.8-3.15) and the R-E2E rules around them, as named tests. The "peer" is built
 * by hand with the Record builders so each case controls exactly what arrives.
 */
import { describe, expect, it } from "vitest";
import {
  decodeRecord,
  disconnectRecord,
  encodeRecord,
  PayloadSecurity,
  sessionContextRecord,
  type UspRecord,
} from "../src/index.js";
import { E2ESession, SEQUENCE_LIMIT, type SessionOutput } from "../src/session/index.js";
import { AGENT, CONTROLLER } from "./session-harness.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const msg = (text: string) => enc.encode(text);

function agent(parameters: ConstructorParameters<typeof E2ESession>[0]["parameters"] = {}, extra = {}) {
  return new E2ESession({
    localEndpointId: AGENT,
    remoteEndpointId: CONTROLLER,
    role: "agent",
    parameters,
    random: () => 0.5,
    ...extra,
  });
}

/** A Record from the Controller to the Agent. */
function fromController(
  sessionId: bigint,
  sequenceId: bigint,
  payload: string[] = [],
  more: Partial<Parameters<typeof sessionContextRecord>[0]> = {},
): Uint8Array {
  return encodeRecord(
    sessionContextRecord({
      toId: AGENT,
      fromId: CONTROLLER,
      sessionId,
      sequenceId,
      expectedId: 1n,
      payload: payload.map(msg),
      ...more,
    }),
  );
}

function session(out: SessionOutput, i = 0): UspRecord["recordType"] & { $case: "sessionContext" } {
  const record = decodeRecord(out.records[i]!);
  if (record.recordType?.$case !== "sessionContext")
    throw new Error(`not a session record: ${record.recordType?.$case}`);
  return record.recordType;
}

const texts = (out: SessionOutput) => out.messages.map((m) => dec.decode(m));

describe("TP-469 E2E session context (Agent side)", () => {
  it("3.8 first Record: the answer is in the Controller's session with sequence_id 1", () => {
    const a = agent();
    const got = a.receive(fromController(1234n, 1n, ["get"]), 0);
    expect(texts(got)).toEqual(["get"]);
    const answer = a.send(msg("get-resp"), 1);
    const s = session(answer).value;
    expect(s.sessionId).toBe(1234n);
    expect(s.sequenceId).toBe(1n);
    expect(s.expectedId).toBe(2n);
    expect(got.events).toContainEqual({ type: "session-started", sessionId: 1234n, by: "remote" });
  });

  it("3.9 a new session_id starts a new context: the answer is in it, from sequence_id 1", () => {
    const a = agent();
    a.receive(fromController(1234n, 1n, ["one"]), 0);
    a.send(msg("r1"), 1);
    a.send(msg("r2"), 2);
    const got = a.receive(fromController(777n, 1n, ["two"]), 3);
    expect(texts(got)).toEqual(["two"]);
    // The unacknowledged r1 and r2 of the old context are re-sent at once in the new one.
    const resent = got.records.map((_, i) => session(got, i).value);
    expect(resent.map((s) => s.sessionId)).toEqual([777n, 777n]);
    expect(resent.map((s) => s.sequenceId)).toEqual([1n, 2n]);
    expect(resent.map((s) => dec.decode(s.payload[0]!))).toEqual(["r1", "r2"]);
    const answer = session(a.send(msg("r3"), 4)).value;
    expect([answer.sessionId, answer.sequenceId, dec.decode(answer.payload[0]!)]).toEqual([777n, 3n, "r3"]);
  });

  it("3.10 SessionExpiration: after the inactivity period the Agent starts a new context", () => {
    const a = agent({ SessionExpiration: 60 });
    a.receive(fromController(1234n, 1n, ["x"]), 0);
    const early = a.send(msg("within"), 59_000);
    expect(session(early).value.sessionId).toBe(1234n);
    const late = a.send(msg("after"), 59_000 + 60_000);
    expect(
      late.events.some((e) => e.type === "session-restarted" && e.error.code === "ERR_E2E_EXPIRED"),
    ).toBe(true);
    const fresh = session(late, late.records.length - 1).value;
    expect(fresh.sessionId).not.toBe(1234n);
    expect(fresh.sessionId).toBeGreaterThanOrEqual(2n);
    expect(session(late, 0).value.sequenceId).toBe(1n);
  });

  it("3.11 out-of-order Records 1, 4, 2, 3 are delivered in order", () => {
    const a = agent();
    const delivered: string[] = [];
    for (const seq of [1n, 4n, 2n, 3n])
      delivered.push(...texts(a.receive(fromController(99n, seq, [`m${seq}`]), 0)));
    expect(delivered).toEqual(["m1", "m2", "m3", "m4"]);
    expect(a.snapshot.outOfOrderRecords).toBe(0);
    expect(a.snapshot.expectedId).toBe(5n);
  });

  it("3.12 a gap is requested with retransmit_id, and a retransmit_id is answered with the same Record", () => {
    const a = agent({ MaxRetransmitTries: 3 });
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    a.receive(fromController(99n, 3n, ["m3"]), 10);
    // After the reorder grace a tick asks for sequence 2 (an earlier tick may send a plain ack).
    let deadline = a.nextDeadline()!;
    let ask = a.tick(deadline);
    while (!ask.events.some((e) => e.type === "retransmit-requested")) {
      deadline = a.nextDeadline()!;
      ask = a.tick(deadline);
    }
    expect(deadline).toBeGreaterThanOrEqual(10 + 100);
    expect(session(ask).value.retransmitId).toBe(2n);
    expect(ask.events).toContainEqual({ type: "retransmit-requested", sequenceId: 2n });
    // Now the Controller asks the Agent to retransmit Agent's Record 1.
    const sent = a.send(msg("resp"), deadline + 1);
    const original = sent.records[0]!;
    const respSeq = session(sent).value.sequenceId;
    const request = a.receive(fromController(99n, 2n, ["m2"], { retransmitId: respSeq }), deadline + 2);
    // Sequence 2 fills the gap (m2 then m3); the retransmit_id names the Agent's "resp" Record.
    expect(texts(request)).toEqual(["m2", "m3"]);
    expect(request.records[0]).toEqual(original);
    expect(request.events).toContainEqual({ type: "retransmitted", sequenceId: respSeq, tries: 1 });
  });

  it("3.13 a change of payload_security within a context is a failure: the context restarts", () => {
    const a = agent();
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    const out = a.receive(fromController(99n, 2n, ["m2"], { payloadSecurity: PayloadSecurity.TLS12 }), 1);
    expect(out.messages).toEqual([]);
    const restart = out.events.find((e) => e.type === "session-restarted");
    expect(restart?.type === "session-restarted" && restart.error.code).toBe(
      "ERR_E2E_PAYLOAD_SECURITY_CHANGED",
    );
    const hello = session(out, out.records.length - 1).value;
    expect(hello.sessionId).not.toBe(99n);
    expect(hello.sequenceId).toBe(1n);
    // Late Records of the old context are ignored from now on.
    expect(a.receive(fromController(99n, 3n, ["m3"]), 2).messages).toEqual([]);
  });

  it("3.14 MaxRetransmitTries = 2: the third request for the same Record restarts the context", () => {
    const a = agent({ MaxRetransmitTries: 2 });
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    a.send(msg("resp"), 1); // Agent's sequence 1
    const r1 = a.receive(fromController(99n, 2n, [], { retransmitId: 1n }), 2);
    const r2 = a.receive(fromController(99n, 3n, [], { retransmitId: 1n }), 3);
    expect(r1.events.filter((e) => e.type === "retransmitted")).toHaveLength(1);
    expect(r2.events.filter((e) => e.type === "retransmitted")).toHaveLength(1);
    const r3 = a.receive(fromController(99n, 4n, [], { retransmitId: 1n }), 4);
    const restart = r3.events.find((e) => e.type === "session-restarted");
    expect(restart?.type === "session-restarted" && restart.error.code).toBe("ERR_E2E_RETRANSMIT_EXHAUSTED");
    // The unacknowledged "resp" is carried into the new context.
    const resent = session(r3, 0).value;
    expect(resent.sessionId).not.toBe(99n);
    expect(dec.decode(resent.payload[0]!)).toBe("resp");
  });

  it("MaxRetransmitTries = 0 (TR-181 default) never retransmits: the first request restarts", () => {
    const a = agent();
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    a.send(msg("resp"), 1);
    const r = a.receive(fromController(99n, 2n, [], { retransmitId: 1n }), 2);
    expect(r.events.some((e) => e.type === "retransmitted")).toBe(false);
    expect(r.events.some((e) => e.type === "session-restarted")).toBe(true);
  });

  it("3.15 duplicate Records are delivered once", () => {
    const a = agent();
    const once = fromController(99n, 1n, ["m1"]);
    const out = [a.receive(once, 0), a.receive(once, 1), a.receive(once, 2)];
    expect(out.flatMap(texts)).toEqual(["m1"]);
    expect(out[1]!.events).toContainEqual({ type: "duplicate-ignored", sequenceId: 1n });
  });
});

describe("R-E2E rules", () => {
  it("R-E2E.3 session ids are random, at least 2, and new on every local start", () => {
    const ids = new Set<bigint>();
    for (let i = 0; i < 50; i++) {
      const a = agent();
      const s = session(a.send(msg("x"), 0)).value;
      expect(s.sessionId).toBeGreaterThanOrEqual(2n);
      expect(s.sequenceId).toBe(1n);
      ids.add(s.sessionId);
    }
    expect(ids.size).toBe(50);
  });

  it("R-E2E.24 a session_id below 2 is ignored and the context restarts", () => {
    const a = agent();
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    const bad = encodeRecord({
      ...sessionContextRecord({
        toId: AGENT,
        fromId: CONTROLLER,
        sessionId: 5n,
        sequenceId: 2n,
        expectedId: 1n,
        payload: [],
      }),
      recordType: {
        $case: "sessionContext",
        value: {
          sessionId: 1n,
          sequenceId: 2n,
          expectedId: 1n,
          retransmitId: 0n,
          payloadSarState: 0,
          payloadrecSarState: 0,
          payload: [msg("no")],
        },
      },
    });
    const out = a.receive(bad, 1);
    expect(out.messages).toEqual([]);
    expect(out.events.some((e) => e.type === "session-restarted")).toBe(true);
  });

  it("R-E2E.1 a Record for another Endpoint is ignored", () => {
    const a = agent();
    const other = encodeRecord(
      sessionContextRecord({
        toId: "proto::other",
        fromId: CONTROLLER,
        sessionId: 9n,
        sequenceId: 1n,
        expectedId: 1n,
        payload: [msg("x")],
      }),
    );
    const out = a.receive(other, 0);
    expect(out.messages).toEqual([]);
    expect(out.events[0]?.type).toBe("record-ignored");
  });

  it("R-E2E.8 a received sequence_id near the uint64 maximum makes the Agent start a new context", () => {
    const a = agent();
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    const out = a.receive(fromController(99n, SEQUENCE_LIMIT, ["late"]), 1);
    expect(out.messages).toEqual([]);
    const restart = out.events.find((e) => e.type === "session-restarted");
    expect(restart?.type === "session-restarted" && restart.error.code).toBe("ERR_E2E_SEQUENCE_EXHAUSTED");
    expect(session(out, out.records.length - 1).value.sessionId).not.toBe(99n);
  });

  it("R-E2E.9 we never send a sequence_id within 10,000 of the maximum", () => {
    const a = agent({}, { unsafeFirstSequenceId: SEQUENCE_LIMIT - 2n });
    const first = a.send(msg("a"), 0);
    const old = session(first).value;
    expect(old.sequenceId).toBe(SEQUENCE_LIMIT - 2n);
    const second = a.send(msg("b"), 1);
    expect(second.events.some((e) => e.type === "session-restarted")).toBe(true);
    for (let i = 0; i < second.records.length; i++) {
      expect(session(second, i).value.sequenceId).toBeLessThan(SEQUENCE_LIMIT);
    }
    expect(session(second, 0).value.sessionId).not.toBe(old.sessionId);
  });

  it("R-E2E.6a an Agent with SessionMode Forbid answers DisconnectRecord 7106", () => {
    const a = agent({ SessionMode: "Forbid" });
    const out = a.receive(fromController(99n, 1n, ["m1"]), 0);
    expect(out.messages).toEqual([]);
    const reply = decodeRecord(out.records[0]!);
    expect(reply.recordType?.$case).toBe("disconnect");
    expect(reply.recordType?.$case === "disconnect" && reply.recordType.value.reasonCode).toBe(7106);
  });

  it("R-E2E.6a a Controller that requires a context learns of a 7106 refusal", () => {
    const c = new E2ESession({
      localEndpointId: CONTROLLER,
      remoteEndpointId: AGENT,
      role: "controller",
      parameters: { SessionMode: "Require" },
    });
    c.send(msg("get"), 0);
    const out = c.receive(
      encodeRecord(
        disconnectRecord({ toId: CONTROLLER, fromId: AGENT, reasonCode: 7106, reason: "not allowed" }),
      ),
      1,
    );
    expect(out.events.map((e) => e.type)).toEqual(["disconnect-received", "session-refused"]);
    expect(c.snapshot.sessionId).toBeUndefined();
  });

  it("R-E2E.6b terminate() sends DisconnectRecord 7105 and forgets the context; R-MTP.7 on the other side", () => {
    const a = agent();
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    const out = a.terminate(1);
    const d = decodeRecord(out.records[0]!);
    expect(d.recordType?.$case === "disconnect" && d.recordType.value.reasonCode).toBe(7105);
    expect(a.snapshot.sessionId).toBeUndefined();
    // A Controller receiving it clears the context, including the fact that it existed.
    const c = new E2ESession({ localEndpointId: CONTROLLER, remoteEndpointId: AGENT, role: "controller" });
    c.send(msg("x"), 0);
    expect(c.snapshot.sessionId).toBeDefined();
    c.receive(out.records[0]!, 2);
    expect(c.snapshot.sessionId).toBeUndefined();
  });

  it("R-E2E.10-12 retry back-off: a restart that gets no answer waits m·(k/1000)^(n-1)..m·(k/1000)^n", () => {
    let r = 0;
    const a = agent(
      { MaxRetransmitTries: 0, SessionRetryMinimumWaitInterval: 5, SessionRetryIntervalMultiplier: 2000 },
      { random: () => r },
    );
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    a.send(msg("resp"), 1);
    // First failure after a working context: immediate restart.
    const f1 = a.receive(fromController(99n, 2n, [], { retransmitId: 1n }), 2);
    expect(f1.events.some((e) => e.type === "retry-scheduled")).toBe(false);
    const newId = a.snapshot.sessionId!;
    // A second failure before anything was received in the new context: back-off n = 1, [5 s, 10 s].
    r = 0;
    const bad = encodeRecord(
      sessionContextRecord({
        toId: AGENT,
        fromId: CONTROLLER,
        sessionId: newId,
        sequenceId: 1n,
        expectedId: 1n,
        payload: [],
        payloadSecurity: PayloadSecurity.TLS12,
      }),
    );
    const f2 = a.receive(bad, 3);
    expect(f2.events).toContainEqual({ type: "retry-scheduled", attempt: 1, delayMs: 5000 });
    expect(a.send(msg("queued"), 4).records).toEqual([]);
    expect(a.nextDeadline()).toBe(3 + 5000);
    const resumed = a.tick(3 + 5000);
    expect(resumed.events.some((e) => e.type === "session-started" && e.by === "local")).toBe(true);
    expect(
      resumed.records.map((b) =>
        dec.decode(session({ ...resumed, records: [b] }).value.payload[0] ?? new Uint8Array()),
      ),
    ).toEqual(["resp", "queued"]);
    // Third failure, still nothing received: n = 2, upper bound 20 s.
    r = 1;
    const id3 = a.snapshot.sessionId!;
    const f3 = a.receive(
      encodeRecord(
        sessionContextRecord({
          toId: AGENT,
          fromId: CONTROLLER,
          sessionId: id3,
          sequenceId: 1n,
          expectedId: 1n,
          payload: [],
          payloadSecurity: PayloadSecurity.TLS12,
        }),
      ),
      5010,
    );
    expect(f3.events).toContainEqual({ type: "retry-scheduled", attempt: 2, delayMs: 20000 });
  });

  it("R-E2E.20 acknowledged Records leave the outgoing buffer; unacknowledged ones stay", () => {
    const a = agent();
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    a.send(msg("r1"), 1);
    a.send(msg("r2"), 2);
    expect(a.snapshot.outgoingRecords).toBe(2);
    a.receive(fromController(99n, 2n, ["m2"], { expectedId: 2n }), 3);
    expect(a.snapshot.outgoingRecords).toBe(1);
    a.receive(fromController(99n, 3n, ["m3"], { expectedId: 3n }), 4);
    expect(a.snapshot.outgoingRecords).toBe(0);
    expect(a.snapshot.unacknowledgedMsgs).toBe(0);
  });

  it("the out-of-order buffer is bounded: exceeding it restarts the context instead of growing", () => {
    const a = agent({}, { limits: { maxOutOfOrderBytes: 4096 } });
    a.receive(fromController(99n, 1n, ["m1"]), 0);
    const big = "x".repeat(1500);
    const events = [];
    for (let seq = 3n; seq < 8n; seq++) events.push(...a.receive(fromController(99n, seq, [big]), 1).events);
    expect(a.snapshot.outOfOrderBytes).toBeLessThanOrEqual(4096);
    const restart = events.find((e) => e.type === "session-restarted");
    expect(restart?.type === "session-restarted" && restart.error.code).toBe("ERR_E2E_OUT_OF_ORDER_OVERFLOW");
  });

  it("both sides opening a context at once settle on the Controller's", () => {
    const a = agent();
    const c = new E2ESession({ localEndpointId: CONTROLLER, remoteEndpointId: AGENT, role: "controller" });
    const fromA = a.send(msg("notify"), 0);
    const fromC = c.send(msg("get"), 0);
    const atC = c.receive(fromA.records[0]!, 1);
    const atA = a.receive(fromC.records[0]!, 1);
    expect(texts(atA)).toEqual(["get"]);
    expect(atC.messages).toEqual([]);
    // The Agent re-sends its Notify in the Controller's context.
    const resend = atA.records.map((b) => decodeRecord(b));
    expect(
      resend.some(
        (r) =>
          r.recordType?.$case === "sessionContext" && r.recordType.value.sessionId === c.snapshot.sessionId,
      ),
    ).toBe(true);
    const delivered = resend.flatMap((_, i) => texts(c.receive(atA.records[i]!, 2)));
    expect(delivered).toEqual(["notify"]);
  });
});
