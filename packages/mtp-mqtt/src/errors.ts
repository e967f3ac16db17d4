/**
 * Errors of the MQTT binding. Every one is an {@link MtpError} (shared with the other MTPs)
 * with a stable string `code`; `protocolCode` carries the MQTT reason code where one exists.
 */
import { MtpError } from "@x/usp-record/mtp";

export type MqttMtpErrorCode =
  /** Invalid options (bad URL, topic, QoS, Endpoint ID...). */
  | "ERR_MQTT_CONFIG"
  /** The broker refused the CONNECT (CONNACK reason/return code in `protocolCode`). */
  | "ERR_MQTT_CONNECT_REFUSED"
  /** TCP/TLS failure or no CONNACK before the timeout. */
  | "ERR_MQTT_CONNECT_FAILED"
  /** R-MQTT.16: neither a configured Topic Filter nor a `subscribe-topic`: the MTP is disabled. */
  | "ERR_MQTT_NO_SUBSCRIPTION"
  /** R-MQTT.17: every SUBSCRIBE failed (SUBACK codes in the message); we disconnect and retry. */
  | "ERR_MQTT_SUBSCRIBE_FAILED"
  /** The broker refused an UNSUBSCRIBE (UNSUBACK reason code in `protocolCode`). */
  | "ERR_MQTT_UNSUBSCRIBE_FAILED"
  /** The server sent DISCONNECT (reason code in `protocolCode`). */
  | "ERR_MQTT_SERVER_DISCONNECT"
  /** The connection to the broker dropped. */
  | "ERR_MQTT_CONNECTION_LOST"
  /** A PUBLISH with a Content Type other than `usp.msg` / `application/vnd.bbf.usp.msg` (R-MQTT.27a). */
  | "ERR_MQTT_CONTENT_TYPE"
  /** We have no reply-to topic to put in a PUBLISH (R-MQTT.22). */
  | "ERR_MQTT_NO_REPLY_TOPIC"
  /** The broker rejected a PUBLISH (PUBACK reason code in `protocolCode`). */
  | "ERR_MQTT_PUBLISH_REJECTED"
  /** A received Record was larger than `maxRecordSize`. */
  | "ERR_MQTT_RECORD_TOO_LARGE"
  /** The TLS handshake or the peer-certificate policy failed. */
  | "ERR_MQTT_TLS";

/** An error raised by `@x/mtp-mqtt`. */
export class MqttMtpError extends MtpError {
  override readonly name: string = "MqttMtpError";
  declare readonly code: MqttMtpErrorCode;

  constructor(code: MqttMtpErrorCode, message: string, options?: { cause?: unknown; protocolCode?: number }) {
    super(code, message, options);
  }
}

/** True when `err` is an {@link MqttMtpError} with one of `codes` (or any code when none is given). */
export function isMqttMtpError(err: unknown, ...codes: MqttMtpErrorCode[]): err is MqttMtpError {
  return err instanceof MqttMtpError && (codes.length === 0 || codes.includes(err.code));
}
