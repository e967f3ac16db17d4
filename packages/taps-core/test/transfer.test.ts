import dgram from "node:dgram";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Connection,
  type ConnectionError,
  DelimiterFramer,
  ExpiredError,
  InitiateError,
  LengthPrefixFramer,
  LocalEndpoint,
  MessageContext,
  Preconnection,
  type PreconnectionOptions,
  ReceiveError,
  RemoteEndpoint,
  SendError,
  type Transport,
  TransportProperties,
} from "../src/index.js";
import { closedPort, type NetPeer, netServer, record, until } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function frame(text: string | Buffer): Buffer {
  const body = typeof text === "string" ? Buffer.from(text) : text;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

/** Collects everything a bare net peer receives until FIN. */
function collect(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  return new Promise((r) => s.once("end", () => r(Buffer.concat(chunks))));
}

async function peer(onSocket: (s: net.Socket) => void, autoEnd = true): Promise<NetPeer> {
  const p = await netServer(onSocket, "127.0.0.1", 0, { autoEnd });
  cleanups.push(() => p.close());
  return p;
}

function framedClient(port: number, options: PreconnectionOptions = {}): Preconnection {
  return new Preconnection({
    remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
    transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
    options,
  }).addFramer(new LengthPrefixFramer());
}

function plainClient(port: number, options: PreconnectionOptions = {}): Preconnection {
  return new Preconnection({
    remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
    options,
  });
}

function track(c: Connection): Connection {
  cleanups.push(() => c.abort());
  return c;
}

describe("sending", () => {
  it("Send before Ready is queued and delivered after Ready; one Sent per Send, in order", async () => {
    let received!: Promise<Buffer>;
    const p = await peer((s) => {
      received = collect(s);
    });
    const conn = track(framedClient(p.port).initiate());
    const sent: string[] = [];
    conn.on("sent", (ctx) => sent.push(String(ctx.get(conn as never, "id") ?? "")));
    const contexts = ["a", "b", "c"].map((id) => new MessageContext().add(conn, "id", id));
    const results = contexts.map((ctx, i) => conn.send(`m${i}`, ctx));
    expect(conn.state).toBe("Establishing");
    await Promise.all(results);
    expect(sent).toEqual(["a", "b", "c"]);
    await conn.close();
    expect(await received).toEqual(Buffer.concat([frame("m0"), frame("m1"), frame("m2")]));
  });

  it("partial sends with one context form one Message ('hel' + 'lo' → 'hello'), one Sent per call", async () => {
    let received!: Promise<Buffer>;
    const p = await peer((s) => {
      received = collect(s);
    });
    const conn = track(framedClient(p.port).initiate());
    await conn.ready;
    const log = record(conn);
    const ctx = new MessageContext();
    await conn.send("hel", ctx, false);
    await conn.send("lo", ctx, true);
    await conn.close();
    expect(await received).toEqual(frame("hello"));
    expect(log.filter((e) => e === "sent")).toHaveLength(2);
  });

  it("queued Messages leave in priority order (lower msg-prio first), final last", async () => {
    let received!: Promise<Buffer>;
    const p = await peer((s) => {
      received = collect(s);
    });
    const conn = track(framedClient(p.port).initiate());
    const prio = (n: number) => new MessageContext().add("msg-prio", n);
    conn.send("fin", new MessageContext().add("final", true));
    conn.send("p200", prio(200));
    conn.send("p10", prio(10));
    conn.send("p100a");
    conn.send("p100b", prio(100));
    await conn.ready;
    const all = await received;
    expect(all).toEqual(Buffer.concat(["p10", "p100a", "p100b", "p200", "fin"].map(frame)));
    await conn.close();
  });

  it("final: the peer sees FIN after the Message, a later Send fails, and the peer can still reply", async () => {
    const p = await peer((s) => {
      void collect(s).then((all) => {
        s.write(frame(`got ${all.length}`));
        s.end();
      });
    }, false);
    const conn = track(framedClient(p.port).initiate());
    await conn.ready;
    await conn.send("last", new MessageContext().add("final", true));
    const error = await conn.send("too late").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendError);
    expect((error as SendError).reason).toBe("final");
    expect(conn.getProperties().get("can-send")).toBe(false);
    const reply = await conn.receive();
    expect(Buffer.from(reply.data).toString()).toBe("got 8");
    await until(() => conn.state === "Closed");
  });

  it("msg-lifetime: a Message stuck behind a congested send queue gets Expired", async () => {
    const p = await peer((s) => s.pause()); // the peer never reads
    const conn = track(plainClient(p.port).initiate());
    await conn.ready;
    const big = Buffer.alloc(1024 * 1024);
    // Fill the socket until the stack is congested.
    for (let i = 0; i < 64; i++) void conn.send(big);
    const ctx = new MessageContext().add("msg-lifetime", 100);
    const events: string[] = [];
    conn.on("expired", () => events.push("expired"));
    const outcome = await conn.send("late", ctx).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(ExpiredError);
    expect(events).toEqual(["expired"]);
  });

  it("Batch: sends inside one batch leave in one write", async () => {
    let received!: Promise<Buffer>;
    const p = await peer((s) => {
      received = collect(s);
    });
    let writes = 0;
    const conn = track(
      framedClient(p.port, {
        attempt: async (c, s, next) => {
          const t: Transport = await next(c, s);
          const write = t.write.bind(t);
          t.write = (chunks, cb) => {
            writes++;
            return write(chunks, cb);
          };
          return t;
        },
      }).initiate(),
    );
    await conn.ready;
    writes = 0;
    await conn.batch(() => {
      for (let i = 0; i < 5; i++) void conn.send(`b${i}`);
    });
    await until(() => writes > 0);
    await new Promise((r) => setTimeout(r, 20));
    expect(writes).toBe(1);
    await conn.close();
    expect((await received).length).toBe(5 * 6);
  });

  it("InitiateWithSend: the first Message arrives; on failure only InitiateError (no SendError)", async () => {
    let received!: Promise<Buffer>;
    const p = await peer((s) => {
      received = collect(s);
    });
    const conn = track(framedClient(p.port).initiateWithSend("first"));
    await conn.ready;
    await conn.close();
    expect(await received).toEqual(frame("first"));

    const failing = framedClient(await closedPort()).initiateWithSend("never");
    const log = record(failing);
    await failing.ready.catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(["initiateError"]);
  });
});

