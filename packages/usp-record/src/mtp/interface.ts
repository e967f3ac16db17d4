/**
 * The one narrow contract every USP Message Transfer Protocol binding implements
 * (`@x/mtp-websocket`, `@x/mtp-mqtt`, `@x/mtp-stomp`). An MTP moves Records between
 * Endpoint IDs; it never interprets Msgs. It lives in `@x/usp-record/mtp` because every
 * MTP already depends on the Record codec, so no extra runtime package is needed.
 */
import type { EventEmitter } from "node:events";
import type { Record as UspRecord } from "../gen/usp-record-1-4.js";
import type { MtpError } from "./errors.js";

/** Which side of USP this endpoint plays. */
export type UspRole = "agent" | "controller";

/** Lifecycle of an MTP instance (not of a single peer connection). */
export type MtpState = "idle" | "connecting" | "open" | "reconnecting" | "closing" | "closed";

/**
 * Where an answer to a received Record must go, MTP-specific (R-MTP.5 "return path").
 * WebSocket: the session it arrived on; MQTT: the Response Topic or `/reply-to=` topic;
 * STOMP: the `reply-to-dest` header.
 */
export type ReturnPath =
  | { readonly mtp: "websocket"; readonly sessionId: string }
  | { readonly mtp: "mqtt"; readonly topic: string }
  | { readonly mtp: "stomp"; readonly destination: string }
  | { readonly mtp: string; readonly [key: string]: unknown };

/** One Record as it arrived, already decoded and validated by `@x/usp-record`. */
export interface ReceivedRecord {
  /** The exact bytes received (useful for integrity checks and logging). */
  readonly bytes: Uint8Array;
  /** The decoded Record. */
  readonly record: UspRecord;
  /** The sender's Endpoint ID (`record.fromId`). */
  readonly fromId: string;
  /** How to answer it. Pass it back to `send` as `replyTo`. */
  readonly replyTo: ReturnPath | undefined;
}

export interface PeerInfo {
  /** The peer's Endpoint ID when known (from `eid`, a Connect Record, a certificate or configuration). */
  readonly endpointId: string | undefined;
  readonly returnPath: ReturnPath | undefined;
}

export interface SendOptions {
  /** Send to this return path instead of the one configured or learned for `toId`. */
  readonly replyTo?: ReturnPath | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface CloseOptions {
  /** DisconnectRecord `reason` (R-MTP.7/9). */
  readonly reason?: string | undefined;
  /** DisconnectRecord `reason_code`, a Record error code (7100-7199). */
  readonly reasonCode?: number | undefined;
  /** Skip the DisconnectRecord (abrupt close). Default false. */
  readonly abrupt?: boolean | undefined;
}

/** Events every MTP emits. Listeners are typed through {@link Mtp.on}. */
export interface MtpEvents {
  /** A Record addressed to us (after the Connect Record exchange). Connect and Disconnect Records are emitted too. */
  record: [received: ReceivedRecord];
  /** The MTP changed state. */
  state: [state: MtpState];
  /** A peer (session, broker destination) became reachable. */
  peerConnected: [peer: PeerInfo];
  /** A peer went away. */
  peerDisconnected: [peer: PeerInfo, reason: MtpError | undefined];
  /** Something went wrong that did not stop the MTP (malformed Record, failed retry, ...). Never throws if unhandled. */
  error: [error: MtpError];
}

/**
 * A USP MTP endpoint. `open()` resolves once the transport is usable (connected to the
 * broker, or listening); reconnection afterwards is automatic with the binding's TR-181 back-off.
 */
export interface Mtp {
  readonly kind: "websocket" | "mqtt" | "stomp" | (string & {});
  readonly role: UspRole;
  readonly localEndpointId: string;
  readonly state: MtpState;
  open(options?: { signal?: AbortSignal }): Promise<void>;
  /** Send one Record. Resolves when handed to the transport (or acknowledged, where the binding has acks). */
  send(toId: string, record: Uint8Array | UspRecord, options?: SendOptions): Promise<void>;
  /** Graceful close: DisconnectRecord to connected peers (R-MTP.7), then close the transport. Idempotent. */
  close(options?: CloseOptions): Promise<void>;
  on<E extends keyof MtpEvents>(event: E, listener: (...args: MtpEvents[E]) => void): this;
  once<E extends keyof MtpEvents>(event: E, listener: (...args: MtpEvents[E]) => void): this;
  off<E extends keyof MtpEvents>(event: E, listener: (...args: MtpEvents[E]) => void): this;
}

/** What binding packages export: a factory from options to an MTP. */
export type MtpFactory<Options> = (options: Options) => Mtp;

/** Helper type for implementations built on EventEmitter. */
export type MtpEmitter = EventEmitter<MtpEvents>;
