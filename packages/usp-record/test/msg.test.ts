import { describe, expect, it } from "vitest";
import {
  buildErrorMsg,
  buildRequestMsg,
  buildResponseMsg,
  decodeMsg,
  encodeMsg,
  type GetSupportedDMResp_ParamValueType,
  MSG_ERRORS,
  type Msg,
  MsgError,
  MsgType,
  msgKindOf,
  peekMsgId,
} from "../src/index.js";
import { GET_MSG_HEX } from "./vectors.js";

const bin = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
function ld(tag: number, bodyHex: string): string {
  const len = bodyHex.length / 2;
  return tag.toString(16).padStart(2, "0") + len.toString(16).padStart(2, "0") + bodyHex;
}
const str = (s: string) => Buffer.from(s).toString("hex");
const header = (id: string, type: number) =>
  ld(0x0a, ld(0x0a, str(id)) + (type ? `10${type.toString(16).padStart(2, "0")}` : ""));

function expectMsgError(fn: () => unknown, code: string, uspCode: number): MsgError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MsgError);
    expect((error as MsgError).code).toBe(code);
    expect((error as MsgError).uspCode).toBe(uspCode);
    return error as MsgError;
  }
  throw new Error("expected a MsgError");
}

describe("Msg codec", () => {
  it("builds requests, responses and errors with the matching msg_type", () => {
    const get = buildRequestMsg("m1", { $case: "get", value: { paramPaths: ["Device."], maxDepth: 2 } });
    expect(get.header?.msgType).toBe(MsgType.GET);
    expect(decodeMsg(encodeMsg(get))).toEqual(get);
    const resp = buildResponseMsg("m1", { $case: "notifyResp", value: { subscriptionId: "s" } });
    expect(resp.header?.msgType).toBe(MsgType.NOTIFY_RESP);
    expect(msgKindOf(resp)).toEqual({ kind: "response", bodyCase: "notifyResp" });
    const err = buildErrorMsg("m1", 7004, "Invalid arguments", [
      { paramPath: "Device.X", errCode: 7010, errMsg: "no" },
    ]);
    expect(decodeMsg(encodeMsg(err))).toEqual(err);
    expect(msgKindOf(err)).toEqual({ kind: "error", bodyCase: "error" });
    expect(MSG_ERRORS[7004]).toBe("Invalid arguments");
  });

  it("reads msg_id without validation", () => {
    expect(peekMsgId(bin(GET_MSG_HEX))).toBe("1");
    expect(peekMsgId(bin("ff"))).toBeUndefined();
  });

  it("rejects unparseable bytes with 7000", () => {
    expectMsgError(() => decodeMsg(bin("0a05")), "ERR_USP_MSG_PARSE", 7000);
    expectMsgError(() => decodeMsg(bin("00")), "ERR_USP_MSG_PARSE", 7000);
    expectMsgError(() => decodeMsg("x" as unknown as Uint8Array), "ERR_USP_MSG_PARSE", 7000);
    expectMsgError(() => decodeMsg(bin(GET_MSG_HEX), { maxSize: 10 }), "ERR_USP_MSG_PARSE", 7000);
  });

  it("rejects a Msg without header, msg_id or body (R-MSG.8) with 7004", () => {
    expectMsgError(() => decodeMsg(new Uint8Array(0)), "ERR_USP_MSG_MISSING_FIELD", 7004);
    expectMsgError(
      () => decodeMsg(bin(`${ld(0x0a, "1001")}${ld(0x12, ld(0x0a, ld(0x0a, "")))}`)),
      "ERR_USP_MSG_MISSING_FIELD",
      7004,
    );
    const e = expectMsgError(() => decodeMsg(bin(header("7", 1))), "ERR_USP_MSG_MISSING_FIELD", 7004);
    expect(e.msgId).toBe("7");
  });

  it("rejects two members of a oneof (R-ENC.3/5) with 7004, at every level", () => {
    // Body with request and error
    const twoBodies = header("1", 1) + ld(0x12, ld(0x0a, ld(0x0a, "")) + ld(0x1a, ""));
    expectMsgError(() => decodeMsg(bin(twoBodies)), "ERR_USP_MSG_ONEOF", 7004);
    // Request with get twice
    const twoGets = header("1", 1) + ld(0x12, ld(0x0a, ld(0x0a, "") + ld(0x0a, "")));
    expectMsgError(() => decodeMsg(bin(twoGets)), "ERR_USP_MSG_ONEOF", 7004);
    // Notify with event and value_change
    const notify = ld(0x1a, "") + ld(0x22, "");
    const twoNotifications = header("1", 3) + ld(0x12, ld(0x0a, ld(0x42, notify)));
    expectMsgError(() => decodeMsg(bin(twoNotifications)), "ERR_USP_MSG_ONEOF", 7004);
    // AddResp.CreatedObjectResult.OperationStatus with failure and success
    const status = ld(0x0a, "") + ld(0x12, "");
    const addResp = header("1", 9) + ld(0x12, ld(0x12, ld(0x2a, ld(0x0a, ld(0x12, status)))));
    expectMsgError(() => decodeMsg(bin(addResp)), "ERR_USP_MSG_ONEOF", 7004);
  });

  it("rejects msg_type that does not match the body, and unknown enums", () => {
    const getAsSet = header("1", 4) + ld(0x12, ld(0x0a, ld(0x0a, "")));
    expectMsgError(() => decodeMsg(bin(getAsSet)), "ERR_USP_MSG_TYPE_MISMATCH", 7004);
    const unknownType = header("1", 99) + ld(0x12, ld(0x0a, ld(0x0a, "")));
    expectMsgError(() => decodeMsg(bin(unknownType)), "ERR_USP_MSG_UNKNOWN_ENUM", 7004);
    const gsdm: Msg = buildResponseMsg("1", {
      $case: "getSupportedDmResp",
      value: {
        reqObjResults: [
          {
            reqObjPath: "Device.",
            errCode: 0,
            errMsg: "",
            dataModelInstUri: "",
            supportedObjs: [
              {
                supportedObjPath: "Device.",
                access: 0,
                isMultiInstance: false,
                supportedCommands: [],
                supportedEvents: [],
                supportedParams: [
                  {
                    paramName: "X",
                    access: 0,
                    valueType: 11 as GetSupportedDMResp_ParamValueType,
                    valueChange: 0,
                  },
                ],
                divergentPaths: [],
                uniqueKeySets: [],
              },
            ],
          },
        ],
      },
    });
    expectMsgError(() => encodeMsg(gsdm), "ERR_USP_MSG_UNKNOWN_ENUM", 7004);
  });

  it("encodeMsg validates", () => {
    expectMsgError(() => encodeMsg({ header: { msgId: "", msgType: 1 } }), "ERR_USP_MSG_MISSING_FIELD", 7004);
    expectMsgError(() => encodeMsg(null as unknown as Msg), "ERR_USP_MSG_INVALID_VALUE", 7004);
  });
});
