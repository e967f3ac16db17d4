/** Golden vectors of usp.md §1.5 (protobufjs 8 from the official 1.4 files) and OB-USP-Agent captures. */
export const HEADER_HEX = "0a03312e34121170726f746f3a3a636f6e74726f6c6c65721a0c70726f746f3a3a6167656e74";

export const GET_MSG_HEX = "0a050a0131100112180a160a140a124465766963652e446576696365496e666f2e";
export const ERROR_MSG_HEX =
  "0a030a013112231a210dbc1b0000121a5265636f726420636f756c64206e6f7420626520706172736564";

export interface RecordVector {
  readonly name: string;
  readonly hex: string;
  readonly recordType: string;
}

export const RECORD_VECTORS: readonly RecordVector[] = [
  {
    name: "no_session_context (Get)",
    recordType: "noSessionContext",
    hex: `${HEADER_HEX}3a2312210a050a0131100112180a160a140a124465766963652e446576696365496e666f2e`,
  },
  { name: "websocket_connect", recordType: "websocketConnect", hex: `${HEADER_HEX}4a00` },
  {
    name: "mqtt_connect V5",
    recordType: "mqttConnect",
    hex: `${HEADER_HEX}521a080112167573702f6167656e742f70726f746f3a3a6167656e74`,
  },
  {
    name: "mqtt_connect V3_1_1",
    recordType: "mqttConnect",
    hex: `${HEADER_HEX}521812167573702f6167656e742f70726f746f3a3a6167656e74`,
  },
  {
    name: "stomp_connect",
    recordType: "stompConnect",
    hex: `${HEADER_HEX}5a10120e2f71756575652f6167656e742d31`,
  },
  {
    name: "disconnect 7105",
    recordType: "disconnect",
    hex: `${HEADER_HEX}62210a1a53657373696f6e20436f6e74657874207465726d696e6174656415c11b0000`,
  },
  { name: "uds_connect", recordType: "udsConnect", hex: `${HEADER_HEX}6a00` },
  {
    name: "session_context with Get",
    recordType: "sessionContext",
    hex: `${HEADER_HEX}42290802100118013a210a050a0131100112180a160a140a124465766963652e446576696365496e666f2e`,
  },
  { name: "session_context empty", recordType: "sessionContext", hex: `${HEADER_HEX}4206080210011801` },
  {
    name: "session_context near uint64 max",
    recordType: "sessionContext",
    hex: `${HEADER_HEX}4216080210f0b1ffffffffffffff011801280130013a0101`,
  },
];
