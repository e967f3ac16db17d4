/**
 * Encode, decode and build USP Msgs (`package usp`, TR-369 1.4 schema).
 *
 * Decoding uses the generated ts-proto decoder, preceded by a raw walk of the envelope
 * (Msg, Header, Body, Request, Response and every nested oneof holder) that detects oneofs
 * carrying more than one member (R-ENC.3/5), which the generated decoder hides, and followed
 * by value checks (R-MSG.8 msg_id, enum ranges R-ENC.2, msg_type consistent with the body).
 */
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { MsgError } from "./errors.js";
import {
  type Error_ParamError,
  Header_MsgType,
  type Msg,
  Msg as MsgCodec,
  type Request,
  type Response,
  type Error as UspErrorBody,
} from "./gen/usp-msg-1-4.js";

/** Default upper bound for a serialised Msg, in bytes. */
export const DEFAULT_MAX_MSG_SIZE = 8 * 1024 * 1024;

export type RequestCase = NonNullable<Request["reqType"]>["$case"];
export type ResponseCase = NonNullable<Response["respType"]>["$case"];
export type MsgBodyCase = "error" | RequestCase | ResponseCase;

/** `header.msg_type` for each body kind. */
export const MSG_TYPE_OF: Readonly<Record<MsgBodyCase, Header_MsgType>> = Object.freeze({
  error: Header_MsgType.ERROR,
  get: Header_MsgType.GET,
  getSupportedDm: Header_MsgType.GET_SUPPORTED_DM,
  getInstances: Header_MsgType.GET_INSTANCES,
  set: Header_MsgType.SET,
  add: Header_MsgType.ADD,
  delete: Header_MsgType.DELETE,
  operate: Header_MsgType.OPERATE,
  notify: Header_MsgType.NOTIFY,
  getSupportedProtocol: Header_MsgType.GET_SUPPORTED_PROTO,
  register: Header_MsgType.REGISTER,
  deregister: Header_MsgType.DEREGISTER,
  getResp: Header_MsgType.GET_RESP,
  getSupportedDmResp: Header_MsgType.GET_SUPPORTED_DM_RESP,
  getInstancesResp: Header_MsgType.GET_INSTANCES_RESP,
  setResp: Header_MsgType.SET_RESP,
  addResp: Header_MsgType.ADD_RESP,
  deleteResp: Header_MsgType.DELETE_RESP,
  operateResp: Header_MsgType.OPERATE_RESP,
  notifyResp: Header_MsgType.NOTIFY_RESP,
  getSupportedProtocolResp: Header_MsgType.GET_SUPPORTED_PROTO_RESP,
  registerResp: Header_MsgType.REGISTER_RESP,
  deregisterResp: Header_MsgType.DEREGISTER_RESP,
});

/** The kind of a Msg: "request", "response" or "error", with the body case. */
export interface MsgKind {
  readonly kind: "request" | "response" | "error";
  readonly bodyCase: MsgBodyCase;
}

/** Classifies a (decoded) Msg; undefined when it has no body. */
export function msgKindOf(msg: Msg): MsgKind | undefined {
  const body = msg.body?.msgBody;
  if (body === undefined) return undefined;
  if (body.$case === "error") return { kind: "error", bodyCase: "error" };
  if (body.$case === "request") {
    const c = body.value.reqType?.$case;
    return c === undefined ? undefined : { kind: "request", bodyCase: c };
  }
  const c = body.value.respType?.$case;
  return c === undefined ? undefined : { kind: "response", bodyCase: c };
}

// ---- raw walk: oneof multiplicity ------------------------------------------------------

/**
 * Schema slice for the raw walk: for each message, the sub-message fields to descend into
 * and the oneof groups (field numbers that must not appear together or twice).
 */
interface WalkNode {
  readonly children?: Readonly<Record<number, WalkNode>>;
  readonly oneof?: readonly (readonly number[])[];
  readonly name: string;
}

const LEAF = (name: string): WalkNode => ({ name });
const statusNode = (name: string): WalkNode => ({ name, oneof: [[1, 2]] });
const resultWithStatus = (name: string): WalkNode => ({
  name,
  children: { 2: statusNode(`${name}.OperationStatus`) },
});

