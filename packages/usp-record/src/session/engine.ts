/**
 * The E2E Session Context engine (TR-369 R-E2E.*), one per remote Endpoint. It is transport-free:
 * it takes received Records and the current time and returns the Msgs to deliver, the Records to
 * send and what happened. No sockets, no timers: the caller calls `tick(now)` at `nextDeadline()`.
 * Any MTP, or a test with a simulated clock and link, can drive it.
 */
import { randomBytes } from "node:crypto";
import {
  Record_PayloadSecurity as PayloadSecurity,
  type SessionContextRecord,
  type Record as UspRecord,
} from "../gen/usp-record-1-4.js";
import { exponentialRetryDelayMs } from "../mtp/retry.js";
import { decodeRecord, disconnectRecord, USP_VERSION } from "../record.js";
import { encodeValidRecord } from "../record-encode.js";
import { UINT64_MAX } from "../validate.js";
import {
  type E2EEngineLimits,
  type E2ESessionParameters,
  resolveLimits,
  resolveParameters,
} from "./config.js";
import { SessionError } from "./errors.js";
import { computeMacSignature, type IntegrityOptions, macLengthOf, verifyMacSignature } from "./integrity.js";
import { concat, Reassembler, SarState } from "./sar.js";
import { payloadCapacity, recordHeaderSize, sessionFieldsSize, sessionRecordSize } from "./size.js";
import { SequenceWindow } from "./window.js";

/** R-E2E.8/9: a sequence id within 10,000 of the uint64 maximum forces a new context. */
export const SEQUENCE_LIMIT = UINT64_MAX - 10_000n;
/** Grace before a gap is reported, so that a merely reordered Record does not cost a retransmission. */
const REORDER_GRACE_MS = 100;
const MAX_PROBE_INTERVAL_MS = 60_000;
/** Bytes a stored out-of-order Record is charged beyond its payload (fields, Map entry). */
const RECORD_OVERHEAD = 96;

export type SessionEvent =
  | { readonly type: "session-started"; readonly sessionId: bigint; readonly by: "local" | "remote" }
  | {
      readonly type: "session-restarted";
      readonly previousSessionId: bigint | undefined;
      readonly error: SessionError;
    }
  | { readonly type: "retry-scheduled"; readonly attempt: number; readonly delayMs: number }
  | { readonly type: "retransmit-requested"; readonly sequenceId: bigint }
  | { readonly type: "retransmitted"; readonly sequenceId: bigint; readonly tries: number }
  | { readonly type: "probe-sent"; readonly sequenceId: bigint }
  | { readonly type: "duplicate-ignored"; readonly sequenceId: bigint }
  | { readonly type: "record-ignored"; readonly reason: string; readonly error?: Error | undefined }
  | { readonly type: "disconnect-received"; readonly reasonCode: number; readonly reason: string }
  | { readonly type: "disconnect-sent"; readonly reasonCode: number; readonly reason: string }
  | { readonly type: "session-refused"; readonly reasonCode: number; readonly reason: string };

/** What one call produced, in order. */
export interface SessionOutput {
  /** Reassembled Msgs (serialised `usp.Msg` bytes), in order. */
  readonly messages: Uint8Array[];
  /** Encoded Records to hand to the MTP, in order. */
  readonly records: Uint8Array[];
  readonly events: SessionEvent[];
}

export interface E2ESessionOptions {
  readonly localEndpointId: string;
  readonly remoteEndpointId: string;
  readonly role: "agent" | "controller";
  /** TR-181 parameters (`MaxUSPRecordSize`, `MaxRetransmitTries`, ...); TR-181 defaults for the rest. */
  readonly parameters?: Partial<E2ESessionParameters> | undefined;
  readonly limits?: Partial<E2EEngineLimits> | undefined;
  readonly integrity?: IntegrityOptions | undefined;
  /** Uniform [0,1) source for the retry back-off (default Math.random). */
  readonly random?: (() => number) | undefined;
  /** Session id source (default: CSPRNG, 63 bits, >= 2). */
  readonly newSessionId?: (() => bigint) | undefined;
  /** `version` written in Records (default "1.4"). */
  readonly version?: string | undefined;
  /** Largest Record accepted from the peer, bytes (default 8 MiB). */
  readonly maxIncomingRecordSize?: number | undefined;
  /** Tests of R-E2E.9 only: the first sequence_id of each new context (the spec says 1). */
  readonly unsafeFirstSequenceId?: bigint | undefined;
}

