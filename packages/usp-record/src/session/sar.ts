/**
 * Segmentation and reassembly (SAR) of USP Msgs across Session Context Records (TR-369 E2E,
 * "Segmentation and Reassembly"). Pure functions and a bounded state machine: no I/O, no timers.
 */
import { SessionContextRecord_PayloadSARState as SarState } from "../gen/usp-record-1-4.js";
import { SessionError } from "./errors.js";

export { SarState };

/** `payload_sar_state` / `payloadrec_sar_state` of the i-th of n segments (PLAINTEXT: both equal). */
export function sarStateOf(index: number, count: number): SarState {
  if (count <= 1) return SarState.NONE;
  if (index === 0) return SarState.BEGIN;
  if (index === count - 1) return SarState.COMPLETE;
  return SarState.INPROCESS;
}

/** One in-order Session Context Record as the reassembler needs it. */
export interface SarInput {
  readonly payloadSarState: SarState;
  readonly payloadrecSarState: SarState;
  readonly payload: readonly Uint8Array[];
}

/**
 * Rebuilds Msgs from Records fed in sequence order. A Msg is delivered as the list of its payload
 * records: for PLAINTEXT exactly one element (the Msg bytes); for TLS12 the TLS records, in order,
 * with fragments of a TLS record joined again (the `payloadrec_sar_state` forms of the spec's
 * segmentation cases), ready for a TLS layer. Memory is bounded by `maxMsgSize`.
 */
export class Reassembler {
  readonly #maxMsgSize: number;
  #active = false;
  #records: Uint8Array[] = [];
  #fragment: Uint8Array[] = [];
  #fragmentOpen = false;
  #bytes = 0;

  constructor(maxMsgSize: number) {
    this.#maxMsgSize = maxMsgSize;
  }

  /** Bytes currently held. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  get inProgress(): boolean {
    return this.#active;
  }

  reset(): void {
    this.#active = false;
    this.#records = [];
    this.#fragment = [];
    this.#fragmentOpen = false;
    this.#bytes = 0;
  }

  #fail(message: string): never {
    this.reset();
    throw new SessionError("ERR_E2E_SAR", message, { uspCode: 7103 });
  }

  #account(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > this.#maxMsgSize) {
      const size = this.#bytes;
      this.reset();
      throw new SessionError(
        "ERR_E2E_MSG_TOO_LARGE",
        `reassembled Msg exceeds ${this.#maxMsgSize} bytes (${size})`,
      );
    }
  }

  /**
   * Feeds one Record (in sequence order). Returns the payload records of a completed Msg, or
   * undefined while a Msg is still incomplete (or the Record carried no payload).
   * @throws {SessionError} ERR_E2E_SAR on a broken sequence of states (state is reset).
   */
  push(input: SarInput): Uint8Array[] | undefined {
    const { payloadSarState: msgState, payloadrecSarState: recState, payload } = input;
    if (msgState === SarState.NONE && recState !== SarState.NONE)
      this.#fail("payloadrec_sar_state must be NONE when payload_sar_state is NONE");
    if (msgState === SarState.NONE) {
      if (this.#active) this.#fail("payload_sar_state NONE inside a segmented Msg");
      if (payload.length === 0) return undefined;
      let total = 0;
      for (const p of payload) total += p.length;
      if (total > this.#maxMsgSize) this.#fail(`Msg of ${total} bytes exceeds ${this.#maxMsgSize}`);
      return [...payload];
    }
    if (msgState === SarState.BEGIN) {
      if (this.#active) this.#fail("payload_sar_state BEGIN while a segmented Msg is open");
      this.#active = true;
    } else if (!this.#active) {
      this.#fail(`payload_sar_state ${SarState[msgState]} without BEGIN`);
    }
    this.#takePayload(recState, payload);
    if (msgState !== SarState.COMPLETE) return undefined;
    if (this.#fragmentOpen) this.#fail("Msg completed while a payload record is still fragmented");
    const out = this.#records;
    this.reset();
    return out;
  }

  #takePayload(recState: SarState, payload: readonly Uint8Array[]): void {
    if (recState === SarState.NONE) {
      if (this.#fragmentOpen) this.#fail("payloadrec_sar_state NONE while a payload record is fragmented");
      for (const p of payload) {
        this.#account(p.length);
        this.#records.push(p);
      }
      return;
    }
    // A fragment of one payload record: exactly one element.
    if (payload.length !== 1) this.#fail("a fragmented payload record needs exactly one payload element");
    const piece = payload[0]!;
    this.#account(piece.length);
    if (recState === SarState.BEGIN) {
      if (this.#fragmentOpen) this.#fail("payloadrec_sar_state BEGIN while a payload record is open");
      this.#fragmentOpen = true;
      this.#fragment = [piece];
      return;
    }
    if (!this.#fragmentOpen) this.#fail(`payloadrec_sar_state ${SarState[recState]} without BEGIN`);
    this.#fragment.push(piece);
    if (recState === SarState.COMPLETE) {
      this.#records.push(concat(this.#fragment));
      this.#fragment = [];
      this.#fragmentOpen = false;
    }
  }
}

/** A plain Uint8Array over memory that is not zero-filled (exact-size, unpooled). */
function uninitialized(size: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const p of parts) total += p.length;
  // Every byte is written below: skip the zero-fill (it cost more than the copy for large Msgs).
  const out = uninitialized(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
