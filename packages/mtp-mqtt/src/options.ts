/**
 * Options of the MQTT MTP, named after the TR-181 parameters they stand for, and their
 * validation. Everything is checked once, up front, so a bad configuration fails `createMqttMtp`
 * with `ERR_MQTT_CONFIG` instead of failing later on the wire.
 */
import type { ExponentialRetryParameters, UspRole } from "@x/usp-record/mtp";
import { RETRY_DEFAULTS } from "@x/usp-record/mtp";
import { MqttMtpError } from "./errors.js";
import { topicFilterProblem, topicNameProblem } from "./topics.js";
import { type BrokerAddress, type MqttTlsOptions, parseBrokerUrl } from "./transport.js";

/** `Device.MQTT.Client.{i}.ProtocolVersion`. */
export type MqttVersion = "5" | "3.1.1";

/** A USP peer reachable over this MTP (`Device.LocalAgent.Controller.{i}.MTP.{j}.MQTT.Topic`). */
export interface MqttPeer {
  /** The peer's Endpoint ID. */
  readonly endpointId: string;
  /** The topic the peer is subscribed to (where we publish Records for it). */
  readonly topic: string;
  /**
   * The peer's MQTT version when it differs from ours: a 3.1.1 peer behind the same broker
   * cannot see the MQTT 5 Response Topic, so we also append `/reply-to=` for it. Learned
   * automatically from its MQTTConnectRecord or from a `/reply-to=` topic it published to.
   */
  readonly mqttVersion?: MqttVersion | undefined;
}

/** TR-181 `ConnectRetryTime` / `ConnectRetryIntervalMultiplier` / `ConnectRetryMaxInterval`. */
export interface MqttRetryOptions {
  /** T, seconds (default 5; fractions allowed for tests). */
  readonly connectRetryTime?: number | undefined;
  /** k, per mille (default 2000, 1000..65535). */
  readonly intervalMultiplier?: number | undefined;
  /** Clamp, seconds (default 30720). */
  readonly maxInterval?: number | undefined;
}

export interface MqttMtpOptions {
  /** Agent or Controller. Agents send the MQTTConnectRecord (R-MTP.6) and a DisconnectRecord on close. */
  readonly role: UspRole;
  /** Our USP Endpoint ID (`Device.LocalAgent.EndpointID`). */
  readonly endpointId: string;
  /** `mqtt://host:port` or `mqtts://host:port`. */
  readonly url: string;
  /** Default "5" (R-MQTT.1); "3.1.1" is optional in TR-369 (R-MQTT.2). */
  readonly mqttVersion?: MqttVersion | undefined;
  /**
   * `ClientID`. Default: empty on 5.0 (the broker assigns one, which we keep for every later
   * connection, R-MQTT.8/9/11), our Endpoint ID on 3.1.1.
   */
  readonly clientId?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | Uint8Array | undefined;
  /** `KeepAliveTime`, seconds (default 60; 0 disables). A CONNACK Server Keep Alive overrides it. */
  readonly keepAlive?: number | undefined;
  /** `CleanStart` / `CleanSession` (default true). */
  readonly cleanStart?: boolean | undefined;
  /** MQTT 5 Session Expiry Interval, seconds (default 0 with a clean start, else 3600). */
  readonly sessionExpiryInterval?: number | undefined;
  /** Configured Topic Filters (`Device.MQTT.Client.{i}.Subscription.{i}.Topic`). */
  readonly subscriptions?: readonly string[] | undefined;
  /**
   * Our reply-to topic when the broker sends no Response Information
   * (`Device.LocalAgent.MTP.{i}.MQTT.ResponseTopicConfigured`). On 3.1.1 we subscribe to
   * `<topic>/#` because 3.1.1 senders publish to `<topic>/reply-to=...`.
   */
  readonly responseTopic?: string | undefined;
  /** Peers with a configured topic (for an Agent: its Controllers). */
  readonly peers?: readonly MqttPeer[] | undefined;
  /** `PublishQoS` for Records and the QoS of our subscriptions (default 1), lowered to the CONNACK Maximum QoS. */
  readonly qos?: 0 | 1 | undefined;
  /** Publish with retain (`PublishRetainResponse` / `PublishRetainNotify`; default false), unless the broker says Retain Available = 0. */
  readonly retain?: boolean | undefined;
  /** MQTT 5 Request Response Information = 1 (R-MQTT.12; default true). */
  readonly requestResponseInformation?: boolean | undefined;
  /** Send an MQTTConnectRecord to every configured peer after subscribing (default: Agents only). */
  readonly sendConnectRecord?: boolean | undefined;
  /** Send a DisconnectRecord to known peers on `close()` (default: Agents only). */
  readonly sendDisconnectRecord?: boolean | undefined;
  /** TR-181 reconnect back-off. */
  readonly retry?: MqttRetryOptions | undefined;
  /** How long to wait for CONNACK, ms (default 30000). */
  readonly connectTimeoutMs?: number | undefined;
  /** TLS for `mqtts://`. */
  readonly tls?: MqttTlsOptions | undefined;
  /** Remember this many received Records to drop duplicates (default 4096; 0 disables). */
  readonly dedupWindow?: number | undefined;
  /** Largest Record accepted, bytes (default 16 MiB). */
  readonly maxRecordSize?: number | undefined;
  /** Random source in [0, 1) for the retry jitter (tests). */
  readonly random?: (() => number) | undefined;
}

