/** Errors shared by every MTP binding. Bindings may subclass {@link MtpError} with their own codes. */
export type MtpErrorCode =
  | "ERR_MTP_NOT_OPEN"
  | "ERR_MTP_CLOSED"
  | "ERR_MTP_NO_ROUTE"
  | "ERR_MTP_SEND_FAILED"
  | "ERR_MTP_MALFORMED_RECORD"
  | "ERR_MTP_NOT_ADDRESSED_TO_US"
  | "ERR_MTP_CONNECT_RECORD_EXPECTED"
  | "ERR_MTP_PEER_REFUSED"
  | "ERR_MTP_PROTOCOL"
  | "ERR_MTP_TLS"
  | "ERR_MTP_TIMEOUT"
  | "ERR_MTP_CONNECTION_LOST"
  | "ERR_MTP_DUPLICATE_SESSION"
  | (string & {});

export class MtpError extends Error {
  override readonly name: string = "MtpError";
  readonly code: MtpErrorCode;
  /** The protocol's own numeric code where one exists (WebSocket close code, MQTT reason code, USP 7xxx). */
  readonly protocolCode: number | undefined;

  constructor(code: MtpErrorCode, message: string, options?: { cause?: unknown; protocolCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.protocolCode = options?.protocolCode;
  }
}
