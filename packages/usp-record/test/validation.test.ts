import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_RECORD_SIZE,
  decodeRecord,
  encodeRecord,
  isConnectRecord,
  isDisconnectRecord,
  mqttConnectRecord,
  noSessionContextRecord,
  PayloadSecurity,
  RECORD_ERROR_CODES,
  RECORD_ERRORS,
  RecordError,
  sessionContextRecord,
  stompConnectRecord,
  type UspRecord,
  webSocketConnectRecord,
} from "../src/index.js";
import { HEADER_HEX } from "./vectors.js";

const bin = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
const addr = { toId: "proto::controller", fromId: "proto::agent" };

/** A length-delimited field: tag byte + length + bytes (short fields only). */
function ld(tag: number, bodyHex: string): string {
  const len = bodyHex.length / 2;
  if (len > 127) throw new Error("short fields only");
  return tag.toString(16).padStart(2, "0") + len.toString(16).padStart(2, "0") + bodyHex;
}
const str = (s: string) => Buffer.from(s).toString("hex");

function expectRecordError(fn: () => unknown, code: string, uspCode: number): RecordError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordError);
    const e = error as RecordError;
    expect(e.code).toBe(code);
    expect(e.uspCode).toBe(uspCode);
    expect(e.name).toBe("RecordError");
    return e;
  }
  throw new Error("expected a RecordError");
}

describe("Record error table", () => {
  it("has the seven codes of TR-369 with names", () => {
    expect(Object.keys(RECORD_ERRORS).map(Number)).toEqual([7100, 7101, 7102, 7103, 7104, 7105, 7106]);
    expect(RECORD_ERRORS[7100].name).toBe("Record could not be parsed");
    expect(RECORD_ERRORS[7104].name).toBe("Invalid Record value");
    expect(RECORD_ERRORS[7106].name).toBe("Session Context not allowed");
    expect(Object.isFrozen(RECORD_ERRORS)).toBe(true);
  });

  it("maps every string code to a USP code and keeps cause", () => {
    for (const [code, usp] of Object.entries(RECORD_ERROR_CODES)) {
      const cause = new Error("inner");
      const e = new RecordError(code as keyof typeof RECORD_ERROR_CODES, "x", { cause });
      expect(e.uspCode).toBe(usp);
      expect(e.cause).toBe(cause);
      expect(e.uspMessage.startsWith(RECORD_ERRORS[usp].name)).toBe(true);
    }
  });
});

describe("wire-level rules (7100)", () => {
  it("rejects two different record_type members (R-ENC.3/4)", () => {
    const e = expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}4a006a00`)),
      "ERR_USP_RECORD_ONEOF",
      7100,
    );
    expect(e.message).toContain("websocket_connect");
    expect(e.message).toContain("uds_connect");
  });

  it("rejects the same record_type member twice (protobuf would merge; USP requires exactly one)", () => {
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}4a004a00`)), "ERR_USP_RECORD_ONEOF", 7100);
  });

  it("rejects a known field with the wrong wire type", () => {
    // to_id (field 2) as a varint
    expectRecordError(
      () => decodeRecord(bin(`0a03312e341005${HEADER_HEX.slice(10)}4a00`)),
      "ERR_USP_RECORD_PARSE",
      7100,
    );
    // disconnect.reason_code as a varint instead of fixed32
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x62, "10c137")}`)),
      "ERR_USP_RECORD_PARSE",
      7100,
    );
  });

  it("rejects truncated input, a zero tag, groups and invalid UTF-8", () => {
    const full = bin(`${HEADER_HEX}4a00`);
    for (let n = 1; n < full.length - 2; n++) {
      expect(() => decodeRecord(full.subarray(0, n))).toThrow(RecordError);
    }
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}00`)), "ERR_USP_RECORD_PARSE", 7100);
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}4a00730474`)), "ERR_USP_RECORD_PARSE", 7100);
    expectRecordError(
      () => decodeRecord(bin(`${ld(0x0a, "ff")}${HEADER_HEX.slice(10)}4a00`)),
      "ERR_USP_RECORD_PARSE",
      7100,
    );
  });

  it("rejects a sub-message whose length runs past the Record", () => {
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}4a05`)), "ERR_USP_RECORD_PARSE", 7100);
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}3a03120901`)), "ERR_USP_RECORD_PARSE", 7100);
  });

  it("rejects Records larger than maxSize, and non-bytes input", () => {
    const bytes = bin(`${HEADER_HEX}4a00`);
    expectRecordError(() => decodeRecord(bytes, { maxSize: 39 }), "ERR_USP_RECORD_TOO_LARGE", 7100);
    expect(decodeRecord(bytes, { maxSize: 40 }).recordType?.$case).toBe("websocketConnect");
    expectRecordError(() => decodeRecord("4a00" as unknown as Uint8Array), "ERR_USP_RECORD_PARSE", 7100);
    expect(DEFAULT_MAX_RECORD_SIZE).toBe(8 * 1024 * 1024);
  });

  it("skips unknown fields (forward compatibility)", () => {
    const record = decodeRecord(bin(`${HEADER_HEX}4a00a20102abcdf00701`));
    expect(record.recordType?.$case).toBe("websocketConnect");
  });

  it("decodes NoSessionContext payload in field 1 as absent, which is then an empty payload (trap 18)", () => {
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x3a, ld(0x0a, "01"))}`)),
      "ERR_USP_RECORD_EMPTY_PAYLOAD",
      7104,
    );
  });
});

