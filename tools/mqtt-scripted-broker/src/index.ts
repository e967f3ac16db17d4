/**
 * `@x/mqtt-scripted-broker`: a small, scripted MQTT 5.0 / 3.1.1 broker on `net` + `mqtt-packet`.
 *
 * It exists ONLY for behaviour a real broker (Mosquitto) cannot be made to produce in a test:
 * CONNACK Response Information and `subscribe-topic` User Properties, SUBACK failure codes,
 * Maximum QoS / Retain Available limits, Server Keep Alive, and a server-initiated DISCONNECT.
 * It routes PUBLISHes between its clients (QoS 0 and 1, MQTT 5 properties passed to 5.0
 * subscribers only), records every packet it receives with a timestamp, and can be told to
 * drop or disconnect clients. It is not a general broker: no retained messages, no sessions
 * across connections, no QoS 2, no wills.
 *
 * @packageDocumentation
 */
import { EventEmitter, once } from "node:events";
import net from "node:net";
import mqttPacket from "mqtt-packet";

export type Packet = mqttPacket.Packet;
export type ConnectPacket = mqttPacket.IConnectPacket;
export type ConnackPacket = mqttPacket.IConnackPacket;
export type PublishPacket = mqttPacket.IPublishPacket;
export type SubscribePacket = mqttPacket.ISubscribePacket;

/** One client connection as the broker sees it. */
export interface ScriptedClient {
  /** 1-based, in connection order. */
  readonly index: number;
  readonly connect: ConnectPacket | undefined;
  readonly protocolVersion: number;
  /** Topic filters currently subscribed, with the granted QoS. */
  readonly subscriptions: ReadonlyMap<string, number>;
  readonly closed: boolean;
  /** Send any packet to this client. */
  send(packet: Packet): void;
  /** Send DISCONNECT (MQTT 5 only; 3.1.1 has no server DISCONNECT) and close the connection. */
  disconnect(reasonCode?: number, properties?: mqttPacket.IDisconnectPacket["properties"]): void;
  /** Close the TCP connection without a packet. */
  destroy(): void;
}

/** A packet received from a client, with its arrival time (ms, `performance.now()`). */
export interface ReceivedPacket {
  readonly client: ScriptedClient;
  readonly packet: Packet;
  readonly at: number;
}

export interface ScriptedBrokerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /**
   * Build the CONNACK for a CONNECT. Return fields to merge into the default success CONNACK
   * (`reasonCode`/`returnCode` 0, `sessionPresent` false); return `"ignore"` to never answer.
   */
  readonly connack?: (
    connect: ConnectPacket,
    client: ScriptedClient,
  ) => Partial<ConnackPacket> | "ignore" | undefined;
  /**
   * SUBACK code for one requested subscription: a granted QoS (0..2) or a failure code
   * (0x80 on 3.1.1; >= 0x80 reason codes on 5.0). Default: the requested QoS, capped at 1.
   */
  readonly suback?: (subscription: { topic: string; qos: number }, client: ScriptedClient) => number;
  /**
   * UNSUBACK reason code for one Topic Filter (MQTT 5 only; 3.1.1 UNSUBACK carries none):
   * 0x00 success, 0x11 no subscription existed, >= 0x80 a failure that keeps the subscription.
   * Default 0x00.
   */
  readonly unsuback?: (topic: string, client: ScriptedClient) => number;
  /** Answer PINGREQ (default true). */
  readonly answerPings?: boolean;
}

export interface ScriptedBroker {
  readonly host: string;
  readonly port: number;
  /** `mqtt://host:port` */
  readonly url: string;
  /** Every client that ever connected, in order. */
  readonly clients: readonly ScriptedClient[];
  /** Every packet received, in order. */
  readonly received: readonly ReceivedPacket[];
  /** Resolve with the first received packet (past or future) matching `predicate`. */
  waitFor(predicate: (p: ReceivedPacket) => boolean, timeoutMs?: number): Promise<ReceivedPacket>;
  /** Resolve when `count` clients have connected (TCP accepted and CONNECT parsed). */
  waitForConnections(count: number, timeoutMs?: number): Promise<void>;
  /** Route a PUBLISH from the broker itself to matching subscribers. */
  publish(packet: Omit<PublishPacket, "cmd" | "messageId" | "dup" | "retain"> & { retain?: boolean }): void;
  /** Stop listening and close every connection. Idempotent. */
  stop(): Promise<void>;
}

/** MQTT topic-filter matching (MQTT 5.0 §4.7). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

class Connection implements ScriptedClient {
  connect: ConnectPacket | undefined;
  protocolVersion = 4;
  readonly subscriptions = new Map<string, number>();
  closed = false;
  #nextMessageId = 1;

  constructor(
    readonly index: number,
    readonly socket: net.Socket,
  ) {}

  send(packet: Packet): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion as 3 | 4 | 5 }));
  }

  nextMessageId(): number {
    const id = this.#nextMessageId;
    this.#nextMessageId = id >= 0xffff ? 1 : id + 1;
    return id;
  }

  disconnect(reasonCode = 0, properties?: mqttPacket.IDisconnectPacket["properties"]): void {
    if (this.protocolVersion === 5) {
      this.send({ cmd: "disconnect", reasonCode, ...(properties === undefined ? {} : { properties }) });
    }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 200).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Start a scripted broker on a free loopback port. */
