/**
 * Typed errors of the STOMP binding. Every class extends the shared {@link MtpError}, so
 * they flow through the MTP `error` event and `switch (err.code)` narrows them.
 */
import { MtpError } from "@x/usp-record/mtp";

export type StompErrorCode =
  | "ERR_STOMP_FRAME_MALFORMED"
  | "ERR_STOMP_FRAME_TOO_LARGE"
  | "ERR_STOMP_FRAME_BAD_ESCAPE"
  | "ERR_STOMP_FRAME_MISSING_NUL"
  | "ERR_STOMP_FRAME_TRUNCATED"
  | "ERR_STOMP_SERVER_ERROR"
  | "ERR_STOMP_HEARTBEAT_TIMEOUT"
  | "ERR_STOMP_NO_DESTINATION"
  | "ERR_STOMP_CONNECT_FAILED"
  | "ERR_STOMP_INVALID_OPTIONS";

/** A STOMP frame could not be decoded or encoded (malformed, oversized, bad escape, missing NUL, truncated). */
export class StompFrameError extends MtpError {
  override readonly name = "StompFrameError";
  declare readonly code:
    | "ERR_STOMP_FRAME_MALFORMED"
    | "ERR_STOMP_FRAME_TOO_LARGE"
    | "ERR_STOMP_FRAME_BAD_ESCAPE"
    | "ERR_STOMP_FRAME_MISSING_NUL"
    | "ERR_STOMP_FRAME_TRUNCATED";

  constructor(code: StompFrameError["code"], message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The broker sent an ERROR frame (R-STOMP.25: the server closes the connection after it; the
 * binding goes to its retry state). `brokerMessage` is the frame's `message` header, `body` its text.
 */
export class StompServerError extends MtpError {
  override readonly name = "StompServerError";
  declare readonly code: "ERR_STOMP_SERVER_ERROR";
  readonly brokerMessage: string | undefined;
  readonly body: string;
  /** The `receipt-id` header, when the ERROR answers one of our frames. */
  readonly receiptId: string | undefined;

  constructor(brokerMessage: string | undefined, body: string, receiptId?: string) {
    const detail = body.trim().length > 0 ? `: ${body.trim().slice(0, 500)}` : "";
    super("ERR_STOMP_SERVER_ERROR", `STOMP broker sent ERROR "${brokerMessage ?? "(no message)"}"${detail}`);
    this.brokerMessage = brokerMessage;
    this.body = body;
    this.receiptId = receiptId;
  }
}

/** Nothing arrived from the broker within the negotiated heart-beat period (with grace). */
export class StompHeartbeatError extends MtpError {
  override readonly name = "StompHeartbeatError";
  declare readonly code: "ERR_STOMP_HEARTBEAT_TIMEOUT";
  readonly periodMs: number;

  constructor(periodMs: number) {
    super("ERR_STOMP_HEARTBEAT_TIMEOUT", `no data or heart-beat from the STOMP broker for ${periodMs} ms`);
    this.periodMs = periodMs;
  }
}

/** Neither `subscribe-dest` in CONNECTED nor a configured destination (R-STOMP.16). */
export class StompNoDestinationError extends MtpError {
  override readonly name = "StompNoDestinationError";
  declare readonly code: "ERR_STOMP_NO_DESTINATION";

  constructor() {
    super(
      "ERR_STOMP_NO_DESTINATION",
      "the broker sent no subscribe-dest and no destination is configured (R-STOMP.16); disconnecting",
    );
  }
}

/** The TCP/TLS connection or the STOMP handshake failed before CONNECTED. */
export class StompConnectError extends MtpError {
  override readonly name = "StompConnectError";
  declare readonly code: "ERR_STOMP_CONNECT_FAILED";

  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_STOMP_CONNECT_FAILED", message, options);
  }
}

/** Options given to the factory or a call are invalid. */
export class StompOptionsError extends MtpError {
  override readonly name = "StompOptionsError";
  declare readonly code: "ERR_STOMP_INVALID_OPTIONS";

  constructor(message: string) {
    super("ERR_STOMP_INVALID_OPTIONS", message);
  }
}

export { MtpError };
