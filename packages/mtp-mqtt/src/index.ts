/**
 * `@x/mtp-mqtt`: the USP (TR-369) MQTT Message Transfer Protocol binding, MQTT 5.0 and 3.1.1,
 * for Agents and Controllers, on the `mqtt` client.
 *
 * ```ts
 * import { createMqttMtp } from "@x/mtp-mqtt";
 * const agent = createMqttMtp({
 *   role: "agent",
 *   endpointId: "proto::agent",
 *   url: "mqtt://127.0.0.1:1883",
 *   responseTopic: "usp/agent/proto::agent",
 *   peers: [{ endpointId: "proto::controller", topic: "usp/controller/proto::controller" }],
 * });
 * agent.on("record", ({ record, replyTo }) => console.log(record.fromId, replyTo));
 * await agent.open(); // CONNECT, SUBSCRIBE, then the MQTTConnectRecord to each Controller
 * ```
 *
 * @packageDocumentation
 */

export { type EmbeddedBroker, type EmbeddedBrokerOptions, startEmbeddedBroker } from "./embedded-broker.js";
export { isMqttMtpError, MqttMtpError, type MqttMtpErrorCode } from "./errors.js";
export {
  ACCEPTED_CONTENT_TYPES,
  createMqttMtp,
  ENDPOINT_ID_PROPERTY,
  MqttMtp,
  type MqttMtpEvents,
  type MqttRetryInfo,
  type MqttReturnPath,
  type MqttSessionInfo,
  SUBSCRIBE_TOPIC_PROPERTY,
  USP_CONTENT_TYPE,
} from "./mqtt-mtp.js";
export type { MqttMtpOptions, MqttPeer, MqttRetryOptions, MqttVersion } from "./options.js";
export {
  appendReplyTo,
  filterCovers,
  REPLY_TO_MARKER,
  splitReplyTo,
  topicMatches,
} from "./topics.js";
export type { MqttTlsOptions } from "./transport.js";
