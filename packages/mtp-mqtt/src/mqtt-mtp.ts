/**
 * The USP MQTT MTP (TR-369 "MQTT Binding") on top of the `mqtt` client. The `mqtt` package
 * does the MQTT protocol (packets, QoS 1 state, keep-alive including the CONNACK Server Keep
 * Alive); this class adds what USP asks for on top: CONNECT properties, the subscription rules,
 * reply-to topics, content types, Connect/Disconnect Records, the TR-181 reconnect back-off and
 * receive-side de-duplication.
 */
import { EventEmitter } from "node:events";
import {
  decodeRecord,
  disconnectRecord,
  encodeRecord,
  errorRecordFor,
  mqttConnectRecord,
  type UspRecord,
} from "@x/usp-record";
import {
  type CloseOptions,
  exponentialRetryDelayMs,
  type Mtp,
  MtpError,
  type MtpEvents,
  type MtpState,
  type PeerInfo,
  type ReturnPath,
  type SendOptions,
  type UspRole,
} from "@x/usp-record/mtp";
import {
  type IClientOptions,
  type IClientPublishOptions,
  type IConnackPacket,
  type IPublishPacket,
  MqttClient,
  Store,
} from "mqtt";
import mqttPacket from "mqtt-packet";
import { RecordDeduplicator } from "./dedup.js";
import { MqttMtpError } from "./errors.js";
import {
  type MqttMtpOptions,
  type MqttPeer,
  type MqttVersion,
  type ResolvedOptions,
  resolveOptions,
} from "./options.js";
import {
  appendReplyTo,
  filterCovers,
  hasWildcard,
  splitReplyTo,
  topicFilterProblem,
  topicNameProblem,
} from "./topics.js";
import { createStreamBuilder } from "./transport.js";

/** Content Type we send (R-MQTT.27). */
export const USP_CONTENT_TYPE = "usp.msg";
/** Content Types we accept (R-MQTT.27a, plus the 1.1.2 variant `application/vnd.usp.msg`). */
export const ACCEPTED_CONTENT_TYPES: ReadonlySet<string> = new Set([
  "usp.msg",
  "application/vnd.bbf.usp.msg",
  "application/vnd.usp.msg",
]);
/** CONNACK User Property naming a topic to subscribe to (R-MQTT.15). */
export const SUBSCRIBE_TOPIC_PROPERTY = "subscribe-topic";
/** CONNECT/SUBSCRIBE User Property carrying our Endpoint ID (R-MQTT.13). */
export const ENDPOINT_ID_PROPERTY = "usp-endpoint-id";

/** The MQTT flavour of {@link ReturnPath}. */
export interface MqttReturnPath {
  readonly mtp: "mqtt";
  readonly topic: string;
  /** Set when we know the peer's MQTT version (3.1.1 peers need `/reply-to=` in the topic). */
  readonly mqttVersion?: MqttVersion | undefined;
}

/** What the broker told us in CONNACK, plus what we derived from it. */
export interface MqttSessionInfo {
  readonly clientId: string;
  readonly assignedClientIdentifier: string | undefined;
  readonly sessionPresent: boolean;
  readonly responseInformation: string | undefined;
  readonly subscribeTopics: readonly string[];
  readonly serverKeepAlive: number | undefined;
  /** The keep-alive in force (Server Keep Alive when given, else ours). */
  readonly keepAlive: number;
  readonly maximumQoS: number;
  readonly retainAvailable: boolean;
  /** QoS we publish with: min(configured, Maximum QoS). */
  readonly publishQos: 0 | 1;
  /** Our reply-to topic for this connection (Response Information, else the configured one). */
  readonly replyTopic: string | undefined;
  /** Topic Filters the broker accepted. */
  readonly subscribed: readonly string[];
  /** The non-wildcard topic announced in our MQTTConnectRecord. */
  readonly connectRecordTopic: string | undefined;
}

export interface MqttRetryInfo {
  readonly attempt: number;
  readonly delayMs: number;
  readonly cause: MtpError;
}

/** Events of the MQTT MTP: the common {@link MtpEvents} plus MQTT details. */
export interface MqttMtpEvents extends MtpEvents {
  /** Connected, subscribed and (Agent) Connect Records sent. */
  session: [info: MqttSessionInfo];
  /** A reconnect is scheduled per the TR-181 back-off. */
  retry: [info: MqttRetryInfo];
  /** A connection attempt starts (0 = the first one from `open()`, then the retry number). */
  attempt: [attempt: number];
  /** A Record identical to a recent one was dropped. */
  duplicate: [bytes: Uint8Array];
  /** `subscribe()` or `unsubscribe()` changed the Topic Filters the broker holds for us. */
  subscriptions: [subscribed: readonly string[]];
}

