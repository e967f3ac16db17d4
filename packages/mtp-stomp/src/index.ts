/**
 * `@x/mtp-stomp`: the USP (TR-369) STOMP Message Transfer Protocol, Agent and Controller roles,
 * over STOMP 1.2 on TCP or TLS. Connects with a `STOMP` frame carrying the escaped `endpoint-id`,
 * honours the broker's `subscribe-dest`, subscribes with `ack:auto`, sends Records with
 * `content-type:application/vnd.bbf.usp.msg`, `content-length` and `reply-to-dest`, negotiates and
 * enforces heart-beats, retries with the STOMP back-off (which starts at zero) and confirms every
 * SEND with a RECEIPT so a Record is never lost silently.
 *
 * @example
 * ```ts
 * import { createStompMtp } from "@x/mtp-stomp";
 * const agent = createStompMtp({
 *   role: "agent",
 *   endpointId: "proto::agent-1",
 *   broker: { host: "broker.example", port: 61614, tls: { ca }, login: "agent", passcode: "secret" },
 *   destination: "/queue/usp.agent-1",
 *   peers: [{ endpointId: "proto::controller", destination: "/queue/usp.controller" }],
 * });
 * agent.on("record", ({ record, replyTo }) => console.log(record.fromId, replyTo));
 * await agent.open(); // STOMP, SUBSCRIBE, STOMPConnectRecord to the Controller
 * ```
 * @packageDocumentation
 */
export {
  StompConnection,
  type StompConnectionEvents,
  type StompConnectionOptions,
  type StompTlsOptions,
} from "./connection.js";
export {
  MtpError,
  StompConnectError,
  type StompErrorCode,
  StompFrameError,
  StompHeartbeatError,
  StompNoDestinationError,
  StompOptionsError,
  StompServerError,
} from "./errors.js";
export {
  encodeFrame,
  encodeFrameHead,
  escapeHeader,
  frame,
  type HeaderInput,
  type StompFrame,
  unescapeHeader,
} from "./frame.js";
export {
  formatHeartbeat,
  type HeartbeatValues,
  type NegotiatedHeartbeat,
  negotiateHeartbeat,
  parseHeartbeat,
} from "./heartbeat.js";
export {
  createStompMtp,
  DEFAULT_STOMP_PORT,
  type StompBrokerOptions,
  StompMtp,
  type StompMtpOptions,
  type StompPeer,
  type StompSessionInfo,
  USP_CONTENT_TYPE,
} from "./mtp.js";
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEAD_BYTES,
  DEFAULT_MAX_HEADERS,
  decodeFrame,
  FrameParser,
  type FrameParserLimits,
} from "./parser.js";