const NOTIFY: WalkNode = {
  name: "Notify",
  oneof: [[3, 4, 5, 6, 7, 8]],
  children: { 7: { name: "Notify.OperationComplete", oneof: [[4, 5]] } },
};
const REQUEST: WalkNode = {
  name: "Request",
  oneof: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]],
  children: { 8: NOTIFY },
};
const RESPONSE: WalkNode = {
  name: "Response",
  oneof: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]],
  children: {
    4: { name: "SetResp", children: { 1: resultWithStatus("SetResp.UpdatedObjectResult") } },
    5: { name: "AddResp", children: { 1: resultWithStatus("AddResp.CreatedObjectResult") } },
    6: { name: "DeleteResp", children: { 1: resultWithStatus("DeleteResp.DeletedObjectResult") } },
    7: { name: "OperateResp", children: { 1: { name: "OperateResp.OperationResult", oneof: [[2, 3, 4]] } } },
    10: { name: "RegisterResp", children: { 1: resultWithStatus("RegisterResp.RegisteredPathResult") } },
    11: {
      name: "DeregisterResp",
      children: { 1: resultWithStatus("DeregisterResp.DeregisteredPathResult") },
    },
  },
};
const MSG: WalkNode = {
  name: "Msg",
  children: {
    1: LEAF("Header"),
    2: { name: "Body", oneof: [[1, 2, 3]], children: { 1: REQUEST, 2: RESPONSE } },
  },
};

class WalkError extends Error {}

function walk(reader: BinaryReader, end: number, node: WalkNode, depth: number): void {
  if (depth > 32) throw new WalkError("message nesting too deep");
  const seen = node.oneof === undefined ? undefined : new Array<number>(node.oneof.length).fill(0);
  while (reader.pos < end) {
    const [fieldNo, wireType] = reader.tag();
    if (wireType === 3 || wireType === 4)
      throw new WalkError(`${node.name}: groups are not allowed in proto3`);
    if (node.oneof !== undefined && seen !== undefined) {
      for (let g = 0; g < node.oneof.length; g++) {
        if ((node.oneof[g] as readonly number[]).includes(fieldNo)) {
          if (seen[g] !== 0) {
            throw new MsgError(
              "ERR_USP_MSG_ONEOF",
              `${node.name}: oneof carries more than one member (fields ${seen[g]} and ${fieldNo}) (R-ENC.3)`,
            );
          }
          seen[g] = fieldNo;
        }
      }
    }
    const child = node.children?.[fieldNo];
    if (child !== undefined) {
      if (wireType !== 2) throw new WalkError(`${node.name}.${fieldNo}: wire type ${wireType}, expected 2`);
      const len = reader.uint32();
      const stop = reader.pos + len;
      if (stop > end) throw new WalkError(`${node.name}.${fieldNo}: runs past its enclosing message`);
      walk(reader, stop, child, depth + 1);
      continue;
    }
    if (wireType === 0) reader.uint64();
    else reader.skip(wireType, fieldNo);
  }
  if (reader.pos !== end) throw new WalkError(`${node.name}: field runs past its enclosing message`);
}

// ---- value checks ----------------------------------------------------------------------

function checkEnum(value: unknown, max: number, field: string, msgId: string | undefined): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new MsgError(
      "ERR_USP_MSG_UNKNOWN_ENUM",
      `${field}: unknown enumeration value ${String(value)} (R-ENC.2)`,
      {
        msgId,
      },
    );
  }
}

/** Enum ranges below the envelope: only GetSupportedDMResp has enums. */
function checkNestedEnums(msg: Msg, msgId: string): void {
  const body = msg.body?.msgBody;
  if (body?.$case !== "response" || body.value.respType?.$case !== "getSupportedDmResp") return;
  for (const result of body.value.respType.value.reqObjResults) {
    for (const obj of result.supportedObjs) {
      checkEnum(obj.access, 3, "SupportedObjectResult.access", msgId);
      for (const p of obj.supportedParams) {
        checkEnum(p.access, 2, "SupportedParamResult.access", msgId);
        checkEnum(p.valueType, 10, "SupportedParamResult.value_type", msgId);
        checkEnum(p.valueChange, 2, "SupportedParamResult.value_change", msgId);
      }
      for (const c of obj.supportedCommands)
        checkEnum(c.commandType, 2, "SupportedCommandResult.command_type", msgId);
    }
  }
}

