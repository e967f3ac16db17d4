/**
 * R-MTP.5 (USP 1.4 wording): answering an erroneous Record.
 *
 * The recipient MUST send back a Record with an Error Msg only if all hold: the source
 * Endpoint ID is valid, the destination Endpoint ID is its own, the Record contains a Request,
 * the msg_id can be extracted, and an MTP-specific return path is known. Otherwise it MUST
 * ignore the Record. (The 1.2 text of the seed only excluded Responses and Errors; the 1.4 text
 * requires a Request, which also excludes Notify-less garbage and Connect Records.)
 */
import { isValidEndpointId, parseEndpointId } from "./endpoint-id.js";
import { RecordError, type RecordErrorUspCode } from "./errors.js";
import type { Record as UspRecord } from "./gen/usp-record-1-4.js";
import { buildErrorMsg, decodeMsg, encodeMsg, msgKindOf } from "./msg.js";
import { encodeRecord, plaintextPayloadOf, USP_VERSION } from "./record.js";
import { decodeRecordWire } from "./record-wire.js";
import { DEFAULT_MAX_RECORD_SIZE, isVersion, type ValidateOptions, validateRecord } from "./validate.js";

export interface ErrorRecordOptions extends ValidateOptions {
  /** Whether the MTP knows where to send the answer (default true). False always means "ignore". */
  readonly hasReturnPath?: boolean | undefined;
  /**
   * The problem to report when the Record itself is valid but the caller rejects it for another
   * reason (e.g. 7101 secure session required, 7103 SAR not supported, 7106 session context not
   * allowed). When omitted, the Record's own validation error is reported, and a valid Record
   * yields undefined.
   */
  readonly error?:
    | RecordError
    | { readonly uspCode: RecordErrorUspCode | number; readonly message: string }
    | undefined;
  /** Largest Record considered (default 8 MiB); anything larger is ignored. */
  readonly maxSize?: number | undefined;
}

/** The decision of {@link explainErrorRecord}. */
export type ErrorRecordDecision =
  | {
      readonly send: true;
      readonly bytes: Uint8Array;
      readonly record: UspRecord;
      readonly msgId: string;
      readonly errCode: number;
    }
  | { readonly send: false; readonly reason: string };

/**
 * Like {@link errorRecordFor}, but says why nothing is sent.
 * @throws {EndpointIdError} when `localEndpointId` itself is not a valid Endpoint ID.
 */
export function explainErrorRecord(
  bytes: Uint8Array,
  localEndpointId: string,
  options: ErrorRecordOptions = {},
): ErrorRecordDecision {
  parseEndpointId(localEndpointId);
  if (options.hasReturnPath === false) return { send: false, reason: "no MTP-specific return path is known" };
  if (!(bytes instanceof Uint8Array) || bytes.length > (options.maxSize ?? DEFAULT_MAX_RECORD_SIZE)) {
    return { send: false, reason: "the Record could not be parsed" };
  }
  let record: UspRecord;
  try {
    record = decodeRecordWire(bytes);
  } catch (error) {
    return { send: false, reason: `the Record could not be parsed (${(error as Error).message})` };
  }
  let problem: { uspCode: number; message: string } | undefined = options.error;
  if (problem === undefined) {
    try {
      validateRecord(record, options);
      return { send: false, reason: "the Record is valid" };
    } catch (error) {
      problem = error as RecordError;
    }
  }
  if (!isValidEndpointId(record.fromId))
    return { send: false, reason: "the source Endpoint ID is not valid" };
  if (record.toId !== localEndpointId) return { send: false, reason: "the Record is not addressed to us" };
  const payload = plaintextPayloadOf(record);
  if (payload === undefined || payload.length === 0) {
    return { send: false, reason: "the Record carries no readable Msg (msg_id not extractable)" };
  }
  let msgId: string;
  try {
    const msg = decodeMsg(payload);
    if (msgKindOf(msg)?.kind !== "request") return { send: false, reason: "the Msg is not a Request" };
    msgId = msg.header?.msgId ?? "";
  } catch {
    return { send: false, reason: "the msg_id cannot be extracted" };
  }
  const message = problem instanceof RecordError ? problem.uspMessage : problem.message;
  const errorMsg = encodeMsg(buildErrorMsg(msgId, problem.uspCode, message));
  // R-MSG.0a asks for the Record type of the request; an erroneous Record's session state cannot be
  // trusted, so the answer travels without a Session Context.
  const version = isVersion(record.version) ? record.version : USP_VERSION;
  const answer: UspRecord = {
    version,
    toId: record.fromId,
    fromId: localEndpointId,
    payloadSecurity: 0,
    macSignature: new Uint8Array(0),
    senderCert: new Uint8Array(0),
    recordType: { $case: "noSessionContext", value: { payload: errorMsg } },
  };
  return { send: true, bytes: encodeRecord(answer), record: answer, msgId, errCode: problem.uspCode };
}

/**
 * R-MTP.5 (1.4): the serialised Record with an Error Msg to send back for an erroneous Record,
 * or undefined when the rules say to ignore it (unparseable, invalid source ID, not addressed
 * to `localEndpointId`, no Request inside, msg_id not extractable, no return path).
 * @throws {EndpointIdError} when `localEndpointId` itself is not a valid Endpoint ID.
 */
export function errorRecordFor(
  bytes: Uint8Array,
  localEndpointId: string,
  options?: ErrorRecordOptions,
): Uint8Array | undefined {
  const decision = explainErrorRecord(bytes, localEndpointId, options);
  return decision.send ? decision.bytes : undefined;
}