describe("receiving", () => {
  it("Receive(1, 1000) on a 1500-byte Message: ReceivedPartial 1000 (eom false) then 500 (eom true)", async () => {
    const p = await peer((s) => s.write(frame(Buffer.alloc(1500, 7))));
    const conn = track(framedClient(p.port).initiate());
    const first = await conn.receive({ minIncompleteLength: 1, maxLength: 1000 });
    const second = await conn.receive({ minIncompleteLength: 1, maxLength: 1000 });
    expect([first.data.length, first.endOfMessage, first.partial]).toEqual([1000, false, true]);
    expect([second.data.length, second.endOfMessage, second.partial]).toEqual([500, true, true]);
    expect(second.context).toBe(first.context);
    await conn.close();
  });

  it("TCP without a framer: the stream is one Message; endOfMessage comes with the peer's FIN", async () => {
    const p = await peer((s) => {
      s.write("abc");
      setTimeout(() => s.end("def"), 30);
    });
    const conn = track(plainClient(p.port).initiate());
    const parts: string[] = [];
    let eom = false;
    const contexts = new Set<MessageContext>();
    while (!eom) {
      const m = await conn.receive();
      parts.push(Buffer.from(m.data).toString());
      contexts.add(m.context);
      eom = m.endOfMessage;
      if (eom) expect(m.context.final).toBe(true);
    }
    expect(parts.join("")).toBe("abcdef");
    expect(contexts.size).toBe(1);
    const after = await conn.receive().catch((e: unknown) => e);
    expect(after).toBeInstanceOf(ReceiveError);
    await conn.close();
  });

  it("back-pressure: with no Receive pending the peer's writes block; Receive calls release them", async () => {
    let blocked = false;
    let written = 0;
    let drained = false;
    const p = await peer((s) => {
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (written < 256 * 1024 * 1024) {
          written += chunk.length;
          if (!s.write(chunk)) {
            blocked = true;
            s.once("drain", () => {
              drained = true;
            });
            return;
          }
        }
      };
      pump();
    });
    const conn = track(plainClient(p.port, { receiveBufferLimit: 64 * 1024 }).initiate());
    await conn.ready;
    await until(() => blocked);
    await new Promise((r) => setTimeout(r, 200));
    expect(drained).toBe(false);
    expect(written).toBeLessThan(256 * 1024 * 1024);
    let got = 0;
    while (!drained) got += (await conn.receive({ minIncompleteLength: 1 })).data.length;
    expect(got).toBeGreaterThan(0);
  });

  it("MessageContext of received Messages carries the local and remote endpoints", async () => {
    const p = await peer((s) => s.write(frame("x")));
    const conn = track(framedClient(p.port).initiate());
    const m = await conn.receive();
    expect(m.context.getRemoteEndpoint()?.toString()).toBe(`127.0.0.1:${p.port}`);
    expect(m.context.getLocalEndpoint()?.toString()).toMatch(/^127\.0\.0\.1:\d+$/);
    await conn.close();
  });
});

