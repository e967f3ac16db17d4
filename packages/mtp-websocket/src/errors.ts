/**
 * Typed errors of `@x/mtp-websocket`. They extend the shared {@link MtpError} (stable string
 * `code`, `cause` passed through) and carry the WebSocket close code or HTTP status, when one
 * applies, in `protocolCode`.
 */
import { MtpError, type MtpErrorCode } from "@x/usp-record/mtp";

export type WebSocketMtpErrorCode =
  | MtpErrorCode
  /** The peer did not negotiate the `v1.usp` subprotocol (R-WS.10 to R-WS.12a). */
  | "ERR_WS_SUBPROTOCOL"
  /** The opening handshake failed (HTTP status in `protocolCode`). */
  | "ERR_WS_HANDSHAKE"
  /** A text frame arrived; Records travel in binary frames only (R-WS.14). */
  | "ERR_WS_TEXT_FRAME"
  /** An Endpoint ID from `eid`, the extension header, a certificate or a Record disagree. */
  | "ERR_WS_EID_MISMATCH"
  /** The peer stopped answering Pings (R-WS.17). */
  | "ERR_WS_KEEPALIVE"
  /** The peer closed the session (close code in `protocolCode`). */
  | "ERR_WS_CLOSED_BY_PEER"
  /** TLS verification is explicitly relaxed (emitted as a warning, the session continues). */
  | "ERR_WS_TLS_RELAXED"
  /**
   * `send()` refused at once: the Records already waiting for peers that are reconnecting hold
   * `maxQueuedBytes` (the new one would exceed it).
   */
  | "ERR_WS_QUEUE_FULL";

export class WebSocketMtpError extends MtpError {
  override readonly name: string = "WebSocketMtpError";
  declare readonly code: WebSocketMtpErrorCode;

  constructor(
    code: WebSocketMtpErrorCode,
    message: string,
    options?: { cause?: unknown; protocolCode?: number },
  ) {
    super(code, message, options);
  }
}

/** Invalid options or arguments, thrown synchronously by constructors. */
export class WebSocketMtpConfigError extends Error {
  override readonly name = "WebSocketMtpConfigError";
  readonly code = "ERR_WS_CONFIG" as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
