/**
 * Encode, decode and build USP Records (TR-369 1.4 schema, wire-compatible with 1.0-1.4).
 */
import { RecordError } from "./errors.js";
import {
  MQTTConnectRecord_MQTTVersion,
  SessionContextRecord_PayloadSARState,
  type Record as UspRecord,
} from "./gen/usp-record-1-4.js";
import { encodeValidRecord } from "./record-encode.js";
import { decodeRecordWire } from "./record-wire.js";
import {
  DEFAULT_MAX_RECORD_SIZE,
  type ValidateOptions,
  validateDecodedRecord,
  validateRecord,
} from "./validate.js";

/** The USP version this package implements and writes into Records it builds. */
export const USP_VERSION = "1.4";

export interface RecordCodecOptions extends ValidateOptions {
  /** Largest accepted serialised Record, in bytes (default 8 MiB). */
  readonly maxSize?: number | undefined;
}

function maxSizeOf(options: RecordCodecOptions | undefined): number {
  const maxSize = options?.maxSize ?? DEFAULT_MAX_RECORD_SIZE;
  if (!Number.isSafeInteger(maxSize) || maxSize <= 0)
    throw new RangeError("maxSize must be a positive integer");
  return maxSize;
}

/**
 * Serialises a Record after validating it, so an invalid Record is never emitted.
 * @throws {RecordError} (the same rules as {@link decodeRecord}; `ERR_USP_RECORD_TOO_LARGE` above `maxSize`).
 */
export function encodeRecord(record: UspRecord, options?: RecordCodecOptions): Uint8Array {
  const maxSize = maxSizeOf(options);
  validateRecord(record, options);
  const bytes = encodeValidRecord(record);
  if (bytes.length > maxSize) {
    throw new RecordError(
      "ERR_USP_RECORD_TOO_LARGE",
      `Record of ${bytes.length} bytes exceeds maxSize ${maxSize}`,
    );
  }
  return bytes;
}

/**
 * Parses and validates a Record. Bytes fields of the result are views into `bytes` (no copy).
 * @throws {RecordError} carrying the USP code (7100 parse/oneof/size, 7104 invalid values), never anything else.
 */
export function decodeRecord(bytes: Uint8Array, options?: RecordCodecOptions): UspRecord {
  const maxSize = maxSizeOf(options);
  if (!(bytes instanceof Uint8Array)) {
    throw new RecordError("ERR_USP_RECORD_PARSE", "Record could not be parsed: input is not a Uint8Array");
  }
  if (bytes.length > maxSize) {
    throw new RecordError(
      "ERR_USP_RECORD_TOO_LARGE",
      `Record of ${bytes.length} bytes exceeds maxSize ${maxSize}`,
    );
  }
  const record = decodeRecordWire(bytes);
  validateDecodedRecord(record, options);
  return record;
}

/** The `record_type` case names of the generated union. */
export type RecordTypeCase = NonNullable<UspRecord["recordType"]>["$case"];

/** True for the Connect Record types (WebSocket, MQTT, STOMP, UDS). */
export function isConnectRecord(record: UspRecord): boolean {
  const kind = record.recordType?.$case;
  return (
    kind === "websocketConnect" || kind === "mqttConnect" || kind === "stompConnect" || kind === "udsConnect"
  );
}

/** True for a DisconnectRecord. */
export function isDisconnectRecord(record: UspRecord): boolean {
  return record.recordType?.$case === "disconnect";
}

/**
 * The USP Msg bytes a Record carries when they can be read without a session layer:
 * the no_session_context payload, or the single payload of an unsegmented PLAINTEXT
 * session_context Record. Undefined otherwise (TLS12, segmented, Connect/Disconnect).
 */
export function plaintextPayloadOf(record: UspRecord): Uint8Array | undefined {
  const recordType = record.recordType;
  if (recordType?.$case === "noSessionContext") return recordType.value.payload;
  if (
    recordType?.$case === "sessionContext" &&
    record.payloadSecurity === 0 &&
    recordType.value.payloadSarState === SessionContextRecord_PayloadSARState.NONE &&
    recordType.value.payload.length === 1
  ) {
    return recordType.value.payload[0];
  }
  return undefined;
}

interface Addressing {
  readonly toId: string;
  readonly fromId: string;
  /** Record.version, default {@link USP_VERSION}. */
  readonly version?: string | undefined;
}