describe("a peer that sends garbage to a framer", () => {
  it("an absurd length prefix: the pending Receive gets ReceiveError, then ConnectionError; nothing hangs or leaks", async () => {
    let peerClosed = false;
    const p = await peer((s) => {
      s.on("close", () => (peerClosed = true));
      s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    });
    const conn = track(framedClient(p.port).initiate());
    const log = record(conn);
    const error = await conn.receive().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReceiveError);
    await until(() => log.includes("connectionError"));
    expect(log.slice(-2)).toEqual(["receiveError", "connectionError"]);
    expect(conn.state).toBe("Closed");
    await until(() => peerClosed); // our socket was torn down (reset), not left open
  });

  it("a stream that ends inside a Message: ConnectionError (framing)", async () => {
    const p = await peer((s) => s.end(Buffer.from([0, 0, 0, 9, 1, 2])));
    const conn = track(framedClient(p.port).initiate());
    const [error] = await new Promise<[ConnectionError]>((r) => conn.once("connectionError", (e) => r([e])));
    expect(error.reason).toBe("framing");
  });

  it("a delimiter framer fed a line longer than its limit fails the connection", async () => {
    const p = await peer((s) => s.write(Buffer.alloc(4096, 0x41)));
    const conn = track(
      new Preconnection({
        remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(p.port),
        transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
      })
        .addFramer(new DelimiterFramer({ maxMessageLength: 1000 }))
        .initiate(),
    );
    const [error] = await new Promise<[ConnectionError]>((r) => conn.once("connectionError", (e) => r([e])));
    expect(error.reason).toBe("message-too-large");
  });
});