interface Route {
  readonly topic: string;
  readonly mqttVersion: MqttVersion | undefined;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

const BROKER_PEER: PeerInfo = { endpointId: undefined, returnPath: undefined };

function asMtpError(err: unknown, fallback: MqttMtpError): MtpError {
  return err instanceof MtpError ? err : fallback;
}

/** Stands in for mqtt.js's debug logger while its namespace is disabled. */
function noLog(): void {}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function userPropertyValues(props: Record<string, string | string[]> | undefined, name: string): string[] {
  const value = props?.[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * A USP MQTT MTP endpoint (Agent or Controller). Create it with {@link createMqttMtp}.
 */
export class MqttMtp extends EventEmitter<MqttMtpEvents> implements Mtp {
  readonly kind = "mqtt" as const;
  readonly role: UspRole;
  readonly localEndpointId: string;

  readonly #options: ResolvedOptions;
  readonly #dedup: RecordDeduplicator;
  readonly #incomingStore = new Store();
  readonly #outgoingStore = new Store();
  readonly #learned = new Map<string, Route>();
  #state: MtpState = "idle";
  #client: MqttClient | undefined;
  #clientId: string;
  #session: MqttSessionInfo | undefined;
  /** Bumped on every new network connection, so async CONNACK work can tell it is stale. */
  #generation = 0;
  #ready = false;
  #readyWaiters: Waiter[] = [];
  #openWaiter: Waiter | undefined;
  #openPromise: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #lastError: MtpError | undefined;
  #duplicates = 0;
  #disabledBy: MqttMtpError | undefined;
  #lastGoodReplyTopic: string | undefined;
  #publishOptions: { readonly session: MqttSessionInfo; readonly options: IClientPublishOptions } | undefined;
  #lastReplyToTopic:
    | { readonly topic: string; readonly replyTopic: string; readonly result: string }
    | undefined;
  /** Our own Topic Filters: the configured ones, as changed by subscribe()/unsubscribe(). */
  #subscriptions: string[];

  constructor(options: MqttMtpOptions) {
    super();
    this.#options = resolveOptions(options);
    this.#subscriptions = [...this.#options.subscriptions];
    this.role = this.#options.role;
    this.localEndpointId = this.#options.endpointId;
    this.#clientId = this.#options.clientId;
    this.#dedup = new RecordDeduplicator(this.#options.dedupWindow);
  }

  override on<E extends keyof MqttMtpEvents>(event: E, listener: (...args: MqttMtpEvents[E]) => void): this {
    return super.on(event, listener as never);
  }

  override once<E extends keyof MqttMtpEvents>(
    event: E,
    listener: (...args: MqttMtpEvents[E]) => void,
  ): this {
    return super.once(event, listener as never);
  }

  override off<E extends keyof MqttMtpEvents>(event: E, listener: (...args: MqttMtpEvents[E]) => void): this {
    return super.off(event, listener as never);
  }

  get state(): MtpState {
    return this.#state;
  }

  /** MQTT version in use. */
  get mqttVersion(): MqttVersion {
    return this.#options.mqttVersion;
  }

  /**
   * The ClientID used for the next connection: the configured one, else the broker's Assigned
   * Client Identifier once received (R-MQTT.9/11). Persist it to keep it across restarts.
   */
  get clientId(): string {
    return this.#clientId;
  }

  /** The current broker session (undefined while not connected). */
  get session(): MqttSessionInfo | undefined {
    return this.#session;
  }

  /** Our current reply-to topic (Response Information, else the configured `responseTopic`). */
  get replyTopic(): string | undefined {
    return this.#session?.replyTopic ?? this.#options.responseTopic;
  }

  /** Number of duplicate Records dropped so far. */
  get duplicatesDropped(): number {
    return this.#duplicates;
  }

  /** Where Records for `endpointId` would go (configured peer first, then learned), if known. */
  routeTo(endpointId: string): MqttReturnPath | undefined {
    const route = this.#route(endpointId);
    return route === undefined
      ? undefined
      : { mtp: "mqtt", topic: route.topic, mqttVersion: route.mqttVersion };
  }

  open(options?: { signal?: AbortSignal }): Promise<void> {
    if (this.#state === "closed" || this.#state === "closing") {
      return Promise.reject(new MqttMtpError("ERR_MQTT_CONNECT_FAILED", "the MTP is closed"));
    }
    if (this.#openPromise !== undefined) return this.#openPromise;
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    this.#openPromise = new Promise<void>((resolve, reject) => {
      this.#openWaiter = { resolve, reject };
    });
    // never an unhandled rejection if the caller drops the promise
    this.#openPromise.catch(() => {});
    const signal = options?.signal;
    if (signal !== undefined) {
      const onAbort = (): void => {
        if (this.#openWaiter !== undefined) {
          this.#openWaiter.reject(signal.reason);
          this.#openWaiter = undefined;
          void this.close({ abrupt: true });
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      void this.#openPromise.finally(() => signal.removeEventListener("abort", onAbort)).catch(() => {});
    }
    this.#setState("connecting");
    this.#client = this.#createClient();
    this.emit("attempt", 0);
    this.#client.connect();
    return this.#openPromise;
  }

  send(toId: string, record: Uint8Array | UspRecord, options?: SendOptions): Promise<void> {
    // not `async`: on the hot path (open, no signal) the PUBLISH promise is returned as it is,
    // without the extra promise and microtask hops of an async function; failures still reject
    try {
      if (this.#state === "closed" || this.#state === "closing") {
        throw new MtpError("ERR_MTP_CLOSED", "the MQTT MTP is closed");
      }
      if (this.#state === "idle") throw new MtpError("ERR_MTP_NOT_OPEN", "call open() before send()");
      const bytes = record instanceof Uint8Array ? record : encodeRecord(record);
      const route = this.#routeFor(toId, options?.replyTo);
      const signal = options?.signal;
      signal?.throwIfAborted();
      if (this.#ready) return this.#publish(route, bytes);
      return this.#whenReady(signal).then(() => this.#publish(route, bytes));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Our own Topic Filters (configured, then changed by subscribe()/unsubscribe()), used on every connection. */
  get subscriptions(): readonly string[] {
    return [...this.#subscriptions];
  }

  /**
   * Adds a Topic Filter while running (TP-469 11.9: a new Subscription is subscribed at once) and
   * keeps it for every later connection. While connected, resolves when the SUBACK grants it;
   * otherwise at once, and the next connection subscribes to it. On 5.0 the SUBSCRIBE carries our
   * `usp-endpoint-id` User Property, as the one sent after CONNACK does.
   * @throws {MqttMtpError} ERR_MQTT_CONFIG for an invalid filter; ERR_MQTT_SUBSCRIBE_FAILED when
   *   the broker refuses it (reason code in `protocolCode`; the filter is dropped again).
   */
  async subscribe(filter: string): Promise<void> {
    this.#assertNotClosed();
    const problem = topicFilterProblem(filter);
    if (problem !== undefined) throw new MqttMtpError("ERR_MQTT_CONFIG", `subscribe: ${problem}`);
    if (!this.#subscriptions.includes(filter)) this.#subscriptions.push(filter);
    const client = this.#client;
    const session = this.#session;
    if (!this.#ready || client === undefined || session === undefined || session.subscribed.includes(filter))
      return;
    const generation = this.#generation;
    const code = await this.#untilConnectionChanges(
      generation,
      new Promise<number>((resolve, reject) => {
        client.subscribe(
          { [filter]: { qos: this.#options.qos } },
          this.#endpointIdProperties(),
          (err, _grants, suback) => {
            const codes = (suback as { granted?: number[] } | undefined)?.granted;
            if (Array.isArray(codes) && codes.length === 1) resolve(codes[0] ?? 0x80);
            else reject(err ?? new MqttMtpError("ERR_MQTT_SUBSCRIBE_FAILED", "SUBACK does not match"));
          },
        );
      }),
    );
    // A new connection since: its CONNACK handling subscribed to the whole list, this filter included.
    if (code === undefined || generation !== this.#generation) return;
    if (code >= 0x80) {
      this.#subscriptions = this.#subscriptions.filter((f) => f !== filter);
      throw new MqttMtpError(
        "ERR_MQTT_SUBSCRIBE_FAILED",
        `the broker refused ${filter} (0x${code.toString(16)})`,
        { protocolCode: code },
      );
    }
    this.#updateSubscribed((subscribed) =>
      subscribed.includes(filter) ? subscribed : [...subscribed, filter],
    );
  }

  /**
   * R-MQTT.34: UNSUBSCRIBEs a Topic Filter no longer wanted while staying connected, and drops it
   * from later connections. A filter the broker asked for (`subscribe-topic`, Response
   * Information) comes back with the next CONNACK. Unknown filters are ignored.
   * @throws {MqttMtpError} ERR_MQTT_CONFIG when the filter carries our reply topic (peers announced
   *   to could no longer answer); ERR_MQTT_NO_SUBSCRIPTION when it is the last one (R-MQTT.16:
   *   an MTP with no subscription is disabled; close it instead).
   */
  async unsubscribe(filter: string): Promise<void> {
    this.#assertNotClosed();
    const session = this.#ready ? this.#session : undefined;
    const active = session?.subscribed.includes(filter) === true;
    if (!active && !this.#subscriptions.includes(filter)) return;
    if (active && session !== undefined) {
      const reply = session.replyTopic;
      if (reply !== undefined && (filterCovers(filter, reply) || filter === `${reply}/#`)) {
        throw new MqttMtpError(
          "ERR_MQTT_CONFIG",
          `unsubscribe: ${filter} carries our reply topic ${reply}; peers could no longer answer`,
        );
      }
      if (session.subscribed.length === 1) {
        throw new MqttMtpError(
          "ERR_MQTT_NO_SUBSCRIPTION",
          `unsubscribe: ${filter} is the last subscription; close the MTP instead (R-MQTT.16)`,
        );
      }
    }
    this.#subscriptions = this.#subscriptions.filter((f) => f !== filter);
    const client = this.#client;
    if (!active || client === undefined) return;
    const generation = this.#generation;
    const code = await this.#untilConnectionChanges(
      generation,
      new Promise<number>((resolve, reject) => {
        client.unsubscribe(filter, this.#endpointIdProperties(), (err, unsuback) => {
          if (err) return reject(err);
          // 5.0 UNSUBACK reason codes (mqtt.js does not judge them); 3.1.1 has none: success.
          resolve((unsuback as { granted?: number[] } | undefined)?.granted?.[0] ?? 0);
        });
      }),
    );
    if (code === undefined || generation !== this.#generation) return;
    // 0x11 "No subscription existed" is below 0x80: the filter is gone either way.
    if (code >= 0x80) {
      throw new MqttMtpError(
        "ERR_MQTT_UNSUBSCRIBE_FAILED",
        `the broker refused to unsubscribe ${filter} (0x${code.toString(16)}); it is no longer used after the next connection`,
        { protocolCode: code },
      );
    }
    this.#updateSubscribed((subscribed) => subscribed.filter((f) => f !== filter));
  }

  #assertNotClosed(): void {
    if (this.#state === "closed" || this.#state === "closing")
      throw new MtpError("ERR_MTP_CLOSED", "the MQTT MTP is closed");
  }

  /** R-MQTT.13 as obuspa applies it: our Endpoint ID on SUBSCRIBE and UNSUBSCRIBE too (5.0 only). */
  #endpointIdProperties(): { properties?: { userProperties: Record<string, string> } } {
    return this.#options.mqttVersion === "5"
      ? { properties: { userProperties: { [ENDPOINT_ID_PROPERTY]: this.#options.endpointId } } }
      : {};
  }

  /**
   * Settles with `work`, or with undefined as soon as the connection it was sent on is gone: an
   * acknowledgement that never comes must not hang the caller, and the next connection applies the
   * current subscription list anyway.
   */
  #untilConnectionChanges<T>(generation: number, work: Promise<T>): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      const onState = (): void => {
        if (generation !== this.#generation || this.#state !== "open") finish(() => resolve(undefined));
      };
      const finish = (settle: () => void): void => {
        this.off("state", onState);
        settle();
      };
      this.on("state", onState);
      work.then(
        (value) => finish(() => resolve(value)),
        (err: unknown) =>
          finish(() =>
            generation !== this.#generation || this.#state !== "open"
              ? resolve(undefined)
              : reject(
                  asMtpError(
                    err,
                    new MqttMtpError(
                      "ERR_MQTT_SUBSCRIBE_FAILED",
                      `SUBSCRIBE or UNSUBSCRIBE failed: ${String(err)}`,
                      {
                        cause: err,
                      },
                    ),
                  ),
                ),
          ),
      );
    });
  }

  #updateSubscribed(change: (subscribed: readonly string[]) => readonly string[]): void {
    const session = this.#session;
    if (session === undefined) return;
    this.#session = { ...session, subscribed: change(session.subscribed) };
    this.emit("subscriptions", this.#session.subscribed);
  }

  /** Skip the remaining back-off and reconnect now (e.g. on a network change). */
  reconnectNow(): void {
    if (this.#state !== "reconnecting" || this.#retryTimer === undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#attempt = 0;
    this.#reconnect();
  }

  close(options?: CloseOptions): Promise<void> {
    if (this.#closePromise !== undefined) return this.#closePromise;
    this.#closePromise = this.#doClose(options ?? {});
    return this.#closePromise;
  }

  // ---------------------------------------------------------------- connection

  #createClient(): MqttClient {
    const o = this.#options;
    const v5 = o.mqttVersion === "5";
    const clientOptions: IClientOptions = {
      protocolVersion: v5 ? 5 : 4,
      clientId: this.#clientId,
      clean: o.cleanStart,
      keepalive: o.keepAlive,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      manualConnect: true,
      resubscribe: false,
      queueQoSZero: false,
      incomingStore: this.#incomingStore,
      outgoingStore: this.#outgoingStore,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(v5
        ? {
            properties: {
              ...(o.requestResponseInformation ? { requestResponseInformation: true } : {}),
              ...(o.sessionExpiryInterval > 0 ? { sessionExpiryInterval: o.sessionExpiryInterval } : {}),
              // the broker must not send us packets larger than a Record we accept (plus headers)
              maximumPacketSize: Math.min(268_435_455, o.maxRecordSize + 70_000),
              userProperties: { [ENDPOINT_ID_PROPERTY]: o.endpointId },
            },
          }
        : {}),
    };
    const client = new MqttClient(createStreamBuilder(o.address, o.tls), clientOptions);
    // mqtt.js formats ~10 `debug` calls per PUBLISH even when its `mqttjs:client` namespace is
    // off; skip them then (DEBUG=mqttjs* set before the MTP is created still gets every line)
    if (!(client.log as { enabled?: unknown }).enabled) client.log = noLog;
    client.on("connect", (connack) => {
      this.#onConnack(client, connack);
    });
    client.on("message", (topic, payload, packet) => {
      this.#onMessage(topic, payload, packet);
    });
    client.on("error", (err) => {
      this.#lastError ??= this.#classifyError(err);
    });
    client.on("disconnect", (packet) => {
      const code = packet.reasonCode ?? 0;
      this.#lastError = new MqttMtpError(
        "ERR_MQTT_SERVER_DISCONNECT",
        `the broker sent DISCONNECT (reason code 0x${code.toString(16)})`,
        { protocolCode: code },
      );
      // the server must close the connection after DISCONNECT; do not wait for it
      client.stream?.destroy();
    });
    client.on("close", () => {
      this.#onClose();
    });
    if (o.tls?.insecureSkipVerify === true) {
      this.#emitError(
        new MqttMtpError("ERR_MQTT_TLS", "TLS certificate verification is disabled (tls.insecureSkipVerify)"),
      );
    }
    return client;
  }

  #classifyError(err: Error & { code?: unknown }): MtpError {
    if (err instanceof MtpError) return err;
    if (typeof err.code === "number") {
      if (/Connection refused/i.test(err.message)) {
        return new MqttMtpError(
          "ERR_MQTT_CONNECT_REFUSED",
          `the broker refused the connection: ${err.message}`,
          {
            cause: err,
            protocolCode: err.code,
          },
        );
      }
      return new MqttMtpError("ERR_MQTT_CONNECTION_LOST", err.message, {
        cause: err,
        protocolCode: err.code,
      });
    }
    const code = typeof err.code === "string" ? err.code : "";
    if (
      code.startsWith("ERR_TLS") ||
      code.startsWith("ERR_SSL") ||
      /certificate|self.signed|altname/i.test(err.message) ||
      code.includes("CERT")
    ) {
      return new MqttMtpError("ERR_MQTT_TLS", `TLS to the broker failed: ${err.message}`, { cause: err });
    }
    if (this.#ready) {
      return new MqttMtpError("ERR_MQTT_CONNECTION_LOST", `connection to the broker lost: ${err.message}`, {
        cause: err,
      });
    }
    return new MqttMtpError("ERR_MQTT_CONNECT_FAILED", `connection to the broker failed: ${err.message}`, {
      cause: err,
    });
  }

  #onConnack(client: MqttClient, connack: IConnackPacket): void {
    const generation = ++this.#generation;
    this.#lastError = undefined;
    this.#handleConnack(client, connack, generation).catch((err: unknown) => {
      if (generation !== this.#generation) return;
      this.#lastError = asMtpError(
        err,
        new MqttMtpError("ERR_MQTT_CONNECT_FAILED", `session setup failed: ${String(err)}`, { cause: err }),
      );
      this.#dropConnection(client);
    });
  }

  async #handleConnack(client: MqttClient, connack: IConnackPacket, generation: number): Promise<void> {
    const o = this.#options;
    const v5 = o.mqttVersion === "5";
    const props = v5 ? (connack.properties ?? {}) : {};
    const assigned = props.assignedClientIdentifier;
    if (assigned !== undefined && assigned !== "" && this.#clientId === "") {
      // R-MQTT.9/11: keep the Assigned Client Identifier for every later connection
      this.#clientId = assigned;
      client.options.clientId = assigned;
    }
    const responseInformation = props.responseInformation !== "" ? props.responseInformation : undefined;
    const subscribeTopics = userPropertyValues(props.userProperties, SUBSCRIBE_TOPIC_PROPERTY).filter(
      (t) => t !== "",
    );
    const replyTopic = responseInformation ?? o.responseTopic;
    const maximumQoS = props.maximumQoS ?? 2;
    const publishQos = Math.min(o.qos, maximumQoS) as 0 | 1;
    const retainAvailable = props.retainAvailable !== false;

    // R-MQTT.15: configured filters, every `subscribe-topic`, then our reply topic unless covered
    const filters: string[] = [];
    const add = (filter: string): void => {
      if (!filters.some((f) => filterCovers(f, filter))) {
        for (let i = filters.length - 1; i >= 0; i--) {
          if (filterCovers(filter, filters[i] as string)) filters.splice(i, 1);
        }
        filters.push(filter);
      }
    };
    for (const f of this.#subscriptions) add(f);
    for (const t of subscribeTopics) add(t);
    if (replyTopic !== undefined) {
      // 3.1.1 senders publish to `<topic>/reply-to=...`; a 5.0 Response Information topic is exact
      add(v5 ? replyTopic : `${replyTopic}/#`);
    }
    if (filters.length === 0) {
      // R-MQTT.16: nothing to subscribe to -> DISCONNECT and consider the MTP disabled
      const err = new MqttMtpError(
        "ERR_MQTT_NO_SUBSCRIPTION",
        "no Topic Filter configured and no subscribe-topic/Response Information from the broker: MTP disabled",
      );
      this.#emitError(err);
      this.#disabledBy = err;
      await this.#doClose({}, true);
      return;
    }
    const granted = await new Promise<{ topic: string; qos: number }[]>((resolve, reject) => {
      client.subscribe(
        Object.fromEntries(filters.map((f) => [f, { qos: o.qos }])),
        v5 ? { properties: { userProperties: { [ENDPOINT_ID_PROPERTY]: o.endpointId } } } : {},
        (err, _grants, suback) => {
          // mqtt.js reports any failure code as an error; we want the per-filter codes
          const codes = (suback as { granted?: number[] } | undefined)?.granted;
          if (Array.isArray(codes) && codes.length === filters.length) {
            resolve(filters.map((topic, i) => ({ topic, qos: codes[i] ?? 0x80 })));
          } else if (err) {
            reject(err);
          } else {
            reject(new MqttMtpError("ERR_MQTT_SUBSCRIBE_FAILED", "SUBACK does not match the SUBSCRIBE"));
          }
        },
      );
    });
    if (generation !== this.#generation) return;
    const subscribed = granted.filter((g) => g.qos < 0x80).map((g) => g.topic);
    const failed = granted.filter((g) => g.qos >= 0x80);
    if (subscribed.length === 0) {
      // R-MQTT.17: no subscription succeeded -> no PUBLISH, DISCONNECT (then the retry policy)
      throw new MqttMtpError(
        "ERR_MQTT_SUBSCRIBE_FAILED",
        `every SUBSCRIBE failed: ${failed.map((g) => `${g.topic} (0x${g.qos.toString(16)})`).join(", ")}`,
        { protocolCode: failed[0]?.qos },
      );
    }
    if (failed.length > 0) {
      this.#emitError(
        new MqttMtpError(
          "ERR_MQTT_SUBSCRIBE_FAILED",
          `some SUBSCRIBEs failed: ${failed.map((g) => `${g.topic} (0x${g.qos.toString(16)})`).join(", ")}`,
          { protocolCode: failed[0]?.qos },
        ),
      );
    }
    const covered = (topic: string): boolean => subscribed.some((f) => filterCovers(f, topic));
    let connectRecordTopic: string | undefined;
    if (replyTopic !== undefined && covered(replyTopic)) connectRecordTopic = replyTopic;
    else connectRecordTopic = subscribed.find((f) => !hasWildcard(f));

    const session: MqttSessionInfo = {
      clientId: this.#clientId,
      assignedClientIdentifier: assigned,
      sessionPresent: connack.sessionPresent === true,
      responseInformation,
      subscribeTopics,
      serverKeepAlive: props.serverKeepAlive,
      keepAlive: client.keepalive,
      maximumQoS,
      retainAvailable,
      publishQos,
      replyTopic,
      subscribed,
      connectRecordTopic,
    };
    this.#session = session;

    if (o.sendConnectRecord && o.peers.size > 0) {
      if (connectRecordTopic === undefined) {
        this.#emitError(
          new MqttMtpError(
            "ERR_MQTT_NO_REPLY_TOPIC",
            "no non-wildcard subscribed topic to announce: MQTTConnectRecord not sent",
          ),
        );
      } else {
        // R-MTP.6/8: the Connect Record goes first on every new connection, before queued Records
        for (const peer of o.peers.values()) {
          const bytes = encodeRecord(
            mqttConnectRecord({
              toId: peer.endpointId,
              fromId: o.endpointId,
              mqttVersion: o.mqttVersion,
              subscribedTopic: connectRecordTopic,
            }),
          );
          this.#publish({ topic: peer.topic, mqttVersion: peer.mqttVersion }, bytes).catch((err: unknown) => {
            this.#emitError(
              asMtpError(
                err,
                new MqttMtpError("ERR_MQTT_CONNECTION_LOST", "MQTTConnectRecord not delivered"),
              ),
            );
          });
        }
      }
    }
    this.#ready = true;
    this.#attempt = 0;
    this.#setState("open");
    this.emit("session", session);
    this.emit("peerConnected", BROKER_PEER);
    if (this.#openWaiter !== undefined) {
      this.#openWaiter.resolve();
      this.#openWaiter = undefined;
    }
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Send DISCONNECT (MQTT 5 reason "normal") and drop the network connection; `close` then schedules a retry. */
  #dropConnection(client: MqttClient): void {
    const stream = client.stream;
    if (stream === undefined || stream.destroyed) return;
    const packet = mqttPacket.generate(
      { cmd: "disconnect", ...(this.#options.mqttVersion === "5" ? { reasonCode: 0 } : {}) },
      { protocolVersion: this.#options.mqttVersion === "5" ? 5 : 4 },
    );
    stream.write(packet, () => stream.destroy());
    setTimeout(() => stream.destroy(), 1000).unref();
  }

  #onClose(): void {
    this.#generation++;
    const wasReady = this.#ready;
    this.#ready = false;
    this.#session = undefined;
    if (this.#state === "closing" || this.#state === "closed") return;
    const cause =
      this.#lastError ??
      new MqttMtpError("ERR_MQTT_CONNECTION_LOST", "the connection to the broker was lost");
    this.#lastError = undefined;
    if (wasReady) this.emit("peerDisconnected", BROKER_PEER, cause);
    this.#emitError(cause);
    this.#setState("reconnecting");
    this.#attempt++;
    const delayMs = exponentialRetryDelayMs(this.#attempt, this.#options.retry, this.#options.random);
    this.emit("retry", { attempt: this.#attempt, delayMs, cause });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#reconnect();
    }, delayMs);
  }

  #reconnect(): void {
    const client = this.#client;
    if (client === undefined || this.#state !== "reconnecting") return;
    this.emit("attempt", this.#attempt);
    client.reconnect({ incomingStore: this.#incomingStore, outgoingStore: this.#outgoingStore });
  }

  // ---------------------------------------------------------------- receive

  #onMessage(topicName: string, payload: Buffer, packet: IPublishPacket): void {
    const o = this.#options;
    if (payload.length > o.maxRecordSize) {
      this.#emitError(
        new MqttMtpError(
          "ERR_MQTT_RECORD_TOO_LARGE",
          `dropped a ${payload.length}-byte Record on "${topicName}" (maxRecordSize ${o.maxRecordSize})`,
        ),
      );
      return;
    }
    const props = packet.properties;
    const contentType = props?.contentType;
    if (contentType !== undefined && !ACCEPTED_CONTENT_TYPES.has(contentType)) {
      this.#emitError(
        new MqttMtpError("ERR_MQTT_CONTENT_TYPE", `dropped a PUBLISH with Content Type "${contentType}"`),
      );
      return;
    }
    const responseTopic = props?.responseTopic !== "" ? props?.responseTopic : undefined;
    // the topic suffix only matters without a Response Topic (3.1.1 senders)
    const replyTopic = responseTopic ?? splitReplyTo(topicName).replyTo;
    const replyTo: MqttReturnPath | undefined =
      replyTopic === undefined || !this.#usableReplyTopic(replyTopic)
        ? undefined
        : { mtp: "mqtt", topic: replyTopic, mqttVersion: responseTopic !== undefined ? "5" : "3.1.1" };
    let record: UspRecord;
    try {
      record = decodeRecord(payload, { maxSize: o.maxRecordSize });
    } catch (cause) {
      this.#emitError(
        new MtpError("ERR_MTP_MALFORMED_RECORD", `dropped a malformed Record from "${topicName}"`, {
          cause,
          ...(typeof (cause as { uspCode?: unknown }).uspCode === "number"
            ? { protocolCode: (cause as { uspCode: number }).uspCode }
            : {}),
        }),
      );
      this.#answerMalformed(payload, replyTo);
      return;
    }
    if (record.toId !== this.localEndpointId) {
      this.#emitError(
        new MtpError(
          "ERR_MTP_NOT_ADDRESSED_TO_US",
          `dropped a Record for "${record.toId}" (we are ${this.localEndpointId})`,
        ),
      );
      return;
    }
    const kind = record.recordType?.$case;
    // Connect/Disconnect Records legitimately repeat byte for byte (one per connection)
    const isControl = kind === "mqttConnect" || kind === "disconnect" || kind?.endsWith("Connect") === true;
    if (!isControl && !this.#dedup.firstTime(payload)) {
      this.#duplicates++;
      this.emit("duplicate", payload);
      return;
    }
    const fromId = record.fromId;
    if (replyTo !== undefined) {
      const known = this.#learned.get(fromId);
      // a Connect Record's version is authoritative; a Response Topic proves 5.0, a bare suffix proves little
      const mqttVersion: MqttVersion = responseTopic !== undefined ? "5" : (known?.mqttVersion ?? "3.1.1");
      if (known?.topic !== replyTo.topic || known.mqttVersion !== mqttVersion) {
        this.#learned.set(fromId, { topic: replyTo.topic, mqttVersion });
      }
    }
    if (kind === "mqttConnect") {
      const value = record.recordType?.value as { version?: number; subscribedTopic?: string };
      const peerVersion: MqttVersion = value.version === 1 ? "5" : "3.1.1";
      const topic = value.subscribedTopic ?? "";
      if (topicNameProblem(topic) === undefined)
        this.#learned.set(fromId, { topic, mqttVersion: peerVersion });
      else if (replyTo !== undefined)
        this.#learned.set(fromId, { topic: replyTo.topic, mqttVersion: peerVersion });
      this.emit("peerConnected", { endpointId: fromId, returnPath: this.routeTo(fromId) });
    } else if (kind === "disconnect") {
      this.emit("peerDisconnected", { endpointId: fromId, returnPath: this.routeTo(fromId) }, undefined);
    }
    this.emit("record", { bytes: payload, record, fromId, replyTo });
  }

  /** A reply topic we can publish to (cached: peers use the same one for every Record). */
  #usableReplyTopic(topic: string): boolean {
    if (topic === this.#lastGoodReplyTopic) return true;
    if (topicNameProblem(topic) !== undefined) return false;
    this.#lastGoodReplyTopic = topic;
    return true;
  }

  /** R-MTP.5: answer an erroneous Record with an Error when every condition holds. */
  #answerMalformed(bytes: Uint8Array, replyTo: MqttReturnPath | undefined): void {
    if (replyTo === undefined) return;
    let answer: Uint8Array | undefined;
    try {
      answer = errorRecordFor(bytes, this.localEndpointId, { hasReturnPath: true });
    } catch {
      return;
    }
    if (answer === undefined) return;
    const route: Route = { topic: replyTo.topic, mqttVersion: replyTo.mqttVersion };
    const deliver = (): Promise<void> => this.#publish(route, answer);
    (this.#ready ? deliver() : this.#whenReady(undefined).then(deliver)).catch((err: unknown) => {
      this.#emitError(
        asMtpError(err, new MqttMtpError("ERR_MQTT_CONNECTION_LOST", "Record error not delivered")),
      );
    });
  }

