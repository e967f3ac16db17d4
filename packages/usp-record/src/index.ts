/**
 * `@x/usp-record`: TR-369 (USP) Record and Msg codecs for the 1.4 schema (wire-compatible with
 * USP 1.0 to 1.4), with the validation the generated protobuf code does not do (required fields,
 * enum ranges, exactly one `record_type`, non-empty payloads, sizes, Endpoint IDs), builders for
 * every Record type, Endpoint ID parsing, the Record error table 7100-7106 and the R-MTP.5
 * Error Record rule. uint64 fields are `bigint` everywhere.
 *
 * @example
 * ```ts
 * import { decodeRecord, encodeRecord, encodeMsg, buildRequestMsg, noSessionContextRecord } from "@x/usp-record";
 * const msg = encodeMsg(buildRequestMsg("1", { $case: "get", value: { paramPaths: ["Device.DeviceInfo."], maxDepth: 0 } }));
 * const bytes = encodeRecord(noSessionContextRecord({ toId: "proto::agent", fromId: "proto::controller", payload: msg }));
 * const record = decodeRecord(bytes); // throws RecordError (uspCode 7100..7106) on bad input
 * ```
 * @packageDocumentation
 */

export {
  AUTHORITY_SCHEMES,
  type AuthorityScheme,
  ENDPOINT_ID_URN_PREFIX,
  type EndpointId,
  formatEndpointId,
  isValidEndpointId,
  MAX_INSTANCE_ID_LENGTH,
  parseEndpointId,
} from "./endpoint-id.js";
export {
  type ErrorRecordDecision,
  type ErrorRecordOptions,
  errorRecordFor,
  explainErrorRecord,
} from "./error-record.js";
export {
  EndpointIdError,
  MSG_ERROR_CODES,
  MSG_ERRORS,
  MsgError,
  type MsgErrorCode,
  RECORD_ERROR_CODES,
  RECORD_ERRORS,
  RecordError,
  type RecordErrorCode,
  type RecordErrorUspCode,
  type UspRecordPackageError,
} from "./errors.js";
export type { Error as UspErrorBody } from "./gen/usp-msg-1-4.js";
export * from "./gen/usp-msg-1-4.js";
export { Error as ErrorBody, Header_MsgType as MsgType } from "./gen/usp-msg-1-4.js";
export type { Record as UspRecord } from "./gen/usp-record-1-4.js";
export {
  DisconnectRecord,
  MQTTConnectRecord,
  MQTTConnectRecord_MQTTVersion as MQTTVersion,
  NoSessionContextRecord,
  Record as RecordCodec,
  Record_PayloadSecurity as PayloadSecurity,
  SessionContextRecord,
  SessionContextRecord_PayloadSARState as PayloadSARState,
  STOMPConnectRecord,
  STOMPConnectRecord_STOMPVersion as STOMPVersion,
  UDSConnectRecord,
  WebSocketConnectRecord,
} from "./gen/usp-record-1-4.js";
export {
  type EmbeddedMsg,
  embeddedMsgOf,
  type Json,
  msgFromJson,
  msgToJson,
  recordFromJson,
  recordToJson,
} from "./json.js";
export {
  buildErrorMsg,
  buildRequestMsg,
  buildResponseMsg,
  DEFAULT_MAX_MSG_SIZE,
  decodeMsg,
  encodeMsg,
  MSG_TYPE_OF,
  type MsgBodyCase,
  type MsgKind,
  msgKindOf,
  peekMsgId,
  type RequestCase,
  type ResponseCase,
  validateMsg,
} from "./msg.js";
export {
  decodeRecord,
  disconnectRecord,
  encodeRecord,
  isConnectRecord,
  isDisconnectRecord,
  mqttConnectRecord,
  noSessionContextRecord,
  plaintextPayloadOf,
  type RecordCodecOptions,
  type RecordTypeCase,
  sessionContextRecord,
  stompConnectRecord,
  USP_VERSION,
  udsConnectRecord,
  webSocketConnectRecord,
} from "./record.js";
export { DEFAULT_MAX_RECORD_SIZE, UINT64_MAX, type ValidateOptions, validateRecord } from "./validate.js";
