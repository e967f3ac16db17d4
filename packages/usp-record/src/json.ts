/**
 * JSON forms of Records and Msgs, following the proto3 JSON mapping of the generated code
 * (lowerCamelCase names, oneof members as fields, enum names, bytes as base64, uint64 as
 * decimal strings, default values omitted), plus the decoded Msg of a Record's payload.
 */
import { RecordError } from "./errors.js";
import { type Msg, Msg as MsgCodec } from "./gen/usp-msg-1-4.js";
import { Record as RecordCodec, type Record as UspRecord } from "./gen/usp-record-1-4.js";
import { decodeMsg } from "./msg.js";
import { plaintextPayloadOf } from "./record.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The proto3 JSON form of a Record (uint64 as decimal strings, bytes as base64). */
export function recordToJson(record: UspRecord): Json {
  return RecordCodec.toJSON(record) as Json;
}

/** The proto3 JSON form of a Msg. */
export function msgToJson(msg: Msg): Json {
  return MsgCodec.toJSON(msg) as Json;
}

/**
 * A Record from its JSON form (snake_case names accepted too). Not validated here: pass the
 * result to `encodeRecord`, which validates. A top-level `msg` (JSON Msg) fills an empty
 * no_session_context / session_context payload.
 * @throws {RecordError} for JSON that cannot be mapped (bad base64, bad uint64 text, ...).
 */
export function recordFromJson(json: unknown): UspRecord {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RecordError("ERR_USP_RECORD_INVALID_VALUE", "a Record in JSON must be an object");
  }
  let record: UspRecord;
  try {
    record = RecordCodec.fromJSON(json);
  } catch (error) {
    throw new RecordError(
      "ERR_USP_RECORD_INVALID_VALUE",
      `Record JSON could not be mapped: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const msgJson = (json as { msg?: unknown }).msg;
  if (msgJson !== undefined) {
    let payload: Uint8Array;
    try {
      payload = MsgCodec.encode(MsgCodec.fromJSON(msgJson)).finish();
    } catch (error) {
      throw new RecordError(
        "ERR_USP_RECORD_INVALID_VALUE",
        `msg JSON could not be mapped: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const recordType = record.recordType;
    if (recordType?.$case === "noSessionContext" && recordType.value.payload.length === 0) {
      recordType.value.payload = payload;
    } else if (recordType?.$case === "sessionContext" && recordType.value.payload.length === 0) {
      recordType.value.payload = [payload];
    } else if (recordType === undefined) {
      record.recordType = { $case: "noSessionContext", value: { payload } };
    } else {
      throw new RecordError(
        "ERR_USP_RECORD_INVALID_VALUE",
        "msg given for a Record type that already has a payload or none",
      );
    }
  }
  return record;
}

/** A Msg from its JSON form (not validated; pass it to `encodeMsg`). */
export function msgFromJson(json: unknown): Msg {
  return MsgCodec.fromJSON(json);
}

/** The Msg inside a Record, decoded when readable without a session layer. */
export type EmbeddedMsg =
  | { readonly status: "decoded"; readonly msg: Msg }
  | { readonly status: "invalid"; readonly error: Error }
  | { readonly status: "none" };

export function embeddedMsgOf(record: UspRecord): EmbeddedMsg {
  const payload = plaintextPayloadOf(record);
  if (payload === undefined) return { status: "none" };
  try {
    return { status: "decoded", msg: decodeMsg(payload) };
  } catch (error) {
    return { status: "invalid", error: error as Error };
  }
}