export interface SessionSnapshot {
  readonly sessionId: bigint | undefined;
  readonly nextSequenceId: bigint;
  readonly expectedId: bigint;
  readonly outgoingRecords: number;
  readonly outgoingBytes: number;
  readonly outOfOrderRecords: number;
  readonly outOfOrderBytes: number;
  readonly reassemblyBytes: number;
  readonly queuedMsgs: number;
  readonly unacknowledgedMsgs: number;
  readonly retryCount: number;
  readonly retryAt: number | undefined;
  readonly restarts: number;
}

interface OutgoingRecord {
  readonly bytes: Uint8Array;
  readonly hasPayload: boolean;
  tries: number;
}

interface PendingMsg {
  readonly payload: Uint8Array;
  readonly lastSequenceId: bigint;
}

const EMPTY = new Uint8Array(0);

function defaultSessionId(): bigint {
  return (randomBytes(8).readBigUInt64BE() >> 1n) | 2n;
}

function output(): SessionOutput {
  return { messages: [], records: [], events: [] };
}

export class E2ESession {
  readonly localEndpointId: string;
  readonly remoteEndpointId: string;
  readonly role: "agent" | "controller";
  readonly parameters: E2ESessionParameters;
  readonly limits: E2EEngineLimits;
  readonly #integrity: IntegrityOptions;
  readonly #random: () => number;
  readonly #newSessionId: () => bigint;
  readonly #version: string;
  readonly #maxIncoming: number;
  readonly #firstSequenceId: bigint;
  readonly #senderCert: Uint8Array;

  // Context
  #sessionId: bigint | undefined;
  #payloadSecurity: PayloadSecurity = PayloadSecurity.PLAINTEXT;
  #initiatedLocally = false;
  #receivedInSession = false;
  #needHello = false;
  #retired: bigint[] = [];
  #lastActivity = 0;
  #sessionStartedAt = 0;
  #restarts = 0;
  // Retry back-off (R-E2E.10-13)
  #retryCount = 0;
  #retryAt: number | undefined;
  #receivedSinceRestart = true;
  // Sending
  #nextSequenceId = 1n;
  #lowestUnacked = 1n;
  #outgoing = new SequenceWindow<OutgoingRecord>();
  #outgoingBytes = 0;
  /** Newest sequence_id sent with a payload (for tail probes); unacknowledged while >= #lowestUnacked. */
  #newestPayloadSequenceId = 0n;
  #pending: PendingMsg[] = [];
  #queue: Uint8Array[] = [];
  #probeDue: number | undefined;
  #probeInterval: number;
  // Receiving
  #expectedId = 1n;
  #outOfOrder = new Map<bigint, SessionContextRecord>();
  #outOfOrderBytes = 0;
  #reassembler: Reassembler;
  #ackDue: number | undefined;
  #gapSince: number | undefined;
  #gapRequestedFor: bigint | undefined;
  #gapRequestedAt = 0;

  constructor(options: E2ESessionOptions) {
    this.localEndpointId = options.localEndpointId;
    this.remoteEndpointId = options.remoteEndpointId;
    this.role = options.role;
    this.parameters = resolveParameters(options.parameters);
    this.limits = resolveLimits(options.limits);
    this.#integrity = options.integrity ?? {};
    this.#random = options.random ?? Math.random;
    this.#newSessionId = options.newSessionId ?? defaultSessionId;
    this.#version = options.version ?? USP_VERSION;
    this.#maxIncoming = options.maxIncomingRecordSize ?? 8 * 1024 * 1024;
    this.#firstSequenceId = options.unsafeFirstSequenceId ?? 1n;
    this.#reassembler = new Reassembler(this.limits.maxMsgSize);
    this.#probeInterval = this.limits.retransmitTimeoutMs;
    const method = this.#integrity.method;
    this.#senderCert =
      method?.kind === "signature" ? new TextEncoder().encode(method.certificatePem) : new Uint8Array(0);
    if (this.parameters.MaxUSPRecordSize > 0) {
      // Fail at configuration time when not even one payload byte fits (long Endpoint IDs, big certificates).
      const capacity = this.#capacity(UINT64_MAX, UINT64_MAX, UINT64_MAX, SarState.INPROCESS);
      if (capacity < 1) {
        throw new SessionError(
          "ERR_E2E_CONFIG",
          `MaxUSPRecordSize ${this.parameters.MaxUSPRecordSize} leaves no room for payload`,
        );
      }
    }
  }

