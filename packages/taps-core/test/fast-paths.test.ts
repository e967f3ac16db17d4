/**
 * The small-Message fast paths: the Deque behind the send and inbound queues, reading a length
 * prefix in place, the payload handed to the transport without a copy, messages() as a Receive
 * request of its own (it must behave like the async generator it replaced), and many small
 * Messages end to end.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ByteQueue } from "../src/byte-queue.js";
import { Deque } from "../src/deque.js";
import { FramerStack } from "../src/framer.js";
import {
  type Connection,
  type Framer,
  type FramerControl,
  LengthPrefixFramer,
  LocalEndpoint,
  MessageContext,
  Preconnection,
  ReceiveError,
  RemoteEndpoint,
  TransportProperties,
} from "../src/index.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("Deque", () => {
  it("is a FIFO across many pushes and shifts, with removal in the middle", () => {
    const q = new Deque<number>();
    const model: number[] = [];
    let n = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 97; i++) {
        q.push(n);
        model.push(n++);
      }
      for (let i = 0; i < 61 + (round % 7); i++) expect(q.shift()).toBe(model.shift());
      if (round % 5 === 0 && model.length > 3) {
        const victim = model[2]!;
        expect(q.indexOf(victim)).toBe(2);
        expect(q.removeAt(2)).toBe(victim);
        model.splice(2, 1);
      }
      expect(q.length).toBe(model.length);
      expect(q.at(0)).toBe(model[0]);
      expect(q.last()).toBe(model[model.length - 1]);
      expect(q.findIndex((x) => x > model[4]!)).toBe(5);
    }
    expect([...q]).toEqual(model);
    expect(q.drain()).toEqual(model);
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    expect(q.at(0)).toBeUndefined();
    expect(q.last()).toBeUndefined();
    q.push(1);
    expect(q.shift()).toBe(1);
    expect(q.length).toBe(0);
  });
});

describe("ByteQueue.readUIntBE", () => {
  it("reads 1, 2 and 4 bytes across chunk boundaries without consuming", () => {
    const q = new ByteQueue();
    q.push(Buffer.from([0x12]));
    q.push(Buffer.from([0x34, 0x56]));
    q.push(Buffer.from([0x78, 0x9a]));
    expect(q.readUIntBE(1)).toBe(0x12);
    expect(q.readUIntBE(2)).toBe(0x1234);
    expect(q.readUIntBE(4)).toBe(0x12345678);
    q.skip(1);
    expect(q.readUIntBE(4)).toBe(0x3456789a);
    q.skip(3);
    expect(q.readUIntBE(1)).toBe(0x9a);
    expect(q.length).toBe(1);
    expect(() => q.readUIntBE(2)).toThrow(RangeError);
  });

  it("reads a 4-byte length at or above 2^31 as unsigned", () => {
    const q = new ByteQueue();
    q.push(Buffer.from([0xff, 0xff]));
    q.push(Buffer.from([0xff, 0xfe]));
    expect(q.readUIntBE(4)).toBe(0xfffffffe);
  });
});

describe("LengthPrefixFramer output", () => {
  /** A framer that records what reaches it from the framer above, and passes it on unchanged. */
  function recorder(seen: { length: number; eom: boolean }[]): Framer {
    return {
      name: "recorder",
      newSentMessage(ctl: FramerControl, data: Uint8Array, _ctx: MessageContext, eom: boolean) {
        seen.push({ length: data.length, eom });
        ctl.send(data, eom);
      },
      handleReceivedData(ctl: FramerControl) {
        const n = ctl.receiveBufferLength;
        if (n > 0) ctl.deliverAndAdvanceReceiveCursor(new MessageContext(), n, false);
      },
    };
  }

  it("next to the transport: the same bytes, the payload passed on as it is", () => {
    const wire: Uint8Array[] = [];
    const stack = new FramerStack([new LengthPrefixFramer()], {
      writeToTransport: (d) => wire.push(d),
      deliverToApplication: () => {},
      framersReady: () => {},
      framerClosed: () => {},
      framerFailed: (e) => {
        throw e;
      },
    });
    stack.start();
    const payload = Buffer.from("hello");
    stack.frame(payload, new MessageContext(), true);
    expect(Buffer.concat(wire)).toEqual(Buffer.from([0, 0, 0, 5, ...payload]));
    expect(wire[wire.length - 1]).toBe(payload);
  });

  it("above another framer: one piece per small Message, as before", () => {
    const seen: { length: number; eom: boolean }[] = [];
    const wire: Buffer[] = [];
    const stack = new FramerStack([recorder(seen), new LengthPrefixFramer()], {
      writeToTransport: (d) => wire.push(Buffer.from(d)),
      deliverToApplication: () => {},
      framersReady: () => {},
      framerClosed: () => {},
      framerFailed: (e) => {
        throw e;
      },
    });
    stack.start();
    stack.frame(Buffer.from("abc"), new MessageContext(), true);
    expect(seen).toEqual([{ length: 7, eom: true }]);
    expect(Buffer.concat(wire)).toEqual(Buffer.from([0, 0, 0, 3, 0x61, 0x62, 0x63]));
  });
});

