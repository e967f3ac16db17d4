/**
 * Error classes. Validation outcomes are returned values (a rejected chain is not an exception);
 * these classes are thrown only for bad input (unparseable certificates, bad options) and by the
 * TLS adapters, which must fail a connection with a typed error.
 */
import type { Finding, TraceStep } from "./types.js";

/** Every `code` an error of this package can carry. */
export type CertErrorCode =
  | "ERR_CERT_PARSE"
  | "ERR_CERT_INPUT"
  | "ERR_CERT_OPTIONS"
  | "ERR_CERT_REJECTED"
  | "ERR_CERT_NO_PEER_CERTIFICATE";

/** Base class: a stable string `code`, `name` = class name, `cause` passed through. */
export class CertValidationError extends Error {
  readonly code: CertErrorCode;
  constructor(code: CertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A certificate, CRL or PEM block could not be decoded (malformed DER, wrong structure, too large). */
export class CertParseError extends CertValidationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CERT_PARSE", message, options);
  }
}

/** An input of the wrong kind (neither PEM, DER nor X509Certificate) or an empty chain. */
export class CertInputError extends CertValidationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CERT_INPUT", message, options);
  }
}

/** Options that cannot be honoured (e.g. a fingerprint with an unknown algorithm). */
export class CertOptionsError extends CertValidationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CERT_OPTIONS", message, options);
  }
}

/**
 * A peer's certificate was rejected by policy. Carries the findings and, for the USP flow, the
 * figure trace, so the caller can log why. `reason` is the first error code (e.g. `CERT_EXPIRED`).
 */
export class CertificateRejectedError extends CertValidationError {
  readonly reason: string;
  readonly errors: readonly Finding[];
  readonly trace: readonly TraceStep[];
  constructor(
    message: string,
    details: { errors: readonly Finding[]; trace?: readonly TraceStep[] },
    options?: { cause?: unknown; code?: "ERR_CERT_REJECTED" | "ERR_CERT_NO_PEER_CERTIFICATE" },
  ) {
    super(options?.code ?? "ERR_CERT_REJECTED", message, options);
    this.errors = details.errors;
    this.trace = details.trace ?? [];
    this.reason = details.errors[0]?.code ?? "UNKNOWN";
  }
}
