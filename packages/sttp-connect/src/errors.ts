/**
 * Typed errors. Every error carries a stable string `code`; protocol-level failures that
 * the peer reported (a `Failed` response) also carry the numeric STTP command code they answered.
 */

export type SttpErrorCode =
  | "ERR_STTP_FRAME"
  | "ERR_STTP_FRAME_TOO_LARGE"
  | "ERR_STTP_PROTOCOL"
  | "ERR_STTP_DECODE"
  | "ERR_STTP_REFUSED"
  | "ERR_STTP_COMMAND_FAILED"
  | "ERR_STTP_TLS_POLICY"
  | "ERR_STTP_TIMEOUT"
  | "ERR_STTP_CLOSED"
  | "ERR_STTP_ABORTED"
  | "ERR_STTP_CONFIG"
  | "ERR_STTP_DATA_LOSS"
  | "ERR_STTP_FILTER";

export interface SttpErrorOptions {
  readonly cause?: unknown;
  /** The STTP command code the error relates to (e.g. 0x06 when DefineOperationalModes was refused). */
  readonly commandCode?: number;
}

/** Base class of every error thrown or emitted by this package. */
export class SttpError extends Error {
  readonly code: SttpErrorCode;
  readonly commandCode: number | undefined;

  constructor(code: SttpErrorCode, message: string, options: SttpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.commandCode = options.commandCode;
  }
}

/** A frame on the wire is malformed (bad length, truncated, unknown code in a place where only known codes may appear). */
export class SttpFrameError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_FRAME", message, options);
  }
}

/** A frame is larger than the configured limit (or the initial-message limit). */
export class SttpFrameTooLargeError extends SttpError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number, what = "frame") {
    super("ERR_STTP_FRAME_TOO_LARGE", `${what} of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.size = size;
    this.limit = limit;
  }
}

/** The peer broke the protocol (e.g. its first command was not DefineOperationalModes). */
export class SttpProtocolError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_PROTOCOL", message, options);
  }
}

/** A payload (signal index cache, compact measurements, TSSC stream, cipher keys…) could not be decoded. */
export class SttpDecodeError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_DECODE", message, options);
  }
}

/** The publisher refused the connection (a `Failed` answer to DefineOperationalModes or Connect). */
export class SttpRefusedError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_REFUSED", message, options);
  }
}

/** The publisher answered a command with `Failed`. */
export class SttpCommandFailedError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_COMMAND_FAILED", message, options);
  }
}

/** Reasons a TLS peer certificate can be rejected. The first four are tolerable through policy. */
export type TlsFailureReason =
  | "nameMismatch"
  | "untrustedRoot"
  | "expired"
  | "revocationUnknown"
  | "revoked"
  | "noPeerCertificate"
  | "pinMismatch"
  | "invalid";

/** The TLS peer certificate was rejected by the security policy; the socket was destroyed before use. */
export class SttpTlsPolicyError extends SttpError {
  readonly reason: TlsFailureReason;
  /** OpenSSL/Node verification code, when there was one (e.g. `CERT_HAS_EXPIRED`). */
  readonly verifyCode: string | undefined;
  constructor(reason: TlsFailureReason, message: string, verifyCode?: string, options?: SttpErrorOptions) {
    super("ERR_STTP_TLS_POLICY", message, options);
    this.reason = reason;
    this.verifyCode = verifyCode;
  }
}

export class SttpTimeoutError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_TIMEOUT", message, options);
  }
}

/** The connection closed (by the peer or locally) while something was pending. */
export class SttpClosedError extends SttpError {
  constructor(message = "connection closed", options?: SttpErrorOptions) {
    super("ERR_STTP_CLOSED", message, options);
  }
}

export class SttpAbortedError extends SttpError {
  constructor(message = "operation aborted", options?: SttpErrorOptions) {
    super("ERR_STTP_ABORTED", message, options);
  }
}

/** Invalid options (e.g. TSSC requested together with a UDP data channel). */
export class SttpConfigError extends SttpError {
  constructor(message: string, options?: SttpErrorOptions) {
    super("ERR_STTP_CONFIG", message, options);
  }
}

/** No bytes arrived within the data-loss interval; the connection is restarted. */
export class SttpDataLossError extends SttpError {
  constructor(intervalMs: number) {
    super("ERR_STTP_DATA_LOSS", `no data received in ${(intervalMs / 1000).toFixed(1)} seconds`);
  }
}

/** A subscription filter expression could not be parsed or evaluated. */
export class SttpFilterError extends SttpError {
  /** Offset in the filter expression where a syntax error was found (0 for evaluation errors). */
  readonly position: number | undefined;

  constructor(message: string, options?: SttpErrorOptions & { readonly position?: number }) {
    super("ERR_STTP_FILTER", message, options);
    this.position = options?.position;
  }
}