  /** A view of the counters and buffer sizes (for tests, metrics and back-pressure). */
  get snapshot(): SessionSnapshot {
    return {
      sessionId: this.#sessionId,
      nextSequenceId: this.#nextSequenceId,
      expectedId: this.#expectedId,
      outgoingRecords: this.#outgoing.size,
      outgoingBytes: this.#outgoingBytes,
      outOfOrderRecords: this.#outOfOrder.size,
      outOfOrderBytes: this.#outOfOrderBytes,
      reassemblyBytes: this.#reassembler.bufferedBytes,
      queuedMsgs: this.#queue.length,
      unacknowledgedMsgs: this.#pending.length,
      retryCount: this.#retryCount,
      retryAt: this.#retryAt,
      restarts: this.#restarts,
    };
  }

  /** When `tick` must be called next (ms, same clock as `now`), or undefined when nothing is pending. */
  nextDeadline(): number | undefined {
    let deadline: number | undefined;
    const consider = (t: number | undefined) => {
      if (t !== undefined && (deadline === undefined || t < deadline)) deadline = t;
    };
    consider(this.#retryAt);
    consider(this.#ackDue);
    consider(this.#probeDue);
    consider(this.#gapDue());
    return deadline;
  }

  /** Queues one Msg (serialised `usp.Msg`) and returns the Records that carry it. */
  send(msg: Uint8Array, now: number): SessionOutput {
    if (msg.length > this.limits.maxMsgSize) {
      throw new SessionError(
        "ERR_E2E_MSG_TOO_LARGE",
        `Msg of ${msg.length} bytes exceeds ${this.limits.maxMsgSize}`,
      );
    }
    const out = output();
    if (this.#sessionId !== undefined && this.#isExpired(now)) {
      this.#restartLocally(
        now,
        out,
        new SessionError("ERR_E2E_EXPIRED", "SessionExpiration reached (R-E2E.7)"),
      );
    }
    this.#queue.push(msg);
    this.#flush(now, out);
    return out;
  }

  /** Handles one received Record (bytes or decoded). Never throws for bad input: it reports and recovers. */
  receive(input: Uint8Array | UspRecord, now: number): SessionOutput {
    const out = output();
    let record: UspRecord;
    if (input instanceof Uint8Array) {
      try {
        record = decodeRecord(input, { maxSize: this.#maxIncoming });
      } catch (error) {
        out.events.push({ type: "record-ignored", reason: "undecodable Record", error: error as Error });
        return out;
      }
    } else {
      record = input;
    }
    if (record.toId !== this.localEndpointId) {
      out.events.push({ type: "record-ignored", reason: `to_id ${record.toId} is not ours (R-E2E.1)` });
      return out;
    }
    if (record.fromId !== this.remoteEndpointId) {
      out.events.push({
        type: "record-ignored",
        reason: `from_id ${record.fromId} belongs to another session engine`,
      });
      return out;
    }
    const type = record.recordType;
    switch (type?.$case) {
      case "sessionContext":
        this.#receiveSession(record, type.value, now, out);
        break;
      case "disconnect":
        this.#receiveDisconnect(type.value.reasonCode, type.value.reason, out);
        break;
      case "noSessionContext":
        if (this.parameters.SessionMode === "Require") {
          out.events.push({
            type: "record-ignored",
            reason: "no_session_context while SessionMode is Require",
          });
        } else {
          out.messages.push(type.value.payload);
        }
        break;
      default:
        out.events.push({
          type: "record-ignored",
          reason: `${type?.$case ?? "no"} record is not for the session layer`,
        });
    }
    return out;
  }

  /** Timers: retry back-off, gap re-requests, delayed acknowledgements, tail probes. */
  tick(now: number): SessionOutput {
    const out = output();
    if (this.#retryAt !== undefined && now >= this.#retryAt) {
      this.#retryAt = undefined;
      this.#startSession(now, out);
      this.#flush(now, out);
    }
    if (this.#sessionId === undefined) return out;
    const gapDue = this.#gapDue();
    if (gapDue !== undefined && now >= gapDue) this.#emit(now, out, [], SarState.NONE, SarState.NONE);
    if (this.#ackDue !== undefined && now >= this.#ackDue)
      this.#emit(now, out, [], SarState.NONE, SarState.NONE);
    if (this.#probeDue !== undefined && now >= this.#probeDue) this.#probe(now, out);
    return out;
  }

  /**
   * Ends the context without closing the MTP (R-E2E.6b): a DisconnectRecord (default 7105) and
   * all context state forgotten. Unacknowledged Msgs stay queued for the next context.
   */
  terminate(now: number, reasonCode = 7105, reason = "Session Context terminated"): SessionOutput {
    const out = output();
    this.#sendDisconnect(out, reasonCode, reason);
    this.#clearContext();
    this.#lastActivity = now;
    return out;
  }

  // ---- receiving -------------------------------------------------------------------------------

  #receiveDisconnect(reasonCode: number, reason: string, out: SessionOutput): void {
    out.events.push({ type: "disconnect-received", reasonCode, reason });
    if (reasonCode === 7106 && this.parameters.SessionMode === "Require") {
      // R-E2E.6a: the peer refuses a context we require; the application is expected to close the MTP.
      out.events.push({ type: "session-refused", reasonCode, reason });
    }
    // R-MTP.7: forget everything about the context, including that one existed.
    this.#clearContext();
    this.#retryAt = undefined;
  }

  #receiveSession(record: UspRecord, s: SessionContextRecord, now: number, out: SessionOutput): void {
    if (this.parameters.SessionMode === "Forbid") {
      // R-E2E.6a
      this.#sendDisconnect(out, 7106, "Session Context not allowed");
      return;
    }
    try {
      verifyMacSignature(record, this.#integrity);
    } catch (error) {
      out.events.push({
        type: "record-ignored",
        reason: "integrity check failed (R-E2E.23)",
        error: error as Error,
      });
      this.#failure(now, out, error as SessionError);
      return;
    }
    if (s.sessionId < 2n) {
      out.events.push({ type: "record-ignored", reason: "session_id below 2 (R-E2E.3/24)" });
      this.#failure(
        now,
        out,
        new SessionError("ERR_E2E_INVALID_SESSION_ID", `session_id ${s.sessionId} is invalid`),
      );
      return;
    }
    if (s.sequenceId < 1n || s.expectedId < 1n) {
      out.events.push({ type: "record-ignored", reason: "sequence_id and expected_id must be >= 1" });
      return;
    }
    if (this.#retired.includes(s.sessionId)) {
      out.events.push({ type: "record-ignored", reason: `late Record of retired context ${s.sessionId}` });
      // The peer keeps using a context we left while ours has heard nothing: our announcement was lost,
      // or we followed a stale Record of the peer. Open a fresh context that neither side has retired.
      if (
        this.#sessionId !== undefined &&
        !this.#receivedInSession &&
        now - this.#sessionStartedAt >= 4 * this.limits.retransmitTimeoutMs
      ) {
        this.#restartLocally(
          now,
          out,
          new SessionError("ERR_E2E_INVALID_SESSION_ID", `peer still uses retired context ${s.sessionId}`),
        );
        this.#flush(now, out);
      }
      return;
    }
    if (s.sessionId !== this.#sessionId) {
      if (
        this.#sessionId !== undefined &&
        this.#initiatedLocally &&
        !this.#receivedInSession &&
        this.role === "controller"
      ) {
        // Both sides opened a context at once (R-E2E.5 allows one): the Controller's wins, and the
        // Agent's id is retired so that its late Records cannot be mistaken for a restart.
        this.#retired.push(s.sessionId);
        while (this.#retired.length > this.limits.retiredSessionMemory) this.#retired.shift();
        out.events.push({
          type: "record-ignored",
          reason: "concurrent context from the Agent; the Controller's wins",
        });
        return;
      }
      if (record.payloadSecurity !== PayloadSecurity.PLAINTEXT) {
        this.#sendDisconnect(
          out,
          7102,
          "Secure session not supported: TLS12 payload security is not implemented",
        );
        return;
      }
      this.#adopt(s.sessionId, record.payloadSecurity, now, out);
    } else if (record.payloadSecurity !== this.#payloadSecurity) {
      // R-E2E.18/19
      out.events.push({ type: "record-ignored", reason: "payload_security changed within the context" });
      this.#failure(
        now,
        out,
        new SessionError(
          "ERR_E2E_PAYLOAD_SECURITY_CHANGED",
          "payload_security changed within a context (R-E2E.19)",
        ),
      );
      return;
    }
    if (s.sequenceId >= SEQUENCE_LIMIT) {
      // R-E2E.8
      this.#restartLocally(
        now,
        out,
        new SessionError(
          "ERR_E2E_SEQUENCE_EXHAUSTED",
          "received sequence_id near the uint64 maximum (R-E2E.8)",
        ),
      );
      this.#flush(now, out);
      return;
    }
    const hasPayload = s.payload.length > 0;
    if (s.sequenceId < this.#expectedId || this.#outOfOrder.has(s.sequenceId)) {
      // R-E2E.25. A repeated Record with payload means the peer may have missed our acknowledgement.
      out.events.push({ type: "duplicate-ignored", sequenceId: s.sequenceId });
      if (hasPayload) this.#ackDue ??= now + this.limits.ackDelayMs;
      return;
    }
    const expired = this.#isExpired(now);
    this.#receivedInSession = true;
    this.#lastActivity = now;
    // Acknowledgements and retransmission requests are acted on at first receipt, not in sequence
    // order: two peers that each miss a Record would otherwise hold each other's requests forever.
    this.#acknowledge(s.expectedId, now);
    if (s.retransmitId !== 0n && !this.#retransmit(s.retransmitId, now, out)) return;
    if (s.sequenceId > this.#expectedId) {
      const cost = RECORD_OVERHEAD + s.payload.reduce((n, p) => n + p.length, 0);
      if (this.#outOfOrderBytes + cost > this.limits.maxOutOfOrderBytes) {
        this.#failure(
          now,
          out,
          new SessionError(
            "ERR_E2E_OUT_OF_ORDER_OVERFLOW",
            "out-of-order buffer full; restarting instead of growing",
          ),
        );
        return;
      }
      this.#outOfOrder.set(s.sequenceId, s);
      this.#outOfOrderBytes += cost;
      this.#gapSince ??= now;
      return;
    }
    if (!this.#processInOrder(s, now, out)) return;
    let next = this.#outOfOrder.get(this.#expectedId);
    while (next !== undefined) {
      this.#outOfOrder.delete(this.#expectedId);
      this.#outOfOrderBytes -= RECORD_OVERHEAD + next.payload.reduce((n, p) => n + p.length, 0);
      if (!this.#processInOrder(next, now, out)) return;
      next = this.#outOfOrder.get(this.#expectedId);
    }
    this.#gapSince = this.#outOfOrder.size > 0 ? now : undefined;
    this.#receivedSinceRestart = true;
    this.#retryCount = 0; // R-E2E.12
    if (expired) {
      this.#restartLocally(
        now,
        out,
        new SessionError("ERR_E2E_EXPIRED", "SessionExpiration reached (R-E2E.7)"),
      );
    }
    this.#flush(now, out);
  }

  /** R-E2E.20 step 3 for one Record: payload through reassembly, expected_id advanced. */
  #processInOrder(s: SessionContextRecord, now: number, out: SessionOutput): boolean {
    this.#expectedId = s.sequenceId + 1n;
    let parts: Uint8Array[] | undefined;
    try {
      parts = this.#reassembler.push(s);
    } catch (error) {
      this.#failure(now, out, error as SessionError);
      return false;
    }
    if (parts !== undefined) out.messages.push(concat(parts));
    if (s.payload.length > 0) this.#ackDue ??= now + this.limits.ackDelayMs;
    return true;
  }

  #acknowledge(peerExpected: bigint, now: number): void {
    if (peerExpected > this.#nextSequenceId || peerExpected <= this.#lowestUnacked) return;
    for (let seq = this.#lowestUnacked; seq < peerExpected; seq++) {
      const entry = this.#outgoing.get(seq);
      if (entry !== undefined) {
        this.#outgoingBytes -= entry.bytes.length;
        this.#outgoing.delete(seq);
      }
    }
    this.#lowestUnacked = peerExpected;
    while (this.#pending.length > 0 && this.#pending[0]!.lastSequenceId < peerExpected) this.#pending.shift();
    this.#probeInterval = this.limits.retransmitTimeoutMs;
    this.#probeDue = this.#hasUnackedPayload() ? now + this.#probeInterval : undefined;
  }

  /** Answers a retransmit_id; false when that failed and the context restarted. */
  #retransmit(sequenceId: bigint, now: number, out: SessionOutput): boolean {
    if (sequenceId < this.#lowestUnacked) return true; // already acknowledged: a stale request
    const entry = this.#outgoing.get(sequenceId);
    if (entry === undefined) {
      this.#failure(
        now,
        out,
        new SessionError(
          "ERR_E2E_RETRANSMIT_UNAVAILABLE",
          `retransmit_id ${sequenceId} names no Record we sent`,
        ),
      );
      return false;
    }
    const max = this.parameters.MaxRetransmitTries;
    if (max === 0 || (max > 0 && entry.tries >= max)) {
      this.#failure(
        now,
        out,
        new SessionError(
          "ERR_E2E_RETRANSMIT_EXHAUSTED",
          `Record ${sequenceId} already retransmitted ${entry.tries} time(s); MaxRetransmitTries is ${max}`,
        ),
      );
      return false;
    }
    entry.tries++;
    out.records.push(entry.bytes);
    out.events.push({ type: "retransmitted", sequenceId, tries: entry.tries });
    return true;
  }

  // ---- sending ---------------------------------------------------------------------------------

  #flush(now: number, out: SessionOutput): void {
    if (this.#retryAt !== undefined) return;
    if (this.#sessionId === undefined) {
      if (this.#queue.length === 0) return;
      this.#startSession(now, out);
    }
    const queue = this.#queue;
    this.#queue = [];
    for (const msg of queue) this.#sendMsg(msg, now, out);
    if (this.#needHello) this.#emit(now, out, [], SarState.NONE, SarState.NONE);
  }

  #sendMsg(msg: Uint8Array, now: number, out: SessionOutput): void {
    const max = this.parameters.MaxUSPRecordSize;
    // Segments of one Msg never span two contexts: restart first when the sequence would run out (R-E2E.9).
    const worstCapacity =
      max === 0 ? msg.length : this.#capacity(UINT64_MAX, UINT64_MAX, UINT64_MAX, SarState.INPROCESS);
    const segments = BigInt(Math.ceil(msg.length / Math.max(1, worstCapacity)) + 2);
    if (this.#nextSequenceId + segments >= SEQUENCE_LIMIT) {
      this.#restartLocally(
        now,
        out,
        new SessionError("ERR_E2E_SEQUENCE_EXHAUSTED", "sequence_id near the uint64 maximum (R-E2E.9)"),
      );
    }
    if (max === 0 || this.#fits(msg.length, SarState.NONE, now)) {
      this.#emit(now, out, [msg], SarState.NONE, SarState.NONE);
    } else {
      let offset = 0;
      let state = SarState.BEGIN;
      while (offset < msg.length || state === SarState.BEGIN) {
        const remaining = msg.length - offset;
        if (state !== SarState.BEGIN && this.#fits(remaining, SarState.COMPLETE, now))
          state = SarState.COMPLETE;
        const take = state === SarState.COMPLETE ? remaining : this.#capacityNow(state, now);
        this.#emit(now, out, [msg.subarray(offset, offset + take)], state, state);
        offset += take;
        if (state === SarState.COMPLETE) break;
        state = SarState.INPROCESS;
      }
    }
    this.#pending.push({ payload: msg, lastSequenceId: this.#nextSequenceId - 1n });
  }

  #retransmitIdDue(now: number): bigint {
    const due = this.#gapDue();
    if (due === undefined || now < due) return 0n;
    this.#gapRequestedFor = this.#expectedId;
    this.#gapRequestedAt = now;
    return this.#expectedId;
  }

  #gapDue(): number | undefined {
    if (this.#outOfOrder.size === 0 || this.#gapSince === undefined || this.#sessionId === undefined)
      return undefined;
    if (this.#gapRequestedFor === this.#expectedId)
      return this.#gapRequestedAt + this.limits.retransmitTimeoutMs;
    return this.#gapSince + REORDER_GRACE_MS;
  }

  #headerSizeCache: { security: number; size: number } | undefined;

  #headerSize(): number {
    // Only payload_security changes between Records of one engine.
    const cached = this.#headerSizeCache;
    if (cached !== undefined && cached.security === this.#payloadSecurity) return cached.size;
    const size = recordHeaderSize({
      version: this.#version,
      toId: this.remoteEndpointId,
      fromId: this.localEndpointId,
      payloadSecurity: this.#payloadSecurity,
      macLength: macLengthOf(this.#integrity.method),
      senderCertLength: this.#senderCert.length,
    });
    this.#headerSizeCache = { security: this.#payloadSecurity, size };
    return size;
  }

  #capacity(sequenceId: bigint, expectedId: bigint, retransmitId: bigint, state: SarState): number {
    const session = sessionFieldsSize({
      sessionId: this.#sessionId ?? UINT64_MAX,
      sequenceId,
      expectedId,
      retransmitId,
      payloadSarState: state,
      payloadrecSarState: state,
    });
    return payloadCapacity(this.#headerSize(), session, this.parameters.MaxUSPRecordSize);
  }

  #capacityNow(state: SarState, now: number): number {
    // The retransmit_id this Record would carry changes its size: peek without consuming.
    const due = this.#gapDue();
    const retransmitId = due !== undefined && now >= due ? this.#expectedId : 0n;
    return this.#capacity(this.#nextSequenceId, this.#expectedId, retransmitId, state);
  }

  #fits(payloadLength: number, state: SarState, now: number): boolean {
    const due = this.#gapDue();
    const retransmitId = due !== undefined && now >= due ? this.#expectedId : 0n;
    const session = sessionFieldsSize({
      sessionId: this.#sessionId ?? UINT64_MAX,
      sequenceId: this.#nextSequenceId,
      expectedId: this.#expectedId,
      retransmitId,
      payloadSarState: state,
      payloadrecSarState: state,
    });
    return sessionRecordSize(this.#headerSize(), session, payloadLength) <= this.parameters.MaxUSPRecordSize;
  }

  /** Builds, protects, encodes and buffers one Session Context Record. */
  #emit(now: number, out: SessionOutput, payload: Uint8Array[], psar: SarState, prsar: SarState): void {
    if (this.#nextSequenceId >= SEQUENCE_LIMIT) {
      // R-E2E.9: never send a sequence_id this close to the maximum (single Records; #sendMsg
      // restarts before a segmented Msg could cross the limit).
      this.#restartLocally(
        now,
        out,
        new SessionError("ERR_E2E_SEQUENCE_EXHAUSTED", "sequence_id near the uint64 maximum (R-E2E.9)"),
      );
    }
    const sequenceId = this.#nextSequenceId;
    const retransmitId = this.#retransmitIdDue(now);
    if (retransmitId !== 0n) out.events.push({ type: "retransmit-requested", sequenceId: retransmitId });
    const record: UspRecord = {
      version: this.#version,
      toId: this.remoteEndpointId,
      fromId: this.localEndpointId,
      payloadSecurity: this.#payloadSecurity,
      // Shared: an empty array has no elements to mutate, and a fresh one per Record cost more than
      // the rest of the Record object.
      macSignature: EMPTY,
      senderCert: this.#senderCert,
      recordType: {
        $case: "sessionContext",
        value: {
          sessionId: this.#sessionId!,
          sequenceId,
          expectedId: this.#expectedId,
          retransmitId,
          payloadSarState: psar,
          payloadrecSarState: prsar,
          payload,
        },
      },
    };
    if (this.#integrity.method !== undefined) {
      record.macSignature = computeMacSignature(record, this.#integrity.method);
    }
    // Fields are built here from validated configuration: the single-allocation encoder is safe.
    const bytes = encodeValidRecord(record);
    const max = this.parameters.MaxUSPRecordSize;
    if (max > 0 && bytes.length > max) {
      // Cannot happen unless the size arithmetic is wrong; never put an oversized Record on the wire.
      throw new SessionError("ERR_E2E_SAR", `internal: Record of ${bytes.length} bytes exceeds ${max}`);
    }
    const hasPayload = payload.length > 0;
    this.#outgoing.set(sequenceId, { bytes, hasPayload, tries: 0 });
    this.#outgoingBytes += bytes.length;
    this.#nextSequenceId = sequenceId + 1n;
    this.#ackDue = undefined;
    this.#needHello = false;
    this.#lastActivity = now;
    if (hasPayload) {
      this.#newestPayloadSequenceId = sequenceId;
      this.#probeDue ??= now + this.#probeInterval;
    }
    out.records.push(bytes);
  }

  #hasUnackedPayload(): boolean {
    return (
      this.#newestPayloadSequenceId >= this.#lowestUnacked &&
      this.#outgoing.has(this.#newestPayloadSequenceId)
    );
  }

  /** Tail-loss probe: re-send the newest unacknowledged Record with payload; the peer answers a duplicate with an ack. */
  #probe(now: number, out: SessionOutput): void {
    if (!this.#hasUnackedPayload()) {
      this.#probeDue = undefined;
      return;
    }
    const newest = this.#newestPayloadSequenceId;
    out.records.push(this.#outgoing.get(newest)!.bytes);
    out.events.push({ type: "probe-sent", sequenceId: newest });
    this.#probeInterval = Math.min(this.#probeInterval * 2, MAX_PROBE_INTERVAL_MS);
    this.#probeDue = now + this.#probeInterval;
  }

  #sendDisconnect(out: SessionOutput, reasonCode: number, reason: string): void {
    const record = disconnectRecord({
      toId: this.remoteEndpointId,
      fromId: this.localEndpointId,
      reasonCode,
      reason,
      version: this.#version,
    });
    out.records.push(encodeValidRecord(record));
    out.events.push({ type: "disconnect-sent", reasonCode, reason });
  }