/** The validated, defaulted form used internally. */
export interface ResolvedOptions {
  readonly role: UspRole;
  readonly endpointId: string;
  readonly address: BrokerAddress;
  readonly mqttVersion: MqttVersion;
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly keepAlive: number;
  readonly cleanStart: boolean;
  readonly sessionExpiryInterval: number;
  readonly subscriptions: readonly string[];
  readonly responseTopic: string | undefined;
  readonly peers: ReadonlyMap<string, MqttPeer>;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly requestResponseInformation: boolean;
  readonly sendConnectRecord: boolean;
  readonly sendDisconnectRecord: boolean;
  readonly retry: ExponentialRetryParameters;
  readonly connectTimeoutMs: number;
  readonly tls: MqttTlsOptions | undefined;
  readonly dedupWindow: number;
  readonly maxRecordSize: number;
  readonly random: () => number;
}

function configError(message: string, cause?: unknown): MqttMtpError {
  return new MqttMtpError("ERR_MQTT_CONFIG", message, cause === undefined ? undefined : { cause });
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw configError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function checkTopic(name: string, topic: string): string {
  const problem = topicNameProblem(topic);
  if (problem !== undefined) throw configError(`${name}: ${problem}`);
  if (topic.startsWith("$")) throw configError(`${name}: USP topics must not start with "$"`);
  return topic;
}

export function resolveOptions(options: MqttMtpOptions): ResolvedOptions {
  if (options.role !== "agent" && options.role !== "controller") {
    throw configError(`role must be "agent" or "controller", got ${String(options.role)}`);
  }
  if (typeof options.endpointId !== "string" || !/^[^:]*:[^:]*:.+$/.test(options.endpointId)) {
    throw configError(
      `endpointId "${String(options.endpointId)}" is not a USP Endpoint ID (scheme:authority:instance)`,
    );
  }
  let address: BrokerAddress;
  try {
    address = parseBrokerUrl(options.url);
  } catch (cause) {
    throw configError(cause instanceof Error ? cause.message : String(cause), cause);
  }
  const mqttVersion = options.mqttVersion ?? "5";
  if (mqttVersion !== "5" && mqttVersion !== "3.1.1") {
    throw configError(`mqttVersion must be "5" or "3.1.1", got ${String(mqttVersion)}`);
  }
  const cleanStart = options.cleanStart ?? true;
  const configuredId = options.clientId ?? "";
  const clientId = configuredId !== "" ? configuredId : mqttVersion === "5" ? "" : options.endpointId;
  const keepAlive = checkInteger("keepAlive", options.keepAlive ?? 60, 0, 65535);
  const sessionExpiryInterval = checkInteger(
    "sessionExpiryInterval",
    options.sessionExpiryInterval ?? (cleanStart ? 0 : 3600),
    0,
    0xffffffff,
  );
  const subscriptions = [...(options.subscriptions ?? [])];
  for (const filter of subscriptions) {
    const problem = topicFilterProblem(filter);
    if (problem !== undefined) throw configError(`subscriptions: ${problem}`);
  }
  const responseTopic =
    options.responseTopic === undefined || options.responseTopic === ""
      ? undefined
      : checkTopic("responseTopic", options.responseTopic);
  const peers = new Map<string, MqttPeer>();
  for (const peer of options.peers ?? []) {
    if (typeof peer.endpointId !== "string" || peer.endpointId === "")
      throw configError("peers: empty endpointId");
    checkTopic(`peers[${peer.endpointId}].topic`, peer.topic);
    if (peer.mqttVersion !== undefined && peer.mqttVersion !== "5" && peer.mqttVersion !== "3.1.1") {
      throw configError(`peers[${peer.endpointId}].mqttVersion must be "5" or "3.1.1"`);
    }
    peers.set(peer.endpointId, peer);
  }
  const qos = options.qos ?? 1;
  if (qos !== 0 && qos !== 1) throw configError(`qos must be 0 or 1 (TR-369 R-MQTT.20), got ${String(qos)}`);
  const retry = options.retry ?? {};
  const connectRetryTime = retry.connectRetryTime ?? RETRY_DEFAULTS.mqtt.minimumWaitInterval;
  if (!(Number.isFinite(connectRetryTime) && connectRetryTime > 0)) {
    throw configError(`retry.connectRetryTime must be > 0 seconds, got ${connectRetryTime}`);
  }
  const intervalMultiplier = checkInteger(
    "retry.intervalMultiplier",
    retry.intervalMultiplier ?? RETRY_DEFAULTS.mqtt.intervalMultiplier,
    1000,
    65535,
  );
  const maxInterval = retry.maxInterval ?? RETRY_DEFAULTS.mqtt.maxInterval;
  if (!(Number.isFinite(maxInterval) && maxInterval > 0)) {
    throw configError(`retry.maxInterval must be > 0 seconds, got ${maxInterval}`);
  }
  const connectTimeoutMs = checkInteger("connectTimeoutMs", options.connectTimeoutMs ?? 30_000, 1, 3_600_000);
  const dedupWindow = checkInteger("dedupWindow", options.dedupWindow ?? 4096, 0, 10_000_000);
  const maxRecordSize = checkInteger(
    "maxRecordSize",
    options.maxRecordSize ?? 16 * 1024 * 1024,
    1,
    268_435_455,
  );
  if (options.tls !== undefined && !address.secure) {
    throw configError(`tls options given but the broker URL "${options.url}" is not mqtts://`);
  }
  return {
    role: options.role,
    endpointId: options.endpointId,
    address,
    mqttVersion,
    clientId,
    username: options.username,
    password:
      options.password === undefined
        ? undefined
        : typeof options.password === "string"
          ? Buffer.from(options.password, "utf8")
          : Buffer.from(options.password),
    keepAlive,
    cleanStart,
    sessionExpiryInterval,
    subscriptions,
    responseTopic,
    peers,
    qos,
    retain: options.retain ?? false,
    requestResponseInformation: options.requestResponseInformation ?? true,
    sendConnectRecord: options.sendConnectRecord ?? options.role === "agent",
    sendDisconnectRecord: options.sendDisconnectRecord ?? options.role === "agent",
    retry: { minimumWaitInterval: connectRetryTime, intervalMultiplier, maxInterval },
    connectTimeoutMs,
    tls: options.tls,
    dedupWindow,
    maxRecordSize,
    random: options.random ?? Math.random,
  };
}
