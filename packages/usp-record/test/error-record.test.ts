import { describe, expect, it } from "vitest";
import {
  buildErrorMsg,
  buildRequestMsg,
  buildResponseMsg,
  decodeMsg,
  decodeRecord,
  EndpointIdError,
  encodeMsg,
  encodeRecord,
  errorRecordFor,
  explainErrorRecord,
  MsgType,
  noSessionContextRecord,
  type PayloadSecurity,
  RecordCodec,
  RecordError,
  type UspRecord,
  webSocketConnectRecord,
} from "../src/index.js";
import { HEADER_HEX } from "./vectors.js";

const LOCAL = "proto::controller";
const get = encodeMsg(
  buildRequestMsg("req-42", { $case: "get", value: { paramPaths: ["Device."], maxDepth: 0 } }),
);

/** Encodes without validation (the generated encoder), to produce erroneous Records. */
function raw(record: UspRecord): Uint8Array {
  return RecordCodec.encode(record).finish();
}
function withPayloadSecurity7(payload: Uint8Array, toId = LOCAL, fromId = "proto::agent"): Uint8Array {
  return raw({
    version: "1.4",
    toId,
    fromId,
    payloadSecurity: 7 as PayloadSecurity,
    macSignature: new Uint8Array(0),
    senderCert: new Uint8Array(0),
    recordType: { $case: "noSessionContext", value: { payload } },
  });
}

describe("errorRecordFor (R-MTP.5, USP 1.4 wording)", () => {
  it("answers an invalid Record carrying a Request with an Error Msg in a Record back to the sender", () => {
    const answer = errorRecordFor(withPayloadSecurity7(get), LOCAL);
    expect(answer).toBeInstanceOf(Uint8Array);
    const record = decodeRecord(answer as Uint8Array);
    expect(record.toId).toBe("proto::agent");
    expect(record.fromId).toBe(LOCAL);
    expect(record.recordType?.$case).toBe("noSessionContext");
    if (record.recordType?.$case !== "noSessionContext") throw new Error("unreachable");
    const msg = decodeMsg(record.recordType.value.payload);
    expect(msg.header).toEqual({ msgId: "req-42", msgType: MsgType.ERROR });
    expect(msg.body?.msgBody?.$case).toBe("error");
    if (msg.body?.msgBody?.$case !== "error") throw new Error("unreachable");
    expect(msg.body.msgBody.value.errCode).toBe(7104);
    expect(msg.body.msgBody.value.errMsg).toContain("Invalid Record value");
  });

  it("reports a caller-chosen error for a valid Record (e.g. 7106 session context not allowed)", () => {
    const valid = encodeRecord(noSessionContextRecord({ toId: LOCAL, fromId: "proto::agent", payload: get }));
    expect(errorRecordFor(valid, LOCAL)).toBeUndefined();
    expect(explainErrorRecord(valid, LOCAL)).toEqual({ send: false, reason: "the Record is valid" });
    const err = new RecordError("ERR_USP_SESSION_CONTEXT_NOT_ALLOWED", "E2E sessions are disabled");
    const answer = errorRecordFor(valid, LOCAL, { error: err });
    const record = decodeRecord(answer as Uint8Array);
    if (record.recordType?.$case !== "noSessionContext") throw new Error("unreachable");
    const msg = decodeMsg(record.recordType.value.payload);
    if (msg.body?.msgBody?.$case !== "error") throw new Error("unreachable");
    expect(msg.body.msgBody.value.errCode).toBe(7106);
  });

  it("ignores a Record not addressed to us", () => {
    expect(errorRecordFor(withPayloadSecurity7(get, "proto::someone-else"), LOCAL)).toBeUndefined();
  });

  it("ignores a Record whose source Endpoint ID is not valid", () => {
    expect(errorRecordFor(withPayloadSecurity7(get, LOCAL, "agent-without-scheme"), LOCAL)).toBeUndefined();
    expect(errorRecordFor(withPayloadSecurity7(get, LOCAL, ""), LOCAL)).toBeUndefined();
  });

  it("ignores Responses and Errors inside", () => {
    const resp = encodeMsg(buildResponseMsg("r", { $case: "getResp", value: { reqPathResults: [] } }));
    expect(errorRecordFor(withPayloadSecurity7(resp), LOCAL)).toBeUndefined();
    const error = encodeMsg(buildErrorMsg("r", 7000, "x"));
    expect(explainErrorRecord(withPayloadSecurity7(error), LOCAL)).toEqual({
      send: false,
      reason: "the Msg is not a Request",
    });
  });

  it("ignores a Record whose msg_id cannot be extracted", () => {
    expect(errorRecordFor(withPayloadSecurity7(Uint8Array.of(0xff, 0xff)), LOCAL)).toBeUndefined();
    const noId = RecordCodec.encode({
      ...noSessionContextRecord({ toId: LOCAL, fromId: "proto::agent", payload: Uint8Array.of(0x0a, 0x00) }),
      payloadSecurity: 9 as PayloadSecurity,
    }).finish();
    expect(errorRecordFor(noId, LOCAL)).toBeUndefined();
    // Connect Records carry no Msg at all
    const connect = raw({
      ...webSocketConnectRecord({ toId: LOCAL, fromId: "proto::agent" }),
      payloadSecurity: 5 as PayloadSecurity,
    });
    expect(errorRecordFor(connect, LOCAL)).toBeUndefined();
  });

  it("ignores unparseable Records and Records with two record_type members (R-ENC.4: discard)", () => {
    expect(errorRecordFor(Uint8Array.of(0xff, 0x01), LOCAL)).toBeUndefined();
    expect(
      errorRecordFor(Uint8Array.from(Buffer.from(`${HEADER_HEX}4a006a00`, "hex")), LOCAL),
    ).toBeUndefined();
  });

  it("ignores everything when no return path is known", () => {
    expect(errorRecordFor(withPayloadSecurity7(get), LOCAL, { hasReturnPath: false })).toBeUndefined();
  });

  it("throws EndpointIdError for an invalid local Endpoint ID", () => {
    expect(() => errorRecordFor(withPayloadSecurity7(get), "controller")).toThrow(EndpointIdError);
  });
});
