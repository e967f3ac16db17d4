import { describe, expect, it } from "vitest";
import {
  decodeMsg,
  decodeRecord,
  disconnectRecord,
  encodeMsg,
  encodeRecord,
  MQTTVersion,
  MsgType,
  mqttConnectRecord,
  noSessionContextRecord,
  PayloadSARState,
  sessionContextRecord,
  stompConnectRecord,
  udsConnectRecord,
  webSocketConnectRecord,
} from "../src/index.js";
import { PbMsg, PbRecord } from "./helpers/protobufjs.js";
import { ERROR_MSG_HEX, GET_MSG_HEX, HEADER_HEX, RECORD_VECTORS } from "./vectors.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bin = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
const addr = { toId: "proto::controller", fromId: "proto::agent" };

describe("golden vectors (usp.md §1.5)", () => {
  it.each(RECORD_VECTORS)("$name decodes and re-encodes byte for byte", ({ hex: h, recordType }) => {
    const record = decodeRecord(bin(h));
    expect(record.version).toBe("1.4");
    expect(record.toId).toBe("proto::controller");
    expect(record.fromId).toBe("proto::agent");
    expect(record.recordType?.$case).toBe(recordType);
    expect(hex(encodeRecord(record))).toBe(h);
  });

  it.each(RECORD_VECTORS)(
    "$name: protobufjs reflection reads the same bytes and writes them back",
    ({ hex: h }) => {
      const bytes = bin(h);
      expect(hex(PbRecord.encode(PbRecord.decode(bytes)).finish())).toBe(h);
    },
  );

  it("every vector starts with the 38-byte header", () => {
    expect(bin(HEADER_HEX).length).toBe(38);
    for (const v of RECORD_VECTORS) expect(v.hex.startsWith(HEADER_HEX)).toBe(true);
  });

  it("builders produce the golden bytes", () => {
    const get = bin(GET_MSG_HEX);
    const byName = Object.fromEntries(RECORD_VECTORS.map((v) => [v.name, v.hex]));
    expect(hex(encodeRecord(noSessionContextRecord({ ...addr, payload: get })))).toBe(
      byName["no_session_context (Get)"],
    );
    expect(hex(encodeRecord(webSocketConnectRecord(addr)))).toBe(byName.websocket_connect);
    expect(hex(encodeRecord(udsConnectRecord(addr)))).toBe(byName.uds_connect);
    expect(
      hex(
        encodeRecord(
          mqttConnectRecord({ ...addr, mqttVersion: "5", subscribedTopic: "usp/agent/proto::agent" }),
        ),
      ),
    ).toBe(byName["mqtt_connect V5"]);
    expect(
      hex(
        encodeRecord(
          mqttConnectRecord({ ...addr, mqttVersion: "3.1.1", subscribedTopic: "usp/agent/proto::agent" }),
        ),
      ),
    ).toBe(byName["mqtt_connect V3_1_1"]);
    expect(hex(encodeRecord(stompConnectRecord({ ...addr, subscribedDestination: "/queue/agent-1" })))).toBe(
      byName.stomp_connect,
    );
    expect(
      hex(
        encodeRecord(disconnectRecord({ ...addr, reason: "Session Context terminated", reasonCode: 7105 })),
      ),
    ).toBe(byName["disconnect 7105"]);
    expect(
      hex(
        encodeRecord(
          sessionContextRecord({ ...addr, sessionId: 2n, sequenceId: 1n, expectedId: 1n, payload: [get] }),
        ),
      ),
    ).toBe(byName["session_context with Get"]);
    expect(
      hex(
        encodeRecord(
          sessionContextRecord({ ...addr, sessionId: 2n, sequenceId: 1n, expectedId: 1n, payload: [] }),
        ),
      ),
    ).toBe(byName["session_context empty"]);
    expect(
      hex(
        encodeRecord(
          sessionContextRecord({
            ...addr,
            sessionId: 2n,
            sequenceId: 18446744073709541616n,
            expectedId: 1n,
            payloadSarState: PayloadSARState.BEGIN,
            payloadrecSarState: PayloadSARState.BEGIN,
            payload: [Uint8Array.of(1)],
          }),
        ),
      ),
    ).toBe(byName["session_context near uint64 max"]);
  });

  it("keeps uint64 exact as bigint near 2^64", () => {
    const v = RECORD_VECTORS.find((x) => x.name === "session_context near uint64 max");
    const record = decodeRecord(bin(v?.hex ?? ""));
    if (record.recordType?.$case !== "sessionContext") throw new Error("wrong case");
    expect(record.recordType.value.sequenceId).toBe(18446744073709541616n);
    expect(typeof record.recordType.value.sessionId).toBe("bigint");
  });

  it("fixed32 fields: reason_code 7105 is 15 c1 1b 00 00; MQTT V3_1_1 is absent on the wire", () => {
    const d = decodeRecord(bin(RECORD_VECTORS.find((x) => x.name === "disconnect 7105")?.hex ?? ""));
    expect(d.recordType).toEqual({
      $case: "disconnect",
      value: { reason: "Session Context terminated", reasonCode: 7105 },
    });
    const m = decodeRecord(bin(RECORD_VECTORS.find((x) => x.name === "mqtt_connect V3_1_1")?.hex ?? ""));
    expect(m.recordType).toEqual({
      $case: "mqttConnect",
      value: { version: MQTTVersion.V3_1_1, subscribedTopic: "usp/agent/proto::agent" },
    });
  });

  it("Msg vectors: Get and Error decode and re-encode byte for byte", () => {
    const get = decodeMsg(bin(GET_MSG_HEX));
    expect(get.header).toEqual({ msgId: "1", msgType: MsgType.GET });
    expect(get.body?.msgBody).toEqual({
      $case: "request",
      value: { reqType: { $case: "get", value: { paramPaths: ["Device.DeviceInfo."], maxDepth: 0 } } },
    });
    expect(hex(encodeMsg(get))).toBe(GET_MSG_HEX);
    const error = decodeMsg(bin(ERROR_MSG_HEX));
    expect(error.body?.msgBody).toEqual({
      $case: "error",
      value: { errCode: 7100, errMsg: "Record could not be parsed", paramErrs: [] },
    });
    expect(hex(encodeMsg(error))).toBe(ERROR_MSG_HEX);
    expect(ERROR_MSG_HEX).toContain("0dbc1b0000");
    expect(hex(PbMsg.encode(PbMsg.decode(bin(ERROR_MSG_HEX))).finish())).toBe(ERROR_MSG_HEX);
  });

  it("OB-USP-Agent MQTTConnectRecord capture (77 bytes) round-trips", () => {
    const capture =
      "0a03312e33121373656c663a3a74732d636f6e74726f6c6c65721a166f733a3a3031323334352d4f42555350412d303030315219080112157573702f6167656e742f6f62757370612d30303031";
    const record = decodeRecord(bin(capture));
    expect(bin(capture).length).toBe(77);
    expect(record).toMatchObject({
      version: "1.3",
      toId: "self::ts-controller",
      fromId: "os::012345-OBUSPA-0001",
    });
    expect(record.recordType).toEqual({
      $case: "mqttConnect",
      value: { version: MQTTVersion.V5, subscribedTopic: "usp/agent/obuspa-0001" },
    });
    expect(hex(encodeRecord(record))).toBe(capture);
  });

  it("OB-USP-Agent STOMP (82 bytes) and WebSocket (52 bytes) Connect Records have the captured sizes", () => {
    const ob = { version: "1.3", toId: "self::ts-controller", fromId: "os::012345-OBUSPA-0001" };
    const stomp = encodeRecord(
      stompConnectRecord({ ...ob, subscribedDestination: "/queue/usp.agent.obuspa-0001" }),
    );
    expect(stomp.length).toBe(82);
    const ws = encodeRecord(webSocketConnectRecord(ob));
    expect(ws.length).toBe(52);
    expect(hex(ws).endsWith("4a00")).toBe(true);
  });
});
