/**
 * Typed errors of `@x/usp-record`. Every error has a stable string `code` (switch on it),
 * `name` = the class name, `cause` passed through, and, where USP defines one, the numeric
 * USP error code in a separate field (`uspCode`).
 */

/** The USP Record error codes of TR-369 (range 7100-7199; 7100-7106 are defined). */
export type RecordErrorUspCode = 7100 | 7101 | 7102 | 7103 | 7104 | 7105 | 7106;

/** The Record error table of TR-369 ("USP Record Errors"). */
export const RECORD_ERRORS: Readonly<
  Record<RecordErrorUspCode, { readonly name: string; readonly description: string }>
> = Object.freeze({
  7100: {
    name: "Record could not be parsed",
    description: "This error indicates the received USP Record could not be parsed.",
  },
  7101: {
    name: "Secure session required",
    description: "This error indicates USP layer Secure Message Exchange is required.",
  },
  7102: {
    name: "Secure session not supported",
    description:
      "This error indicates USP layer Secure Message Exchange was indicated in the received Record but is not supported by the receiving Endpoint.",
  },
  7103: {
    name: "Segmentation and reassembly not supported",
    description:
      "This error indicates segmentation and reassembly was indicated in the received Record but is not supported by the receiving Endpoint.",
  },
  7104: {
    name: "Invalid Record value",
    description: "This error indicates the value of at least one Record field was invalid.",
  },
  7105: {
    name: "Session Context terminated",
    description: "This error indicates an existing Session Context is being terminated.",
  },
  7106: {
    name: "Session Context not allowed",
    description: "This error indicates use of Session Context is not allowed or not supported.",
  },
});

/** Stable string codes of {@link RecordError}, each mapped to its USP code. */
export const RECORD_ERROR_CODES = Object.freeze({
  /** The bytes are not a protobuf Record (truncated, bad varint or tag, wrong wire type, invalid UTF-8). */
  ERR_USP_RECORD_PARSE: 7100,
  /** The Record is larger than the configured maximum. */
  ERR_USP_RECORD_TOO_LARGE: 7100,
  /** More than one `record_type` member on the wire (R-ENC.3/4: the Record is discarded). */
  ERR_USP_RECORD_ONEOF: 7100,
  /** A "Required" field is absent (R-MTP.4b). */
  ERR_USP_RECORD_MISSING_FIELD: 7104,
  /** An enumeration value outside the schema (R-ENC.2). */
  ERR_USP_RECORD_UNKNOWN_ENUM: 7104,
  /** `no_session_context` with an empty payload (R-E2E.26). */
  ERR_USP_RECORD_EMPTY_PAYLOAD: 7104,
  /** `to_id` / `from_id` is not an Endpoint ID (TR-369 architecture, R-ARC.5/6). */
  ERR_USP_RECORD_INVALID_ENDPOINT_ID: 7104,
  /** Any other invalid field value or combination of values. */
  ERR_USP_RECORD_INVALID_VALUE: 7104,
  ERR_USP_SECURE_SESSION_REQUIRED: 7101,
  ERR_USP_SECURE_SESSION_NOT_SUPPORTED: 7102,
  ERR_USP_SAR_NOT_SUPPORTED: 7103,
  ERR_USP_SESSION_CONTEXT_TERMINATED: 7105,
  ERR_USP_SESSION_CONTEXT_NOT_ALLOWED: 7106,
} as const satisfies Record<string, RecordErrorUspCode>);

export type RecordErrorCode = keyof typeof RECORD_ERROR_CODES;

/** A Record that cannot be decoded, validated or encoded. Carries the USP Record error code (7100-7106). */
export class RecordError extends Error {
  override readonly name = "RecordError";
  readonly code: RecordErrorCode;
  readonly uspCode: RecordErrorUspCode;
  /** The offending field in protobuf naming (e.g. `session_context.sequence_id`), when known. */
  readonly field: string | undefined;

  constructor(code: RecordErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.uspCode = RECORD_ERROR_CODES[code];
    this.field = options?.field;
  }

  /** The `err_msg` to send in an Error Msg or a DisconnectRecord `reason`: "<table name>: <message>". */
  get uspMessage(): string {
    return `${RECORD_ERRORS[this.uspCode].name}: ${this.message}`;
  }
}

/** The Msg error codes of TR-369 (`Error.err_code`), 7000-7031. */
export const MSG_ERRORS: Readonly<Record<number, string>> = Object.freeze({
  7000: "Message failed",
  7001: "Message not supported",
  7002: "Request denied (no reason specified)",
  7003: "Internal error",
  7004: "Invalid arguments",
  7005: "Resources exceeded",
  7006: "Permission denied",
  7007: "Invalid configuration",
  7008: "Invalid path syntax",
  7009: "Parameter action failed",
  7010: "Unsupported parameter",
  7011: "Invalid type",
  7012: "Invalid value",
  7013: "Attempt to update non-writeable parameter",
  7014: "Value conflict",
  7015: "Operation error",
  7016: "Object does not exist",
  7017: "Object could not be created",
  7018: "Object is not a table",
  7019: "Attempt to create non-creatable object",
  7020: "Object could not be updated",
  7021: "Required parameter failed",
  7022: "Command failure",
  7023: "Command canceled",
  7024: "Delete failure",
  7025: "Object exists with duplicate key",
  7026: "Invalid path",
  7027: "Invalid command arguments",
  7028: "Register failure",
  7029: "Already in use",
  7030: "Deregister failure",
  7031: "Path already registered",
});

/** Stable string codes of {@link MsgError}, each mapped to the Msg error code to answer with. */
export const MSG_ERROR_CODES = Object.freeze({
  /** The bytes are not a protobuf Msg. */
  ERR_USP_MSG_PARSE: 7000,
  /** A oneof carries more than one member on the wire (R-ENC.5: Msg error 7004). */
  ERR_USP_MSG_ONEOF: 7004,
  /** `header`, `header.msg_id` (R-MSG.8) or `body` is missing. */
  ERR_USP_MSG_MISSING_FIELD: 7004,
  /** An enumeration value outside the schema (R-ENC.2). */
  ERR_USP_MSG_UNKNOWN_ENUM: 7004,
  /** `header.msg_type` does not match the body. */
  ERR_USP_MSG_TYPE_MISMATCH: 7004,
  /** Any other invalid value. */
  ERR_USP_MSG_INVALID_VALUE: 7004,
} as const);

export type MsgErrorCode = keyof typeof MSG_ERROR_CODES;

/** A Msg that cannot be decoded, validated or encoded. `uspCode` is the `Error.err_code` to answer with. */
export class MsgError extends Error {
  override readonly name = "MsgError";
  readonly code: MsgErrorCode;
  readonly uspCode: number;
  /** The `header.msg_id`, when it could be read (needed to answer with an Error Msg, R-MSG.9). */
  readonly msgId: string | undefined;

  constructor(
    code: MsgErrorCode,
    message: string,
    options?: { cause?: unknown; msgId?: string | undefined },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.uspCode = MSG_ERROR_CODES[code];
    this.msgId = options?.msgId;
  }
}

/** An Endpoint ID that does not follow `authority-scheme ":" [authority-id] ":" instance-id`. */
export class EndpointIdError extends Error {
  override readonly name = "EndpointIdError";
  readonly code = "ERR_USP_ENDPOINT_ID_INVALID" as const;
  /** The offending input. */
  readonly endpointId: string;

  constructor(endpointId: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.endpointId = endpointId;
  }
}

/** Every error class of this package, as a union for exhaustive `switch (err.code)`. */
export type UspRecordPackageError = RecordError | MsgError | EndpointIdError;
