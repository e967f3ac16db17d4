/**
 * `@x/mtp-websocket`: the USP (TR-369) WebSocket Message Transfer Protocol for Node.js, Agent and
 * Controller, as client and as server, over ws:// and wss:// (with mTLS).
 *
 * It implements the shared `Mtp` contract of `@x/usp-record/mtp`: `open()`, `send(toId, record)`,
 * `close()`, and `record` / `state` / `peerConnected` / `peerDisconnected` / `error` events.
 * Handshake: subprotocol `v1.usp` both ways (R-WS.9 to R-WS.12a), `eid` query with the `%25` rule
 * (R-WS.10b/10c), the deprecated `bbf-usp-protocol` extension accepted both ways (and tolerated
 * when a server such as OB-USP-Agent sends it unasked). Sessions: binary frames only, fragmented
 * messages accepted, 1003 on frames without a Record (R-WS.16), at most one session per peer
 * (R-WS.4), Ping keep-alive (R-WS.17/18), R-WS.19 back-off with TR-181 defaults (sends to a
 * reconnecting peer wait for it, bounded), the WebSocketConnectRecord first (R-MTP.6/8) and a
 * DisconnectRecord on close (R-MTP.7).
 *
 * @example
 * ```ts
 * import { createWebSocketMtp } from "@x/mtp-websocket";
 * const controller = createWebSocketMtp({ role: "controller", endpointId: "self::ctrl", listen: { port: 0 } });
 * await controller.open();
 * controller.on("record", ({ record, fromId, replyTo }) => console.log(fromId, record.recordType?.$case));
 * const agent = createWebSocketMtp({
 *   role: "agent", endpointId: "os::012345-0001",
 *   peers: [{ url: controller.url!, endpointId: "self::ctrl" }],
 * });
 * await agent.open(); // the Controller now receives the WebSocketConnectRecord
 * ```
 * @packageDocumentation
 */

export { type Tr369PeerContext, tr369VerifyPeer } from "./cert.js";
export {
  eidFromRequestTarget,
  encodeEidQueryValue,
  endpointIdsFromSubjectAltName,
  formatUspExtension,
  type ParsedExtensions,
  parseExtensions,
  USP_EXTENSION,
  withEidQuery,
} from "./eid.js";
export { WebSocketMtpConfigError, WebSocketMtpError, type WebSocketMtpErrorCode } from "./errors.js";
export { recordToJson } from "./json.js";
export {
  createWebSocketMtp,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_RECORD_SIZE,
  DEFAULT_SEND_TIMEOUT_MS,
  USP_SUBPROTOCOL,
  WebSocketMtp,
} from "./mtp.js";
export type {
  ClientTlsOptions,
  KeepAliveOptions,
  ServerTlsOptions,
  TlsPeer,
  VerifyPeer,
  WebSocketListenOptions,
  WebSocketMtpOptions,
  WebSocketPeerOptions,
} from "./options.js";
export { RetryBackoff, realScheduler, type Scheduler, type TimerHandle } from "./scheduler.js";
