/**
 * Value-level rules for a Record, shared by the encoder (never emit an invalid Record) and the
 * decoder (reject what the receiver must not process). Also guards against objects that do not
 * have the generated shape (JavaScript callers, JSON input), so encoding never throws anything
 * but a RecordError.
 */
import { explainEndpointId } from "./endpoint-id.js";
import { RecordError, type RecordErrorCode } from "./errors.js";
import type { Record as UspRecord } from "./gen/usp-record-1-4.js";

/** 2^64 - 1. */
export const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

/** Default upper bound for a whole serialised Record, in bytes (decode and encode). */
export const DEFAULT_MAX_RECORD_SIZE = 8 * 1024 * 1024;

export interface ValidateOptions {
  /**
   * Check `to_id` and `from_id` against the Endpoint ID syntax of TR-369 (default true).
   * Turning it off is a named relaxation for peers with non-conforming IDs.
   */
  readonly validateEndpointIds?: boolean | undefined;
}

/** "Major.Minor" with 1-5 digits each, checked without a regex (this runs on every Record). */
export function isVersion(text: string): boolean {
  const dot = text.indexOf(".");
  if (dot < 1 || dot > 5 || text.length - dot - 1 < 1 || text.length - dot - 1 > 5) return false;
  for (let i = 0; i < text.length; i++) {
    if (i === dot) continue;
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function invalid(code: RecordErrorCode, field: string, message: string): never {
  throw new RecordError(code, `${field}: ${message}`, { field });
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeIsWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

/** True when `text` has no lone surrogates, i.e. it has a UTF-8 encoding (proto3 strings must). */
export function isWellFormed(text: string): boolean {
  return nativeIsWellFormed !== undefined ? nativeIsWellFormed.call(text) : !LONE_SURROGATE.test(text);
}

// True while validating a Record that the strict decoder just produced: its strings came from
// validated UTF-8, so they are well-formed and the (comparatively costly) check is skipped.
let stringsFromWire = false;

function checkString(value: unknown, field: string, required: boolean): void {
  if (typeof value !== "string") invalid("ERR_USP_RECORD_INVALID_VALUE", field, "must be a string");
  if (!stringsFromWire && !isWellFormed(value))
    invalid("ERR_USP_RECORD_INVALID_VALUE", field, "is not well-formed Unicode (lone surrogate)");
  if (required && value.length === 0)
    invalid("ERR_USP_RECORD_MISSING_FIELD", field, "is required (R-MTP.4b)");
}

function checkBytes(value: unknown, field: string): void {
  if (!(value instanceof Uint8Array)) invalid("ERR_USP_RECORD_INVALID_VALUE", field, "must be a Uint8Array");
}

function checkEnum(value: unknown, max: number, field: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    invalid("ERR_USP_RECORD_UNKNOWN_ENUM", field, `unknown enumeration value ${String(value)} (R-ENC.2)`);
  }
}

function checkUint64(value: unknown, field: string, required: boolean): void {
  if (typeof value !== "bigint") invalid("ERR_USP_RECORD_INVALID_VALUE", field, "must be a bigint");
  if (value < 0n || value > UINT64_MAX)
    invalid("ERR_USP_RECORD_INVALID_VALUE", field, "is outside the uint64 range");
  if (required && value === 0n)
    invalid("ERR_USP_RECORD_MISSING_FIELD", field, "is required and must not be 0 (R-MTP.4b)");
}

function checkEndpointId(value: string, field: string): void {
  const problem = explainEndpointId(value);
  if (problem !== undefined)
    invalid("ERR_USP_RECORD_INVALID_ENDPOINT_ID", field, `invalid Endpoint ID: ${problem}`);
}

/**
 * Checks every rule the schema alone cannot express. Returns normally for a valid Record.
 * @throws {RecordError} (7104 for value problems) and nothing else.
 */
export function validateRecord(record: UspRecord, options: ValidateOptions = {}): void {
  if (typeof record !== "object" || record === null) {
    throw new RecordError("ERR_USP_RECORD_INVALID_VALUE", "a Record must be an object");
  }
  checkString(record.version, "version", true);
  if (!isVersion(record.version)) {
    invalid(
      "ERR_USP_RECORD_INVALID_VALUE",
      "version",
      `must be "Major.Minor", got ${JSON.stringify(record.version)}`,
    );
  }
  checkString(record.toId, "to_id", true);
  checkString(record.fromId, "from_id", true);
  if (options.validateEndpointIds !== false) {
    checkEndpointId(record.toId, "to_id");
    checkEndpointId(record.fromId, "from_id");
  }
  checkEnum(record.payloadSecurity, 1, "payload_security");
  checkBytes(record.macSignature, "mac_signature");
  checkBytes(record.senderCert, "sender_cert");

  const recordType = record.recordType;
  if (recordType === undefined || recordType === null) {
    invalid("ERR_USP_RECORD_MISSING_FIELD", "record_type", "is required (R-MTP.4b)");
  }
  if (typeof recordType !== "object" || typeof recordType.value !== "object" || recordType.value === null) {
    invalid("ERR_USP_RECORD_INVALID_VALUE", "record_type", "must be { $case, value }");
  }
  switch (recordType.$case) {
    case "noSessionContext": {
      const value = recordType.value;
      checkBytes(value.payload, "no_session_context.payload");
      if (value.payload.length === 0) {
        invalid("ERR_USP_RECORD_EMPTY_PAYLOAD", "no_session_context.payload", "must not be empty (R-E2E.26)");
      }
      if (record.payloadSecurity !== 0) {
        invalid(
          "ERR_USP_RECORD_INVALID_VALUE",
          "payload_security",
          "TLS12 requires a Session Context (R-E2E.41)",
        );
      }
      return;
    }
    case "sessionContext": {
      const value = recordType.value;
      checkUint64(value.sessionId, "session_context.session_id", true);
      checkUint64(value.sequenceId, "session_context.sequence_id", true);
      checkUint64(value.expectedId, "session_context.expected_id", true);
      checkUint64(value.retransmitId, "session_context.retransmit_id", false);
      checkEnum(value.payloadSarState, 3, "session_context.payload_sar_state");
      checkEnum(value.payloadrecSarState, 3, "session_context.payloadrec_sar_state");
      if (value.payloadSarState === 0 && value.payloadrecSarState !== 0) {
        invalid(
          "ERR_USP_RECORD_INVALID_VALUE",
          "session_context.payloadrec_sar_state",
          "must be NONE when payload_sar_state is NONE",
        );
      }
      if (!Array.isArray(value.payload)) {
        invalid("ERR_USP_RECORD_INVALID_VALUE", "session_context.payload", "must be an array");
      }
      for (const element of value.payload) checkBytes(element, "session_context.payload");
      if (record.payloadSecurity === 0 && value.payload.length > 1) {
        invalid(
          "ERR_USP_RECORD_INVALID_VALUE",
          "session_context.payload",
          "PLAINTEXT carries at most one payload element",
        );
      }
      return;
    }
    case "websocketConnect":
    case "udsConnect":
      return;
    case "mqttConnect": {
      const value = recordType.value;
      checkEnum(value.version, 1, "mqtt_connect.version");
      checkString(value.subscribedTopic, "mqtt_connect.subscribed_topic", true);
      // A Connect Record advertises a topic the sender is subscribed to, never a filter.
      if (value.subscribedTopic.includes("+") || value.subscribedTopic.includes("#")) {
        invalid(
          "ERR_USP_RECORD_INVALID_VALUE",
          "mqtt_connect.subscribed_topic",
          "must not contain MQTT wildcards",
        );
      }
      return;
    }
    case "stompConnect": {
      const value = recordType.value;
      checkEnum(value.version, 0, "stomp_connect.version");
      checkString(value.subscribedDestination, "stomp_connect.subscribed_destination", true);
      return;
    }
    case "disconnect": {
      const value = recordType.value;
      checkString(value.reason, "disconnect.reason", false);
      if (
        typeof value.reasonCode !== "number" ||
        !Number.isInteger(value.reasonCode) ||
        value.reasonCode < 0 ||
        value.reasonCode > 0xffff_ffff
      ) {
        invalid(
          "ERR_USP_RECORD_INVALID_VALUE",
          "disconnect.reason_code",
          "must be a fixed32 (0..4294967295)",
        );
      }
      return;
    }
    default:
      invalid(
        "ERR_USP_RECORD_INVALID_VALUE",
        "record_type",
        `unknown $case ${JSON.stringify((recordType as { $case: unknown }).$case)}`,
      );
  }
}

/** {@link validateRecord} for a Record produced by the strict wire decoder. */
export function validateDecodedRecord(record: UspRecord, options?: ValidateOptions): void {
  stringsFromWire = true;
  try {
    validateRecord(record, options);
  } finally {
    stringsFromWire = false;
  }
}