async function framedPair(): Promise<{ client: Connection; server: Connection }> {
  const tp = new TransportProperties().require("preserve-msg-boundaries");
  const lp = new Preconnection({
    local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
    transportProperties: tp,
  });
  lp.addFramer(new LengthPrefixFramer());
  const listener = lp.listen();
  const accepted = new Promise<Connection>((r) => listener.once("connectionReceived", r));
  await listener.ready;
  const pre = new Preconnection({
    remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(listener.port!),
    transportProperties: tp,
  });
  pre.addFramer(new LengthPrefixFramer());
  const client = pre.initiate();
  await client.ready;
  const server = await accepted;
  cleanups.push(async () => {
    client.abort();
    server.abort();
    await listener.stop();
  });
  return { client, server };
}

const text = (r: IteratorResult<{ data: Uint8Array }, unknown>) =>
  r.done ? { done: true, value: r.value } : { done: false, value: Buffer.from(r.value.data).toString() };

describe("messages()", () => {
  it("looks like an async generator", async () => {
    const { server } = await framedPair();
    const it = server.messages();
    expect(Object.prototype.toString.call(it)).toBe("[object AsyncGenerator]");
    expect(it[Symbol.asyncIterator]()).toBe(it);
    await it.return(undefined);
  });

  it("queues next/return/throw made while a Receive is pending, like a generator", async () => {
    const { client, server } = await framedPair();
    const received: string[] = [];
    server.on("received", (d) => received.push(Buffer.from(d).toString()));
    const it = server.messages();
    const order: string[] = [];
    const steps = [it.next(), it.next(), it.return(Promise.resolve(7)), it.next()].map((p, i) =>
      p.then((r) => {
        order.push(`step ${i}`);
        return text(r);
      }),
    );
    await client.send(Buffer.from("a"));
    await client.send(Buffer.from("b"));
    await client.send(Buffer.from("c"));
    expect(await Promise.all(steps)).toEqual([
      { done: false, value: "a" },
      { done: false, value: "b" },
      { done: true, value: 7 },
      { done: true, value: undefined },
    ]);
    expect(order).toEqual(["step 0", "step 1", "step 2", "step 3"]);
    // Two Receives were made: "c" stays for the next one.
    expect(received).toEqual(["a", "b"]);
    expect(text(await it.next())).toEqual({ done: true, value: undefined });
    expect(text(await server.messages().next())).toEqual({ done: false, value: "c" });
  });

  it("throw(): rejects at the start, ends quietly on a final/closed ReceiveError, rethrows others", async () => {
    const { client, server } = await framedPair();
    const a = server.messages();
    await expect(a.throw(new Error("boom"))).rejects.toThrow("boom");
    expect((await a.next()).done).toBe(true);

    await client.send(Buffer.from("x"));
    const b = server.messages();
    expect(text(await b.next())).toEqual({ done: false, value: "x" });
    expect((await b.throw(new ReceiveError("gone", { reason: "closed" }))).done).toBe(true);
    expect((await b.next()).done).toBe(true);

    await client.send(Buffer.from("y"));
    const c = server.messages();
    expect(text(await c.next())).toEqual({ done: false, value: "y" });
    await expect(c.throw(new ReceiveError("bad", { reason: "invalid" }))).rejects.toThrow("bad");
    expect((await c.next()).done).toBe(true);
  });

  it("rejects once on an invalid Receive, then is done", async () => {
    const { server } = await framedPair();
    const it = server.messages({ maxLength: 0 });
    await expect(it.next()).rejects.toBeInstanceOf(ReceiveError);
    expect((await it.next()).done).toBe(true);
  });

  it("ends when the peer closes, and a for-await break leaves later Messages for the next loop", async () => {
    const { client, server } = await framedPair();
    for (const m of ["1", "2", "3"]) void client.send(Buffer.from(m));
    const seen: string[] = [];
    for await (const m of server.messages()) {
      seen.push(Buffer.from(m.data).toString());
      break;
    }
    const rest = server.messages();
    const pending = rest.next();
    expect(text(await pending)).toEqual({ done: false, value: "2" });
    expect(text(await rest.next())).toEqual({ done: false, value: "3" });
    const last = rest.next();
    const closing = client.close();
    expect((await last).done).toBe(true);
    expect((await rest.next()).done).toBe(true);
    await Promise.all([server.close(), closing]);
    expect(seen).toEqual(["1"]);
  });
});

describe("many small Messages", () => {
  it("arrive whole and in order; every Send gets Sent, in order, and resolves with its context", async () => {
    const { client, server } = await framedPair();
    const count = 3000;
    const payload = (i: number) => Buffer.from(`message ${i} `.repeat((i % 13) + 1));
    const sentOrder: MessageContext[] = [];
    client.on("sent", (ctx) => sentOrder.push(ctx));
    const contexts: MessageContext[] = [];
    const receiving = (async () => {
      let i = 0;
      for await (const m of server.messages()) {
        expect(m.endOfMessage).toBe(true);
        expect(m.partial).toBe(false);
        expect(Buffer.from(m.data)).toEqual(payload(i));
        if (++i === count) return i;
      }
      return i;
    })();
    const sends: Promise<MessageContext>[] = [];
    for (let i = 0; i < count; i++) {
      const ctx = new MessageContext();
      contexts.push(ctx);
      sends.push(client.send(payload(i), ctx));
    }
    const resolved = await Promise.all(sends);
    expect(resolved).toEqual(contexts);
    for (let i = 0; i < count; i++) expect(resolved[i]).toBe(contexts[i]);
    expect(sentOrder.length).toBe(count);
    for (let i = 0; i < count; i++) expect(sentOrder[i]).toBe(contexts[i]);
    expect(await receiving).toBe(count);
  });
});
