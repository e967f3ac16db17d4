/**
 * Error classes of @x/scistream. Every error has a stable string `code` (ERR_*), the seed's
 * section 8 code in `seedCode`, and the gRPC status it maps to in `grpcStatus`.
 */

/**
 * gRPC status codes (grpc/doc/statuscodes.md). Defined here rather than imported from
 * @grpc/grpc-js so that the S2DS worker threads, which import this module, do not load gRPC.
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** Error codes of draft-scistream-protocol-02, section 8, Table 1. */
export type SeedErrorCode =
  | "SUCCESS"
  | "AUTH_ERROR"
  | "INVALID_UID"
  | "NO_RESOURCE"
  | "CONN_ERROR"
  | "VERSION_ERR"
  | "RATE_LIMIT"
  | "BAD_FORMAT"
  | "SERVER_ERR"
  | "TIMEOUT"
  | "NOT_IMPLEMENTED"
  | "UNAVAILABLE";

export const SEED_ERROR_CODES: readonly SeedErrorCode[] = [
  "SUCCESS",
  "AUTH_ERROR",
  "INVALID_UID",
  "NO_RESOURCE",
  "CONN_ERROR",
  "VERSION_ERR",
  "RATE_LIMIT",
  "BAD_FORMAT",
  "SERVER_ERR",
  "TIMEOUT",
  "NOT_IMPLEMENTED",
  "UNAVAILABLE",
];

/** Trailer key carrying the seed error code on a failed RPC. */
export const ERROR_CODE_TRAILER = "scistream-error-code";

export type SciStreamErrorCode =
  | "ERR_SCISTREAM_AUTH"
  | "ERR_SCISTREAM_FORBIDDEN"
  | "ERR_SCISTREAM_INVALID_UID"
  | "ERR_SCISTREAM_DUPLICATE_UID"
  | "ERR_SCISTREAM_NO_RESOURCE"
  | "ERR_SCISTREAM_CONN"
  | "ERR_SCISTREAM_RATE_LIMIT"
  | "ERR_SCISTREAM_BAD_FORMAT"
  | "ERR_SCISTREAM_STATE"
  | "ERR_SCISTREAM_SERVER"
  | "ERR_SCISTREAM_TIMEOUT"
  | "ERR_SCISTREAM_NOT_IMPLEMENTED"
  | "ERR_SCISTREAM_UNAVAILABLE"
  | "ERR_SCISTREAM_CONFIG"
  | "ERR_SCISTREAM_RPC";

interface ErrorOptions {
  readonly cause?: unknown;
  /** Extra details safe to send to a client (no secrets). */
  readonly details?: string;
}

/** Base class of every error thrown by this package. */
export class SciStreamError extends Error {
  override readonly name: string = "SciStreamError";
  readonly code: SciStreamErrorCode;
  readonly seedCode: SeedErrorCode;
  readonly grpcStatus: GrpcStatus;
  readonly details: string | undefined;
  constructor(
    code: SciStreamErrorCode,
    seedCode: SeedErrorCode,
    grpcStatus: GrpcStatus,
    message: string,
    options: ErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.seedCode = seedCode;
    this.grpcStatus = grpcStatus;
    this.details = options.details;
  }
}

/** Missing, malformed, expired or otherwise invalid credentials (gRPC UNAUTHENTICATED). */
export class AuthError extends SciStreamError {
  override readonly name = "AuthError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_AUTH", "AUTH_ERROR", GrpcStatus.UNAUTHENTICATED, message, options);
  }
}

/** Valid credentials without the right to act (wrong scope, another token's UID): PERMISSION_DENIED. */
export class ForbiddenError extends SciStreamError {
  override readonly name = "ForbiddenError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_FORBIDDEN", "AUTH_ERROR", GrpcStatus.PERMISSION_DENIED, message, options);
  }
}

/** Unknown UID (NOT_FOUND) or one that is not acceptable. */
export class InvalidUidError extends SciStreamError {
  override readonly name = "InvalidUidError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_INVALID_UID", "INVALID_UID", GrpcStatus.NOT_FOUND, message, options);
  }
}

/** A `req` for a UID that already has a session (ALREADY_EXISTS). */
export class DuplicateUidError extends SciStreamError {
  override readonly name = "DuplicateUidError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_DUPLICATE_UID", "INVALID_UID", GrpcStatus.ALREADY_EXISTS, message, options);
  }
}