export async function startScriptedBroker(options: ScriptedBrokerOptions = {}): Promise<ScriptedBroker> {
  const host = options.host ?? "127.0.0.1";
  const clients: Connection[] = [];
  const received: ReceivedPacket[] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);

  const route = (packet: PublishPacket): void => {
    for (const c of clients) {
      if (c.closed || c.connect === undefined) continue;
      let best = -1;
      for (const [filter, qos] of c.subscriptions)
        if (topicMatches(filter, packet.topic)) best = Math.max(best, qos);
      if (best < 0) continue;
      const qos = Math.min(best, packet.qos, 1) as 0 | 1;
      const out: PublishPacket = {
        cmd: "publish",
        topic: packet.topic,
        payload: packet.payload,
        qos,
        dup: false,
        retain: false,
        ...(qos > 0 ? { messageId: c.nextMessageId() } : {}),
        ...(c.protocolVersion === 5 && packet.properties !== undefined
          ? { properties: packet.properties }
          : {}),
      };
      c.send(out);
    }
  };

  const handle = (c: Connection, packet: Packet): void => {
    const entry: ReceivedPacket = { client: c, packet, at: performance.now() };
    received.push(entry);
    switch (packet.cmd) {
      case "connect": {
        c.connect = packet;
        c.protocolVersion = packet.protocolVersion ?? 4;
        const script = options.connack?.(packet, c);
        if (script === "ignore") break;
        const base: ConnackPacket =
          c.protocolVersion === 5
            ? { cmd: "connack", sessionPresent: false, reasonCode: 0 }
            : { cmd: "connack", sessionPresent: false, returnCode: 0 };
        const connack = { ...base, ...(script ?? {}) } as ConnackPacket;
        c.send(connack);
        const refused = (connack.reasonCode ?? connack.returnCode ?? 0) !== 0;
        if (refused) c.socket.end();
        break;
      }
      case "subscribe": {
        const granted = packet.subscriptions.map((s) => {
          const code = options.suback?.({ topic: s.topic, qos: s.qos }, c) ?? Math.min(s.qos, 1);
          if (code < 0x80) c.subscriptions.set(s.topic, code);
          return code;
        });
        c.send({ cmd: "suback", messageId: packet.messageId, granted } as Packet);
        break;
      }
      case "unsubscribe": {
        const codes = packet.unsubscriptions.map((t) => {
          const code = c.protocolVersion === 5 ? (options.unsuback?.(t, c) ?? 0) : 0;
          if (code < 0x80) c.subscriptions.delete(t);
          return code;
        });
        c.send({
          cmd: "unsuback",
          messageId: packet.messageId,
          ...(c.protocolVersion === 5 ? { granted: codes } : {}),
        } as Packet);
        break;
      }
      case "publish": {
        if (packet.qos === 1 && packet.messageId !== undefined) {
          c.send({
            cmd: "puback",
            messageId: packet.messageId,
            ...(c.protocolVersion === 5 ? { reasonCode: 0 } : {}),
          });
        }
        route(packet);
        break;
      }
      case "pingreq":
        if (options.answerPings !== false) c.send({ cmd: "pingresp" });
        break;
      case "disconnect":
        c.socket.end();
        break;
      default:
        break;
    }
    events.emit("packet", entry);
  };

  const server = net.createServer((socket) => {
    const c = new Connection(clients.length + 1, socket);
    clients.push(c);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on("packet", (packet: Packet) => {
      handle(c, packet);
    });
    parser.on("error", () => socket.destroy());
    socket.on("data", (chunk) => parser.parse(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      c.closed = true;
      events.emit("close", c);
    });
  });
  server.listen(0, host);
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;

  let stopping: Promise<void> | undefined;
  const broker: ScriptedBroker = {
    host,
    port,
    url: `mqtt://${host}:${port}`,
    clients,
    received,
    waitFor(predicate, timeoutMs = 10_000) {
      const past = received.find(predicate);
      if (past !== undefined) return Promise.resolve(past);
      return new Promise<ReceivedPacket>((resolve, reject) => {
        const onPacket = (p: ReceivedPacket): void => {
          if (!predicate(p)) return;
          clearTimeout(timer);
          events.off("packet", onPacket);
          resolve(p);
        };
        const timer = setTimeout(() => {
          events.off("packet", onPacket);
          reject(new Error(`scripted broker: no matching packet within ${timeoutMs} ms`));
        }, timeoutMs);
        events.on("packet", onPacket);
      });
    },
    async waitForConnections(count, timeoutMs = 10_000) {
      await broker.waitFor(() => clients.filter((c) => c.connect !== undefined).length >= count, timeoutMs);
    },
    publish(packet) {
      route({ ...packet, cmd: "publish", dup: false, retain: packet.retain ?? false });
    },
    stop() {
      stopping ??= (async () => {
        for (const c of clients) c.socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return stopping;
    },
  };
  return broker;
}
