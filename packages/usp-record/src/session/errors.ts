/** Why an E2E session context failed or restarted. Each code maps to the Record error it implies. */
export type SessionErrorCode =
  | "ERR_E2E_CONFIG"
  | "ERR_E2E_INTEGRITY"
  | "ERR_E2E_INVALID_SESSION_ID"
  | "ERR_E2E_PAYLOAD_SECURITY_CHANGED"
  | "ERR_E2E_RETRANSMIT_EXHAUSTED"
  | "ERR_E2E_RETRANSMIT_UNAVAILABLE"
  | "ERR_E2E_OUT_OF_ORDER_OVERFLOW"
  | "ERR_E2E_SAR"
  | "ERR_E2E_MSG_TOO_LARGE"
  | "ERR_E2E_SEQUENCE_EXHAUSTED"
  | "ERR_E2E_EXPIRED"
  | "ERR_E2E_PEER_DISCONNECT"
  | "ERR_E2E_NOT_ALLOWED"
  | "ERR_E2E_NOT_SUPPORTED";

export class SessionError extends Error {
  override readonly name = "SessionError";
  readonly code: SessionErrorCode;
  /** The USP Record error code that describes the failure, where one fits (7100-7106). */
  readonly uspCode: number | undefined;

  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown; uspCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.uspCode = options?.uspCode;
  }
}