/** Port pool, session or channel limits reached (RESOURCE_EXHAUSTED). */
export class NoResourceError extends SciStreamError {
  override readonly name = "NoResourceError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_NO_RESOURCE", "NO_RESOURCE", GrpcStatus.RESOURCE_EXHAUSTED, message, options);
  }
}

/** Control-plane rate limit exceeded (RESOURCE_EXHAUSTED with RATE_LIMIT). */
export class RateLimitError extends SciStreamError {
  override readonly name = "RateLimitError";
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: ErrorOptions) {
    super("ERR_SCISTREAM_RATE_LIMIT", "RATE_LIMIT", GrpcStatus.RESOURCE_EXHAUSTED, message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Malformed message content: bad role, bad endpoint, bad num_conn (INVALID_ARGUMENT). */
export class BadFormatError extends SciStreamError {
  override readonly name = "BadFormatError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_BAD_FORMAT", "BAD_FORMAT", GrpcStatus.INVALID_ARGUMENT, message, options);
  }
}

/** An RPC that is not valid in the session's current state (FAILED_PRECONDITION). */
export class SessionStateError extends SciStreamError {
  override readonly name = "SessionStateError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_STATE", "BAD_FORMAT", GrpcStatus.FAILED_PRECONDITION, message, options);
  }
}

/** The data plane could not be set up (listen or connect failed). */
export class ConnError extends SciStreamError {
  override readonly name = "ConnError";
  /** The socket error code behind it (EADDRINUSE, ECONNREFUSED...), when there is one. */
  readonly syscallCode: string | undefined;
  constructor(message: string, options?: ErrorOptions & { readonly syscallCode?: string | undefined }) {
    super("ERR_SCISTREAM_CONN", "CONN_ERROR", GrpcStatus.UNAVAILABLE, message, options);
    this.syscallCode = options?.syscallCode;
  }
}

/** Waiting for a hello, a handshake or an RPC took too long (DEADLINE_EXCEEDED). */
export class TimeoutError extends SciStreamError {
  override readonly name = "TimeoutError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_TIMEOUT", "TIMEOUT", GrpcStatus.DEADLINE_EXCEEDED, message, options);
  }
}

/** Anything unexpected inside the server (INTERNAL); the message sent to clients stays generic. */
export class ServerError extends SciStreamError {
  override readonly name = "ServerError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_SERVER", "SERVER_ERR", GrpcStatus.INTERNAL, message, options);
  }
}

/** The server is shutting down or a dependency (token issuer) is unreachable. */
export class UnavailableError extends SciStreamError {
  override readonly name = "UnavailableError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_UNAVAILABLE", "UNAVAILABLE", GrpcStatus.UNAVAILABLE, message, options);
  }
}

/** Invalid configuration passed to a constructor or CLI. */
export class ConfigError extends SciStreamError {
  override readonly name = "ConfigError";
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_SCISTREAM_CONFIG", "BAD_FORMAT", GrpcStatus.INVALID_ARGUMENT, message, options);
  }
}

/**
 * A failed RPC seen by the client. `grpcStatus` is the status received; `seedCode` comes from the
 * `scistream-error-code` trailer when the server is ours, or is derived from the status (the
 * reference answers UNKNOWN for everything but authentication).
 */
export class RpcError extends SciStreamError {
  override readonly name = "RpcError";
  readonly method: string;
  constructor(
    method: string,
    grpcStatus: number,
    seedCode: SeedErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super("ERR_SCISTREAM_RPC", seedCode, grpcStatus as GrpcStatus, message, options);
    this.method = method;
  }
}

/** Best-effort seed code for a gRPC status (used for peers that send no trailer). */
export function seedCodeForStatus(code: number): SeedErrorCode {
  switch (code) {
    case GrpcStatus.OK:
      return "SUCCESS";
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.PERMISSION_DENIED:
      return "AUTH_ERROR";
    case GrpcStatus.NOT_FOUND:
    case GrpcStatus.ALREADY_EXISTS:
      return "INVALID_UID";
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return "NO_RESOURCE";
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.FAILED_PRECONDITION:
      return "BAD_FORMAT";
    case GrpcStatus.DEADLINE_EXCEEDED:
      return "TIMEOUT";
    case GrpcStatus.UNIMPLEMENTED:
      return "NOT_IMPLEMENTED";
    case GrpcStatus.UNAVAILABLE:
      return "UNAVAILABLE";
    default:
      return "SERVER_ERR";
  }
}

export function isSeedErrorCode(value: string): value is SeedErrorCode {
  return (SEED_ERROR_CODES as readonly string[]).includes(value);
}
