import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { FramerStack } from "../src/framer.js";
import {
  DelimiterFramer,
  type Framer,
  type FramerControl,
  LengthPrefixFramer,
  LocalEndpoint,
  MessageContext,
  Preconnection,
  RemoteEndpoint,
  TransportProperties,
} from "../src/index.js";
import { netServer, until } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An in-memory framer stack: what it writes and what it delivers. */
function harness(framers: Framer[]) {
  const wire: Buffer[] = [];
  const delivered: { data: Buffer; eom: boolean; ctx: MessageContext }[] = [];
  const failures: Error[] = [];
  const stack = new FramerStack(framers, {
    writeToTransport: (d) => wire.push(Buffer.from(d)),
    deliverToApplication: (ctx, data, eom) => {
      const last = delivered[delivered.length - 1];
      if (last && !last.eom && last.ctx === ctx) {
        last.data = Buffer.concat([last.data, Buffer.from(data)]);
        last.eom = eom;
      } else delivered.push({ data: Buffer.from(data), eom, ctx });
    },
    framersReady: () => {},
    framerClosed: () => {},
    framerFailed: (e) => failures.push(e),
  });
  stack.start();
  return { stack, wire, delivered, failures, bytes: () => Buffer.concat(wire) };
}

function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

describe("LengthPrefixFramer", () => {
  it("writes the exact bytes: 4-byte big-endian length then the Message", () => {
    const h = harness([new LengthPrefixFramer()]);
    h.stack.frame(Buffer.from("hello"), new MessageContext(), true);
    h.stack.frame(new Uint8Array(0), new MessageContext(), true);
    expect(h.bytes()).toEqual(Buffer.from([0, 0, 0, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0, 0, 0, 0]));
    const two = harness([new LengthPrefixFramer({ lengthBytes: 2 })]);
    two.stack.frame(Buffer.alloc(300), new MessageContext(), true);
    expect(two.bytes().subarray(0, 2)).toEqual(Buffer.from([1, 44]));
  });

  it("round-trips any Messages across any chunking (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<1 | 2 | 4>(1, 2, 4),
        fc.array(fc.uint8Array({ maxLength: 250 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (lengthBytes, messages, cuts) => {
          const tx = harness([new LengthPrefixFramer({ lengthBytes })]);
          for (const m of messages) tx.stack.frame(m, new MessageContext(), true);
          const rx = harness([new LengthPrefixFramer({ lengthBytes })]);
          for (const c of chunked(tx.bytes(), cuts)) rx.stack.receive(c);
          expect(rx.failures).toEqual([]);
          expect(rx.delivered.map((d) => [...d.data])).toEqual(messages.map((m) => [...m]));
          expect(rx.delivered.every((d) => d.eom)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never throws on hostile input: it delivers or fails the connection with a typed error (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
        fc.boolean(),
        (chunks, end) => {
          const rx = harness([new LengthPrefixFramer({ maxMessageLength: 1000 })]);
          for (const c of chunks) rx.stack.receive(c);
          if (end) rx.stack.peerEnded();
          for (const f of rx.failures) expect((f as { code?: string }).code).toBe("ERR_TAPS_FRAMER");
          for (const d of rx.delivered) expect(d.data.length).toBeLessThanOrEqual(1000);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses to send a Message over its limit", () => {
    const h = harness([new LengthPrefixFramer({ lengthBytes: 1 })]);
    expect(() => h.stack.frame(Buffer.alloc(256), new MessageContext(), true)).toThrow(/exceeds/);
  });
});

describe("DelimiterFramer", () => {
  it("round-trips delimiter-free Messages across any chunking (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ maxLength: 40 }).map((s) => s.replaceAll("\r\n", "")),
          { maxLength: 15 },
        ),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, cuts) => {
          const tx = harness([new DelimiterFramer({ delimiter: "\r\n" })]);
          for (const m of messages) tx.stack.frame(Buffer.from(m), new MessageContext(), true);
          const rx = harness([new DelimiterFramer({ delimiter: "\r\n" })]);
          for (const c of chunked(tx.bytes(), cuts)) rx.stack.receive(c);
          expect(rx.failures).toEqual([]);
          expect(rx.delivered.map((d) => d.data.toString())).toEqual(messages);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a Message containing the delimiter is refused", () => {
    const h = harness([new DelimiterFramer()]);
    expect(() => h.stack.frame(Buffer.from("a\nb"), new MessageContext(), true)).toThrow(/delimiter/);
  });
});

describe("framer stacking and the framer model", () => {
  it("the last framer added runs first on send and last on receive (-06 §9.1)", () => {
    const tx = harness([new LengthPrefixFramer(), new DelimiterFramer()]);
    tx.stack.frame(Buffer.from("ab"), new MessageContext(), true);
    expect(tx.bytes()).toEqual(Buffer.from([0, 0, 0, 3, 0x61, 0x62, 0x0a]));
    const rx = harness([new LengthPrefixFramer(), new DelimiterFramer()]);
    rx.stack.receive(tx.bytes());
    expect(rx.delivered.map((d) => d.data.toString())).toEqual(["ab"]);
  });

  function tapsPair(framer: () => Framer, tp = new TransportProperties().require("preserve-msg-boundaries")) {
    const listenerPre = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      transportProperties: tp,
    }).addFramer(framer());
    const listener = listenerPre.listen();
    cleanups.push(() => listener.stop());
    return {
      listener,
      connect: (port: number) => {
        const c = new Preconnection({
          remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
          transportProperties: tp,
        })
          .addFramer(framer())
          .initiate();
        cleanups.push(() => c.abort());
        return c;
      },
    };
  }

  it("an asynchronous framer defers Sent until it has framed the Message", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    class SlowFramer extends LengthPrefixFramer {
      override async newSentMessage(
        ctl: FramerControl,
        data: Uint8Array,
        ctx: MessageContext,
        eom: boolean,
      ): Promise<void> {
        await gate;
        super.newSentMessage(ctl, data, ctx, eom);
      }
    }
    const { listener, connect } = tapsPair(() => new SlowFramer());
    listener.on("connectionReceived", async (c) => {
      const m = await c.receive();
      await c.send(m.data);
    });
    await listener.ready;
    const conn = connect(listener.port!);
    await conn.ready;
    let sent = false;
    conn.on("sent", () => (sent = true));
    const p = conn.send("slow");
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toBe(false);
    release();
    await p;
    expect(sent).toBe(true);
    expect(Buffer.from((await conn.receive()).data).toString()).toBe("slow");
  });

  it("a framer handshake (Start → peer reply → MakeConnectionReady) delays Ready", async () => {
    let peerHelloSent = false;
    const peer = await netServer((s) => {
      s.once("data", () => {
        setTimeout(() => {
          peerHelloSent = true;
          s.write("HELLO\n");
        }, 50);
      });
    });
    cleanups.push(() => peer.close());
    class HandshakeFramer extends DelimiterFramer {
      #shaken = false;
      start(ctl: FramerControl): void {
        ctl.send(Buffer.from("HELLO\n"));
      }
      override handleReceivedData(ctl: FramerControl): void {
        if (!this.#shaken) {
          const line = ctl.parse(6, 6);
          if (!line) return;
          if (Buffer.from(line).toString() !== "HELLO\n") {
            ctl.failConnection(new Error("bad handshake"));
            return;
          }
          ctl.advanceReceiveCursor(6);
          this.#shaken = true;
          ctl.makeConnectionReady();
        }
        super.handleReceivedData(ctl);
      }
      override clone(): HandshakeFramer {
        return new HandshakeFramer();
      }
    }
    const conn = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(peer.port),
      transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
    })
      .addFramer(new HandshakeFramer())
      .initiate();
    cleanups.push(() => conn.abort());
    let readyAfterPeerHello: boolean | undefined;
    conn.on("ready", () => (readyAfterPeerHello = peerHelloSent));
    await conn.ready;
    expect(readyAfterPeerHello).toBe(true);
  });

  it("framer metadata round trip via messageContext.add(framer, key, value) / get(framer, key)", async () => {
    /** One type byte before each length-prefixed Message; the type travels as framer metadata. */
    class TypedFramer implements Framer {
      readonly name = "typed";
      newSentMessage(ctl: FramerControl, data: Uint8Array, ctx: MessageContext): void {
        const type = (ctx.get(this.key, "type") as number | undefined) ?? 0;
        const out = Buffer.alloc(5 + data.length);
        out[0] = type;
        out.writeUInt32BE(data.length, 1);
        out.set(data, 5);
        ctl.send(out);
      }
      handleReceivedData(ctl: FramerControl): void {
        for (;;) {
          const h = ctl.parse(5, 5);
          if (!h) return;
          const n = Buffer.from(h).readUInt32BE(1);
          if (ctl.receiveBufferLength < 5 + n) return;
          const ctx = new MessageContext().add(this.key, "type", h[0]);
          ctl.advanceReceiveCursor(5);
          ctl.deliverAndAdvanceReceiveCursor(ctx, n, true);
        }
      }
      constructor(readonly key: object) {}
    }
    const key = {}; // the application's handle on "its" framer
    const { listener, connect } = tapsPair(() => new TypedFramer(key));
    listener.on("connectionReceived", async (c) => {
      const m = await c.receive();
      const t = m.context.get(key, "type") as number;
      await c.send(m.data, new MessageContext().add(key, "type", t + 1));
    });
    await listener.ready;
    const conn = connect(listener.port!);
    await conn.send("typed", new MessageContext().add(key, "type", 41));
    const reply = await conn.receive();
    expect(reply.context.get(key, "type")).toBe(42);
    expect(Buffer.from(reply.data).toString()).toBe("typed");
    await until(() => true);
  });
});