  // ---------------------------------------------------------------- send

  #route(toId: string): Route | undefined {
    const peer: MqttPeer | undefined = this.#options.peers.get(toId);
    const learned = this.#learned.get(toId);
    if (peer !== undefined)
      return { topic: peer.topic, mqttVersion: peer.mqttVersion ?? learned?.mqttVersion };
    return learned;
  }

  #routeFor(toId: string, replyTo: ReturnPath | undefined): Route {
    if (replyTo !== undefined) {
      if (replyTo.mtp !== "mqtt" || typeof replyTo.topic !== "string") {
        throw new MtpError("ERR_MTP_NO_ROUTE", `return path for "${toId}" is not an MQTT topic`);
      }
      const problem = topicNameProblem(replyTo.topic);
      if (problem !== undefined) throw new MtpError("ERR_MTP_NO_ROUTE", `bad reply-to topic: ${problem}`);
      const version = (replyTo as MqttReturnPath).mqttVersion;
      return {
        topic: replyTo.topic,
        mqttVersion: version === "5" || version === "3.1.1" ? version : this.#learned.get(toId)?.mqttVersion,
      };
    }
    const route = this.#route(toId);
    if (route === undefined) {
      throw new MtpError("ERR_MTP_NO_ROUTE", `no MQTT topic known for "${toId}" (configure it in peers)`);
    }
    return route;
  }

  #whenReady(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.#readyWaiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const i = this.#readyWaiters.indexOf(waiter);
          if (i >= 0) this.#readyWaiters.splice(i, 1);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /**
   * The PUBLISH options of a session, built once per session rather than per Record (mqtt.js
   * copies the options and never changes the properties object; nothing of ours does either).
   */
  #publishOptionsFor(session: MqttSessionInfo): IClientPublishOptions {
    const cached = this.#publishOptions;
    if (cached !== undefined && cached.session === session) return cached.options;
    const options: IClientPublishOptions = {
      qos: session.publishQos,
      retain: this.#options.retain && session.retainAvailable,
      ...(this.#options.mqttVersion === "5" && session.replyTopic !== undefined
        ? { properties: { contentType: USP_CONTENT_TYPE, responseTopic: session.replyTopic } }
        : {}),
    };
    this.#publishOptions = { session, options };
    return options;
  }

  /** `appendReplyTo`, remembering the last result (a 3.1.1 endpoint builds the same topic for every Record). */
  #replyToTopic(topic: string, replyTopic: string): string {
    const last = this.#lastReplyToTopic;
    if (last !== undefined && last.topic === topic && last.replyTopic === replyTopic) return last.result;
    const result = appendReplyTo(topic, replyTopic);
    this.#lastReplyToTopic = { topic, replyTopic, result };
    return result;
  }

  #publish(route: Route, bytes: Uint8Array): Promise<void> {
    const client = this.#client;
    const session = this.#session;
    if (client === undefined || session === undefined) {
      return Promise.reject(new MtpError("ERR_MTP_NOT_OPEN", "not connected to the broker"));
    }
    const replyTopic = session.replyTopic;
    if (replyTopic === undefined) {
      // R-MQTT.22: every PUBLISH carrying a Record includes a reply-to topic
      return Promise.reject(
        new MqttMtpError("ERR_MQTT_NO_REPLY_TOPIC", "no reply-to topic (configure responseTopic)"),
      );
    }
    const v5 = this.#options.mqttVersion === "5";
    const topic =
      !v5 || route.mqttVersion === "3.1.1" ? this.#replyToTopic(route.topic, replyTopic) : route.topic;
    const publishOptions = this.#publishOptionsFor(session);
    return new Promise<void>((resolve, reject) => {
      client.publish(topic, toBuffer(bytes), publishOptions, (err) => {
        if (err === undefined || err === null) {
          resolve();
          return;
        }
        const code = (err as { code?: unknown }).code;
        reject(
          typeof code === "number"
            ? new MqttMtpError("ERR_MQTT_PUBLISH_REJECTED", err.message, { cause: err, protocolCode: code })
            : new MtpError("ERR_MTP_SEND_FAILED", `PUBLISH to "${topic}" failed: ${err.message}`, {
                cause: err,
              }),
        );
      });
    });
  }

  // ---------------------------------------------------------------- close

  async #doClose(options: CloseOptions, disabled = false): Promise<void> {
    if (this.#state === "closed") return;
    const client = this.#client;
    const wasReady = this.#ready;
    const session = this.#session;
    this.#setState("closing");
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    const closedError = new MtpError(
      "ERR_MTP_CLOSED",
      disabled ? "the MQTT MTP is disabled" : "the MQTT MTP was closed",
    );
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w.reject(closedError);

    if (
      client !== undefined &&
      wasReady &&
      session !== undefined &&
      options.abrupt !== true &&
      this.#options.sendDisconnectRecord
    ) {
      // R-MTP.7/9: tell the peers we know about before leaving
      const targets = new Map<string, Route>();
      for (const peer of this.#options.peers.values()) {
        targets.set(peer.endpointId, { topic: peer.topic, mqttVersion: peer.mqttVersion });
      }
      for (const [id, route] of this.#learned) if (!targets.has(id)) targets.set(id, route);
      const sends = [...targets].map(([toId, route]) =>
        this.#publish(
          route,
          encodeRecord(
            disconnectRecord({
              toId,
              fromId: this.localEndpointId,
              ...(options.reason === undefined ? {} : { reason: options.reason }),
              ...(options.reasonCode === undefined ? {} : { reasonCode: options.reasonCode }),
            }),
          ),
        ).catch(() => {}),
      );
      await withTimeout(Promise.all(sends), 3000);
    }
    this.#ready = false;
    this.#session = undefined;
    if (client !== undefined) {
      // R-MQTT.35: DISCONNECT on a graceful shutdown
      const graceful = options.abrupt !== true && client.connected;
      await withTimeout(
        new Promise<void>((resolve) => {
          client.end(!graceful, graceful && this.#options.mqttVersion === "5" ? { reasonCode: 0 } : {}, () =>
            resolve(),
          );
        }),
        3000,
      );
      if (!client.stream?.destroyed) client.end(true);
    }
    this.#setState("closed");
    this.#failOpen(this.#disabledBy ?? closedError);
  }

  #failOpen(err: unknown): void {
    if (this.#openWaiter !== undefined) {
      this.#openWaiter.reject(err);
      this.#openWaiter = undefined;
    }
  }

  #setState(state: MtpState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit("state", state);
  }

  /** `error` events never throw, even with no listener (MtpEvents contract). */
  #emitError(err: MtpError): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** Create a USP MQTT MTP endpoint. Call `open()` to connect. */
export function createMqttMtp(options: MqttMtpOptions): MqttMtp {
  return new MqttMtp(options);
}
