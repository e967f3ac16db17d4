/**
 * `@x/mtp-compliance`: the compliance suite every USP MTP binding in this repository runs
 * (`@x/mtp-websocket`, `@x/mtp-mqtt`, `@x/mtp-stomp`), one suite, many transports.
 *
 * ## Factory contract
 *
 * ```ts
 * import { mtpComplianceSuite } from "@x/mtp-compliance";
 * mtpComplianceSuite("websocket: agent client -> controller server", async ({ retry, index }) => {
 *   const controller = createMyMtp({ role: "controller", endpointId: `proto::ctrl-${index}`, listen: ... });
 *   const agent = createMyMtp({ role: "agent", endpointId: `proto::agent-${index}`, retry: retry.exponential, ... });
 *   return {
 *     agent: { mtp: agent, endpointId: agent.localEndpointId },
 *     controller: { mtp: controller, endpointId: controller.localEndpointId },
 *     openOrder: ["controller", "agent"],          // the listening / subscribing side first
 *     async restartPeer() { ... },                  // abruptly stop + restart the server/broker side
 *     async teardown() { ... },                     // stop whatever the factory started
 *   };
 * }, { malformedClosesConnection: true });
 * ```
 *
 * 1. The factory is called once per case (`beforeEach`-like, inside the case). It returns two MTPs
 *    that are NOT opened: the suite attaches its listeners, then calls `open()` in `openOrder`
 *    (default controller first), so it sees the very first Record.
 * 2. The pair is ready when the Controller has received the Agent's Connect Record (R-MTP.6). The
 *    Agent must know how to reach the Controller from its configuration; the Controller must be
 *    able to answer the Agent once that Connect Record arrived (learned route or configuration).
 * 3. `send(toId, record, peer.sendOptions)` addresses the other side by its Endpoint ID; put
 *    binding-specific routing (topic, destination) into `sendOptions` or into the MTP's configuration.
 * 4. `Uint8Array` Records are sent as given, unvalidated (the suite injects malformed bytes that way),
 *    unless the factory supplies `sendRaw(to, bytes)`.
 * 5. Inject `context.retry` (seconds, TR-181 style: `exponential` for WebSocket/MQTT, `stomp` for
 *    STOMP) into the reconnecting side so the restart case finishes in seconds.
 * 6. `restartPeer()` stops the server (WebSocket listener) or broker abruptly and starts it again on
 *    the same address. `pair.agent` / `pair.controller` may be getters returning new objects afterwards.
 * 7. After each case the suite detaches, calls `close({ abrupt: true })` on both MTPs (errors
 *    ignored), then `teardown()`. Start long-lived shared peers (brokers) in your own `beforeAll`,
 *    not lazily inside the factory, or the leak case will count them.
 * 8. Expected behaviour: received Records are emitted as `record` events (Connect and Disconnect
 *    Records included) with `replyTo` set; Records whose `to_id` is not ours are not emitted;
 *    unparseable bytes produce an `error` event with code `ERR_MTP_MALFORMED_RECORD`; a decodable
 *    but invalid Record carrying a Request is answered with an Error Record (R-MTP.5,
 *    `errorRecordFor` of `@x/usp-record`); the Agent's `close()` sends a DisconnectRecord with the
 *    given `reason` / `reasonCode`, ends in state `closed`, is idempotent, and `send()` afterwards
 *    rejects with `ERR_MTP_CLOSED` or `ERR_MTP_NOT_OPEN`.
 *
 * The helpers below (wire builders, event recorder, resource counters) are exported for
 * binding-specific tests.
 *
 * @packageDocumentation
 */

export { MtpRecorder } from "./recorder.js";
export {
  activeResourceCounts,
  LEAK_TYPES,
  type LeakedResource,
  type ResourceCounts,
  type ResourceTracker,
  resourceGrowth,
  settleResources,
  TRACKED_ASYNC_TYPES,
  trackResources,
} from "./resources.js";
export {
  type ComplianceCase,
  type ComplianceOptions,
  type CompliancePeer,
  complianceCases,
  type MtpPair,
  type MtpPairFactory,
  mtpComplianceSuite,
  type PairContext,
  type Side,
  type UspRecordObject,
} from "./suite.js";
export {
  bytesEqual,
  disconnectRecordBytes,
  getRequestMsg,
  type MsgSummary,
  noSessionContextPayload,
  noSessionContextRecordBytes,
  outOfRangeEnumRecordBytes,
  payloadSequence,
  readFields,
  recordOfSize,
  sequencedPayload,
  summarizeMsg,
} from "./wire.js";