  // ---- context lifecycle -------------------------------------------------------------------------

  #isExpired(now: number): boolean {
    const expiration = this.parameters.SessionExpiration;
    return expiration > 0 && this.#sessionId !== undefined && now - this.#lastActivity >= expiration * 1000;
  }

  #retire(): void {
    if (this.#sessionId === undefined) return;
    this.#retired.push(this.#sessionId);
    while (this.#retired.length > this.limits.retiredSessionMemory) this.#retired.shift();
  }

  /** Forgets the context; unacknowledged Msgs go back to the front of the queue. */
  #clearContext(): void {
    this.#retire();
    this.#sessionId = undefined;
    this.#queue = [...this.#pending.map((p) => p.payload), ...this.#queue];
    this.#pending = [];
    this.#nextSequenceId = this.#firstSequenceId;
    this.#lowestUnacked = this.#firstSequenceId;
    this.#outgoing.clear();
    this.#outgoingBytes = 0;
    this.#newestPayloadSequenceId = 0n;
    this.#expectedId = 1n;
    this.#outOfOrder.clear();
    this.#outOfOrderBytes = 0;
    this.#reassembler.reset();
    this.#ackDue = undefined;
    this.#probeDue = undefined;
    this.#probeInterval = this.limits.retransmitTimeoutMs;
    this.#gapSince = undefined;
    this.#gapRequestedFor = undefined;
    this.#receivedInSession = false;
    this.#needHello = false;
    this.#payloadSecurity = PayloadSecurity.PLAINTEXT;
  }

  #freshSessionId(): bigint {
    for (;;) {
      const id = this.#newSessionId();
      if (id >= 2n && id <= UINT64_MAX && id !== this.#sessionId && !this.#retired.includes(id)) return id;
    }
  }

  /** Opens a context of our own (R-E2E.3/14): random id, sequence from 1, announced by the next Record. */
  #startSession(now: number, out: SessionOutput): void {
    const id = this.#freshSessionId();
    this.#clearContext();
    this.#sessionId = id;
    this.#initiatedLocally = true;
    this.#needHello = true;
    this.#lastActivity = now;
    this.#sessionStartedAt = now;
    out.events.push({ type: "session-started", sessionId: id, by: "local" });
  }

  /** Follows a context the peer opened (R-E2E.4/6). */
  #adopt(sessionId: bigint, security: PayloadSecurity, now: number, out: SessionOutput): void {
    this.#clearContext();
    this.#sessionId = sessionId;
    this.#payloadSecurity = security;
    this.#initiatedLocally = false;
    this.#retryAt = undefined;
    this.#lastActivity = now;
    this.#sessionStartedAt = now;
    out.events.push({ type: "session-started", sessionId, by: "remote" });
  }

  #restartLocally(now: number, out: SessionOutput, error: SessionError): void {
    const previous = this.#sessionId;
    this.#restarts++;
    out.events.push({ type: "session-restarted", previousSessionId: previous, error });
    this.#startSession(now, out);
  }

  /**
   * Failure processing (R-E2E.21/23/24): the context restarts. Right away when it had been working;
   * when the previous restart never got an answer, after the R-E2E.10 back-off.
   */
  #failure(now: number, out: SessionOutput, error: SessionError): void {
    this.#restarts++;
    const previous = this.#sessionId;
    out.events.push({ type: "session-restarted", previousSessionId: previous, error });
    this.#clearContext();
    if (this.#receivedSinceRestart) {
      this.#receivedSinceRestart = false;
      this.#startSession(now, out);
      this.#flush(now, out);
      return;
    }
    this.#retryCount++;
    const delayMs = exponentialRetryDelayMs(
      this.#retryCount,
      {
        minimumWaitInterval: this.parameters.SessionRetryMinimumWaitInterval,
        intervalMultiplier: this.parameters.SessionRetryIntervalMultiplier,
      },
      this.#random,
    );
    this.#retryAt = now + delayMs;
    out.events.push({ type: "retry-scheduled", attempt: this.#retryCount, delayMs });
  }
}
