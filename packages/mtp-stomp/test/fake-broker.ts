/**
 * A scripted STOMP 1.2 server on `net`, for what RabbitMQ and ActiveMQ cannot be made to do:
 * `subscribe-dest` in CONNECTED, chosen heart-beat values, silence, ERROR frames on demand,
 * inspection of the raw bytes we send. By default it behaves like a tiny broker (routes SEND to
 * subscribers, answers receipts), so both MTP roles can talk through it.
 */
import { createServer, type Server, type Socket } from "node:net";
import { encodeFrame, type HeaderInput, type StompFrame } from "../src/frame.js";
import { FrameParser } from "../src/parser.js";

export interface FakeBrokerOptions {
  /** Extra CONNECTED headers (e.g. `subscribe-dest`, `heart-beat`), or an ERROR to refuse the connect. */
  readonly connected?: (connect: StompFrame, index: number) => HeaderInput | { error: string };
  /** Send an EOL heart-beat this often (ms) once connected. 0 = never. */
  readonly beatEveryMs?: number;
  /** Called for every frame after the handshake; return true to suppress the default handling. */
  readonly onFrame?: (connection: FakeConnection, frame: StompFrame) => boolean | undefined;
  /** Answer receipts (default true). */
  readonly receipts?: boolean;
}

export class FakeConnection {
  readonly frames: StompFrame[] = [];
  readonly raw: Buffer[] = [];
  readonly subscriptions = new Map<string, string>();
  heartbeatsReceived = 0;
  #timer: NodeJS.Timeout | undefined;
  #messageId = 0;

  constructor(readonly socket: Socket) {}

  send(command: string, headers: HeaderInput = [], body?: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(command, headers, body));
  }

  deliver(destination: string, frame: StompFrame): void {
    for (const [id, dest] of this.subscriptions) {
      if (dest !== destination) continue;
      const headers: Array<[string, string]> = [
        ["subscription", id],
        ["message-id", `m-${++this.#messageId}`],
        ["destination", destination],
      ];
      for (const [k, v] of frame.headers) if (k !== "destination" && k !== "receipt") headers.push([k, v]);
      this.send("MESSAGE", headers, frame.body);
    }
  }

  beat(everyMs: number): void {
    this.#timer = setInterval(() => {
      if (!this.socket.destroyed) this.socket.write("\n");
    }, everyMs);
  }

  close(): void {
    clearInterval(this.#timer);
    this.socket.destroy();
  }
}

export class FakeBroker {
  readonly connections: FakeConnection[] = [];
  readonly connectFrames: StompFrame[] = [];
  readonly #server: Server;
  readonly #options: FakeBrokerOptions;
  port = 0;

  constructor(options: FakeBrokerOptions = {}) {
    this.#options = options;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** All frames with this command received on any connection. */
  received(command: string): StompFrame[] {
    return this.connections.flatMap((c) => c.frames.filter((f) => f.command === command));
  }

  #accept(socket: Socket): void {
    const connection = new FakeConnection(socket);
    this.connections.push(connection);
    let handshaken = false;
    const parser = new FrameParser(
      (frame) => {
        connection.frames.push(frame);
        if (!handshaken) {
          handshaken = true;
          this.connectFrames.push(frame);
          const answer = this.#options.connected?.(frame, this.connectFrames.length - 1) ?? [];
          if ("error" in answer && typeof answer.error === "string") {
            connection.send("ERROR", [["message", answer.error]], Buffer.from(`refused: ${answer.error}`));
            setTimeout(() => connection.close(), 20);
            return;
          }
          connection.send("CONNECTED", [
            ["version", "1.2"],
            ["server", "fake/1"],
            ...entries(answer as HeaderInput),
          ]);
          if (this.#options.beatEveryMs) connection.beat(this.#options.beatEveryMs);
          return;
        }
        if (this.#options.onFrame?.(connection, frame)) return;
        this.#defaultHandling(connection, frame);
      },
      () => {
        connection.heartbeatsReceived++;
      },
    );
    socket.on("data", (chunk: Buffer) => {
      connection.raw.push(chunk);
      try {
        parser.push(chunk);
      } catch {
        connection.close();
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => connection.close());
  }

  #defaultHandling(connection: FakeConnection, frame: StompFrame): void {
    switch (frame.command) {
      case "SUBSCRIBE":
        connection.subscriptions.set(frame.headers.get("id") ?? "", frame.headers.get("destination") ?? "");
        break;
      case "UNSUBSCRIBE":
        connection.subscriptions.delete(frame.headers.get("id") ?? "");
        break;
      case "SEND": {
        const destination = frame.headers.get("destination") ?? "";
        for (const c of this.connections) c.deliver(destination, frame);
        break;
      }
    }
    const receipt = frame.headers.get("receipt");
    if (receipt !== undefined && this.#options.receipts !== false)
      connection.send("RECEIPT", [["receipt-id", receipt]]);
    if (frame.command === "DISCONNECT") setTimeout(() => connection.close(), 10);
  }
}

function entries(headers: HeaderInput): Array<readonly [string, string]> {
  if (Symbol.iterator in headers) return [...(headers as Iterable<readonly [string, string]>)];
  return Object.entries(headers).map(([k, v]) => [k, String(v)] as const);
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor<T>(
  predicate: () => T | undefined | false,
  timeoutMs = 20_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