/**
 * Checks a Msg object: header with a non-empty msg_id (R-MSG.8), a known msg_type that matches
 * the body, exactly one body member. @throws {MsgError}
 */
export function validateMsg(msg: Msg): void {
  if (typeof msg !== "object" || msg === null)
    throw new MsgError("ERR_USP_MSG_INVALID_VALUE", "a Msg must be an object");
  const header = msg.header;
  if (header === undefined || header === null || typeof header !== "object") {
    throw new MsgError("ERR_USP_MSG_MISSING_FIELD", "header is required");
  }
  const msgId = typeof header.msgId === "string" ? header.msgId : undefined;
  if (msgId === undefined || msgId.length === 0) {
    throw new MsgError("ERR_USP_MSG_MISSING_FIELD", "header.msg_id is required (R-MSG.8)");
  }
  checkEnum(header.msgType, 22, "header.msg_type", msgId);
  const kind = msgKindOf(msg);
  if (kind === undefined) throw new MsgError("ERR_USP_MSG_MISSING_FIELD", "body is required", { msgId });
  const expected = MSG_TYPE_OF[kind.bodyCase];
  if (expected !== header.msgType) {
    throw new MsgError(
      "ERR_USP_MSG_TYPE_MISMATCH",
      `header.msg_type ${Header_MsgType[header.msgType] ?? header.msgType} does not match body ${kind.bodyCase}`,
      { msgId },
    );
  }
  checkNestedEnums(msg, msgId);
}

/**
 * Parses and validates a Msg.
 * @throws {MsgError} (`uspCode` 7000 when unparseable, 7004 when invalid), never anything else.
 */
export function decodeMsg(bytes: Uint8Array, options?: { readonly maxSize?: number }): Msg {
  if (!(bytes instanceof Uint8Array))
    throw new MsgError("ERR_USP_MSG_PARSE", "Msg could not be parsed: not a Uint8Array");
  const maxSize = options?.maxSize ?? DEFAULT_MAX_MSG_SIZE;
  if (bytes.length > maxSize) {
    throw new MsgError("ERR_USP_MSG_PARSE", `Msg of ${bytes.length} bytes exceeds maxSize ${maxSize}`);
  }
  let msg: Msg;
  try {
    walk(new BinaryReader(bytes), bytes.length, MSG, 0);
    msg = MsgCodec.decode(bytes);
  } catch (error) {
    if (error instanceof MsgError) throw error;
    throw new MsgError("ERR_USP_MSG_PARSE", `Msg could not be parsed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  validateMsg(msg);
  return msg;
}

/** Serialises a Msg after {@link validateMsg}. @throws {MsgError} */
export function encodeMsg(msg: Msg): Uint8Array {
  validateMsg(msg);
  try {
    return MsgCodec.encode(msg).finish();
  } catch (error) {
    throw new MsgError("ERR_USP_MSG_INVALID_VALUE", `Msg could not be encoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Reads `header.msg_id` without validating anything else; undefined when unreadable. Never throws. */
export function peekMsgId(bytes: Uint8Array): string | undefined {
  try {
    const id = MsgCodec.decode(bytes).header?.msgId;
    return id === undefined || id.length === 0 ? undefined : id;
  } catch {
    return undefined;
  }
}

/** An Error Msg (`msg_type` ERROR) answering `msgId` (R-MSG.9). */
export function buildErrorMsg(
  msgId: string,
  errCode: number,
  errMsg: string,
  paramErrs: readonly Error_ParamError[] = [],
): Msg {
  const error: UspErrorBody = { errCode, errMsg, paramErrs: [...paramErrs] };
  return {
    header: { msgId, msgType: Header_MsgType.ERROR },
    body: { msgBody: { $case: "error", value: error } },
  };
}

/** A request Msg; `msg_type` follows the request kind. */
export function buildRequestMsg(msgId: string, request: NonNullable<Request["reqType"]>): Msg {
  return {
    header: { msgId, msgType: MSG_TYPE_OF[request.$case] },
    body: { msgBody: { $case: "request", value: { reqType: request } } },
  };
}

/** A response Msg; `msg_type` follows the response kind. */
export function buildResponseMsg(msgId: string, response: NonNullable<Response["respType"]>): Msg {
  return {
    header: { msgId, msgType: MSG_TYPE_OF[response.$case] },
    body: { msgBody: { $case: "response", value: { respType: response } } },
  };
}
