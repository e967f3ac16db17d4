/**
 * A TCP relay between the MTP and a real broker that can simulate a network partition: with
 * `blackhole` on, bytes are swallowed in both directions while both sockets stay open, so the
 * broker's heart-beat check is what ends the connection.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export class BlackholeProxy {
  blackhole = false;
  /** How many upstream (broker-side) connections the broker closed while we were still connected. */
  brokerClosed = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.#server = createServer((client) => this.#relay(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    let clientGone = false;
    client.on("data", (d) => {
      if (!this.blackhole) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!this.blackhole) client.write(d);
    });
    client.on("close", () => {
      clientGone = true;
      upstream.destroy();
      this.#sockets.delete(client);
    });
    upstream.on("close", () => {
      if (!clientGone) this.brokerClosed++;
      client.destroy();
      this.#sockets.delete(upstream);
    });
    client.on("error", () => {});
    upstream.on("error", () => {});
  }
}