function base(o: Addressing): Omit<UspRecord, "recordType"> {
  return {
    version: o.version ?? USP_VERSION,
    toId: o.toId,
    fromId: o.fromId,
    payloadSecurity: 0,
    macSignature: new Uint8Array(0),
    senderCert: new Uint8Array(0),
  };
}

function checked(record: UspRecord): UspRecord {
  validateRecord(record);
  return record;
}

/** A Record carrying one Msg without an E2E Session Context. @throws {RecordError} */
export function noSessionContextRecord(o: Addressing & { readonly payload: Uint8Array }): UspRecord {
  return checked({ ...base(o), recordType: { $case: "noSessionContext", value: { payload: o.payload } } });
}

/** A Session Context Record (plaintext unless `payloadSecurity` says TLS12). @throws {RecordError} */
export function sessionContextRecord(
  o: Addressing & {
    readonly sessionId: bigint;
    readonly sequenceId: bigint;
    readonly expectedId: bigint;
    readonly retransmitId?: bigint | undefined;
    readonly payloadSarState?: SessionContextRecord_PayloadSARState | undefined;
    readonly payloadrecSarState?: SessionContextRecord_PayloadSARState | undefined;
    readonly payload: readonly Uint8Array[];
    readonly payloadSecurity?: UspRecord["payloadSecurity"] | undefined;
    readonly macSignature?: Uint8Array | undefined;
    readonly senderCert?: Uint8Array | undefined;
  },
): UspRecord {
  return checked({
    ...base(o),
    payloadSecurity: o.payloadSecurity ?? 0,
    macSignature: o.macSignature ?? new Uint8Array(0),
    senderCert: o.senderCert ?? new Uint8Array(0),
    recordType: {
      $case: "sessionContext",
      value: {
        sessionId: o.sessionId,
        sequenceId: o.sequenceId,
        expectedId: o.expectedId,
        retransmitId: o.retransmitId ?? 0n,
        payloadSarState: o.payloadSarState ?? SessionContextRecord_PayloadSARState.NONE,
        payloadrecSarState: o.payloadrecSarState ?? SessionContextRecord_PayloadSARState.NONE,
        payload: [...o.payload],
      },
    },
  });
}

/** WebSocketConnectRecord (R-MTP.6). @throws {RecordError} */
export function webSocketConnectRecord(o: Addressing): UspRecord {
  return checked({ ...base(o), recordType: { $case: "websocketConnect", value: {} } });
}

/** MQTTConnectRecord (R-MTP.6): the MQTT version in use and the topic the sender is subscribed to. @throws {RecordError} */
export function mqttConnectRecord(
  o: Addressing & { readonly mqttVersion: "5" | "3.1.1"; readonly subscribedTopic: string },
): UspRecord {
  const version =
    o.mqttVersion === "5"
      ? MQTTConnectRecord_MQTTVersion.V5
      : o.mqttVersion === "3.1.1"
        ? MQTTConnectRecord_MQTTVersion.V3_1_1
        : -1;
  return checked({
    ...base(o),
    recordType: { $case: "mqttConnect", value: { version, subscribedTopic: o.subscribedTopic } },
  });
}

/** STOMPConnectRecord (R-MTP.6), STOMP 1.2. @throws {RecordError} */
export function stompConnectRecord(o: Addressing & { readonly subscribedDestination: string }): UspRecord {
  return checked({
    ...base(o),
    recordType: {
      $case: "stompConnect",
      value: { version: 0, subscribedDestination: o.subscribedDestination },
    },
  });
}

/** UDSConnectRecord (USP 1.3+). @throws {RecordError} */
export function udsConnectRecord(o: Addressing): UspRecord {
  return checked({ ...base(o), recordType: { $case: "udsConnect", value: {} } });
}

/** DisconnectRecord (R-MTP.7/9); `reasonCode` should be a Record error code (7100-7199). @throws {RecordError} */
export function disconnectRecord(
  o: Addressing & { readonly reason?: string | undefined; readonly reasonCode?: number | undefined },
): UspRecord {
  return checked({
    ...base(o),
    recordType: { $case: "disconnect", value: { reason: o.reason ?? "", reasonCode: o.reasonCode ?? 0 } },
  });
}