describe("UDP", () => {
  async function udpEcho(): Promise<{ port: number; close(): Promise<void> }> {
    const s = dgram.createSocket("udp4");
    s.on("message", (m, r) => s.send(m, r.port, r.address));
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    const port = s.address().port;
    const handle = { port, close: () => new Promise<void>((r) => s.close(() => r())) };
    cleanups.push(() => handle.close());
    return handle;
  }
  function udpClient(port: number, tp = TransportProperties.profile("unreliable-datagram")): Preconnection {
    return new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
      transportProperties: tp,
    });
  }

  it("datagram boundaries are Messages; a Message over 65507 bytes gives SendError", async () => {
    const echo = await udpEcho();
    const conn = track(udpClient(echo.port).initiate());
    await conn.ready;
    expect(conn.protocolStack).toBe("udp");
    await conn.send("one");
    await conn.send("two");
    expect(Buffer.from((await conn.receive()).data).toString()).toBe("one");
    expect(Buffer.from((await conn.receive()).data).toString()).toBe("two");
    expect(conn.getProperties().get("send-msg-max-len")).toBe(65507);
    const error = (await conn.send(Buffer.alloc(70_000)).catch((e: unknown) => e)) as SendError;
    expect(error).toBeInstanceOf(SendError);
    expect(error.reason).toBe("message-too-large");
    await conn.close();
  });

  it("a non-idempotent Message on UDP gives SendError (-06 §7.5.4)", async () => {
    const echo = await udpEcho();
    const conn = track(udpClient(echo.port).initiate());
    await conn.ready;
    const error = (await conn
      .send("x", new MessageContext().add("idempotent", false))
      .catch((e: unknown) => e)) as SendError;
    expect(error).toBeInstanceOf(SendError);
    expect(error.reason).toBe("inconsistent-properties");
    await conn.close();
  });

  it("SoftError: a connected UDP socket to a closed port reports the ICMP error and stays usable", async () => {
    const port = await closedPort();
    const tp = TransportProperties.profile("unreliable-datagram").require("soft-error-notify");
    const conn = track(udpClient(port, tp).initiate());
    await conn.ready;
    const soft = new Promise<Error>((r) => conn.once("softError", (e) => r(e)));
    for (let i = 0; i < 3; i++) await conn.send("ping").catch(() => {});
    const e = await soft;
    expect((e as { code?: string }).code).toBe("ECONNREFUSED");
    expect(conn.state).toBe("Established");
    await conn.close();
  });

  it("a UDP Listener creates one Connection per remote; reply() goes back to the sender", async () => {
    const listener = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      transportProperties: TransportProperties.profile("unreliable-datagram"),
    }).listen();
    cleanups.push(() => listener.stop());
    listener.on("connectionReceived", async (c) => {
      const m = await c.receive();
      await c.send(Buffer.concat([Buffer.from("echo:"), m.data]), m.context.reply());
    });
    await listener.ready;
    const conn = track(udpClient(listener.port!).initiate());
    await conn.send("hi");
    expect(Buffer.from((await conn.receive()).data).toString()).toBe("echo:hi");
    await conn.close();
  });
});

describe("InitiateError vs. sends", () => {
  it("Sends queued before a failed establishment reject with the InitiateError", async () => {
    const conn = framedClient(await closedPort()).initiate();
    const result = await conn.send("x").catch((e: unknown) => e);
    expect(result).toBeInstanceOf(InitiateError);
  });
});

describe("multicast (loopback)", () => {
  it("Listen on a local ASM group gives receive-only Connections; Initiate to the group is send-only", async () => {
    const group = `239.255.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
    const listener = new Preconnection({
      local: new LocalEndpoint().withIPv4Address(group).withInterface("lo").withPort(0),
      transportProperties: TransportProperties.profile("unreliable-datagram"),
    }).listen();
    cleanups.push(() => listener.stop());
    const received = new Promise<Connection>((r) => listener.once("connectionReceived", r));
    await listener.ready;
    const source = track(
      new Preconnection({
        local: new LocalEndpoint().withInterface("lo"),
        remote: new RemoteEndpoint().withIPv4Address(group).withPort(listener.port!),
        transportProperties: TransportProperties.profile("unreliable-datagram"),
      }).initiate(),
    );
    await source.ready;
    expect(source.getProperties().get("can-receive")).toBe(false);
    expect(await source.receive().catch((e: unknown) => (e as ReceiveError).reason)).toBe("direction");
    await source.send("to the group");
    const sink = await received;
    cleanups.push(() => sink.abort());
    expect(Buffer.from((await sink.receive()).data).toString()).toBe("to the group");
    expect(((await sink.send("back").catch((e: unknown) => e)) as SendError).reason).toBe("direction");
  });
});
