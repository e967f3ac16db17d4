/**
 * An in-process MQTT broker for demos and quick trials, on `aedes`. It speaks MQTT 3.1.1 only
 * (aedes refuses MQTT 5 CONNECTs), keeps everything in memory and binds to loopback. Use a real
 * broker (Mosquitto, EMQX, HiveMQ...) for anything else.
 */
import { once } from "node:events";
import net from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
  /** `mqtt://host:port` to give to `createMqttMtp({ url, mqttVersion: "3.1.1" })`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** MQTT versions it accepts. */
  readonly mqttVersions: readonly ["3.1.1"];
  stop(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string | undefined;
  /** Default 0 (a free port). */
  readonly port?: number | undefined;
}

/** Start an in-memory MQTT 3.1.1 broker on loopback. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const broker = await Aedes.createBroker();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  server.listen(options.port ?? 0, host);
  await once(server, "listening");
  const address = server.address() as net.AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    url: `mqtt://${host.includes(":") ? `[${host}]` : host}:${address.port}`,
    host,
    port: address.port,
    mqttVersions: ["3.1.1"],
    stop() {
      stopped ??= (async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
      })();
      return stopped;
    },
  };
}