describe("value rules (7104)", () => {
  it("requires version, to_id, from_id and record_type (R-MTP.4b)", () => {
    const e1 = expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX.slice(10)}4a00`)),
      "ERR_USP_RECORD_MISSING_FIELD",
      7104,
    );
    expect(e1.field).toBe("version");
    expectRecordError(() => decodeRecord(bin(HEADER_HEX)), "ERR_USP_RECORD_MISSING_FIELD", 7104);
    const noTo = `0a03312e34${ld(0x1a, str("proto::agent"))}4a00`;
    expect(expectRecordError(() => decodeRecord(bin(noTo)), "ERR_USP_RECORD_MISSING_FIELD", 7104).field).toBe(
      "to_id",
    );
  });

  it("rejects unknown enum values (R-ENC.2)", () => {
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}20074a00`)), "ERR_USP_RECORD_UNKNOWN_ENUM", 7104);
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x52, `0802${ld(0x12, str("t"))}`)}`)),
      "ERR_USP_RECORD_UNKNOWN_ENUM",
      7104,
    );
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x5a, `0801${ld(0x12, str("/q"))}`)}`)),
      "ERR_USP_RECORD_UNKNOWN_ENUM",
      7104,
    );
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x42, "0802100118012804")}`)),
      "ERR_USP_RECORD_UNKNOWN_ENUM",
      7104,
    );
    // negative enum (10-byte varint)
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}20ffffffffffffffffff014a00`)),
      "ERR_USP_RECORD_UNKNOWN_ENUM",
      7104,
    );
  });

  it("requires a non-empty no_session_context payload (R-E2E.26)", () => {
    expectRecordError(() => decodeRecord(bin(`${HEADER_HEX}3a00`)), "ERR_USP_RECORD_EMPTY_PAYLOAD", 7104);
    expectRecordError(
      () => noSessionContextRecord({ ...addr, payload: new Uint8Array(0) }),
      "ERR_USP_RECORD_EMPTY_PAYLOAD",
      7104,
    );
  });

  it("requires non-zero session_id, sequence_id and expected_id", () => {
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x42, "10011801")}`)),
      "ERR_USP_RECORD_MISSING_FIELD",
      7104,
    );
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x42, "08021801")}`)),
      "ERR_USP_RECORD_MISSING_FIELD",
      7104,
    );
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x42, "08021001")}`)),
      "ERR_USP_RECORD_MISSING_FIELD",
      7104,
    );
  });

  it("requires payloadrec_sar_state NONE when payload_sar_state is NONE, and one PLAINTEXT payload", () => {
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x42, "0802100118013001")}`)),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}${ld(0x42, "080210011801" + ld(0x3a, "01") + ld(0x3a, "02"))}`)),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
    const tls = decodeRecord(
      bin(`${HEADER_HEX}2001${ld(0x42, "080210011801" + ld(0x3a, "01") + ld(0x3a, "02"))}`),
    );
    expect(tls.payloadSecurity).toBe(PayloadSecurity.TLS12);
  });

  it("rejects TLS12 without a Session Context (R-E2E.41)", () => {
    expectRecordError(
      () => decodeRecord(bin(`${HEADER_HEX}2001${ld(0x3a, ld(0x12, "01"))}`)),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
  });

  it("checks Endpoint ID syntax unless relaxed", () => {
    const bad = `0a03312e34${ld(0x12, str("controller"))}${ld(0x1a, str("proto::agent"))}4a00`;
    expectRecordError(() => decodeRecord(bin(bad)), "ERR_USP_RECORD_INVALID_ENDPOINT_ID", 7104);
    expect(decodeRecord(bin(bad), { validateEndpointIds: false }).toId).toBe("controller");
  });

  it("checks the version syntax Major.Minor", () => {
    expectRecordError(
      () => webSocketConnectRecord({ ...addr, version: "1" }),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
    expectRecordError(
      () => webSocketConnectRecord({ ...addr, version: "v1.4" }),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
    expect(webSocketConnectRecord({ ...addr, version: "1.0" }).version).toBe("1.0");
  });

  it("requires Connect Record fields and forbids MQTT wildcards", () => {
    expectRecordError(
      () => mqttConnectRecord({ ...addr, mqttVersion: "5", subscribedTopic: "" }),
      "ERR_USP_RECORD_MISSING_FIELD",
      7104,
    );
    expectRecordError(
      () => mqttConnectRecord({ ...addr, mqttVersion: "5", subscribedTopic: "a/#" }),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
    expectRecordError(
      () => mqttConnectRecord({ ...addr, mqttVersion: "4" as "5", subscribedTopic: "a" }),
      "ERR_USP_RECORD_UNKNOWN_ENUM",
      7104,
    );
    expectRecordError(
      () => stompConnectRecord({ ...addr, subscribedDestination: "" }),
      "ERR_USP_RECORD_MISSING_FIELD",
      7104,
    );
  });
});

describe("encodeRecord never emits an invalid Record", () => {
  const valid = () => webSocketConnectRecord(addr);

  it("rejects hand-made invalid objects with RecordError", () => {
    const cases: [string, (r: UspRecord) => unknown][] = [
      ["no record_type", (r) => ({ ...r, recordType: undefined })],
      ["bad enum", (r) => ({ ...r, payloadSecurity: 9 })],
      ["number as to_id", (r) => ({ ...r, toId: 5 })],
      ["string as mac", (r) => ({ ...r, macSignature: "ab" })],
      ["unknown case", (r) => ({ ...r, recordType: { $case: "bogus", value: {} } })],
      ["null value", (r) => ({ ...r, recordType: { $case: "disconnect", value: null } })],
      [
        "reason_code too big",
        (r) => ({ ...r, recordType: { $case: "disconnect", value: { reason: "", reasonCode: 2 ** 32 } } }),
      ],
    ];
    for (const [, mutate] of cases) {
      expect(() => encodeRecord(mutate(valid()) as UspRecord)).toThrow(RecordError);
    }
    expect(() => encodeRecord(null as unknown as UspRecord)).toThrow(RecordError);
  });

  it("rejects uint64 out of range and non-bigint ids", () => {
    const base = { ...addr, sessionId: 2n, sequenceId: 1n, expectedId: 1n, payload: [] };
    expect(() => sessionContextRecord({ ...base, sequenceId: 1n << 64n })).toThrow(RecordError);
    expect(() => sessionContextRecord({ ...base, sequenceId: -1n })).toThrow(RecordError);
    expect(() => sessionContextRecord({ ...base, sequenceId: 1 as unknown as bigint })).toThrow(RecordError);
    expect(sessionContextRecord({ ...base, sequenceId: (1n << 64n) - 1n }).recordType?.$case).toBe(
      "sessionContext",
    );
  });

  it("rejects strings that have no UTF-8 form (lone surrogates)", () => {
    expectRecordError(
      () => stompConnectRecord({ ...addr, subscribedDestination: "/queue/\ud800" }),
      "ERR_USP_RECORD_INVALID_VALUE",
      7104,
    );
    const unicode = stompConnectRecord({ ...addr, subscribedDestination: "/queue/é€😀" });
    expect(decodeRecord(encodeRecord(unicode))).toEqual(unicode);
  });

  it("enforces maxSize on encode", () => {
    const r = noSessionContextRecord({ ...addr, payload: new Uint8Array(1000) });
    expectRecordError(() => encodeRecord(r, { maxSize: 500 }), "ERR_USP_RECORD_TOO_LARGE", 7100);
    expect(encodeRecord(r).length).toBeGreaterThan(1000);
  });
});

describe("classification", () => {
  it("knows Connect and Disconnect Records", () => {
    expect(isConnectRecord(webSocketConnectRecord(addr))).toBe(true);
    expect(isConnectRecord(stompConnectRecord({ ...addr, subscribedDestination: "/q" }))).toBe(true);
    expect(isConnectRecord(noSessionContextRecord({ ...addr, payload: Uint8Array.of(1) }))).toBe(false);
    expect(isDisconnectRecord(decodeRecord(bin(`${HEADER_HEX}6200`)))).toBe(true);
  });
});
