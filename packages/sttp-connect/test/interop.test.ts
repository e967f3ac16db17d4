import { createPki, type Pki } from "@x/test-certs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  compactToStateFlags,
  Publisher,
  type PublisherOptions,
  Subscriber,
  type SubscriberOptions,
  stateToCompactFlags,
} from "../src/index.js";
import { definitions, expectedValue, pump, waitForEvent } from "./helpers.js";

const defs = definitions(6);
let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

type Direction = "forward" | "reverse";

/** Sets up a publisher/subscriber pair in the given direction and returns both once subscribed. */
async function pair(
  direction: Direction,
  host: string,
  publisherOptions: Partial<PublisherOptions>,
  subscriberOptions: SubscriberOptions,
  filterExpression: string,
  useTls = false,
) {
  // TLS: the listening side presents the server certificate, the dialling side a client certificate.
  const listenTls = useTls
    ? { cert: pki.server.chainPem, key: pki.server.keyPem, ca: pki.root.certPem }
    : undefined;
  const dialTls = useTls
    ? { cert: pki.agent.chainPem, key: pki.agent.keyPem, ca: pki.root.certPem }
    : undefined;
  const publisherTls = direction === "forward" ? listenTls : dialTls;
  const subscriberTls = direction === "forward" ? dialTls : listenTls;
  const publisher = new Publisher({
    measurements: defs,
    noOpIntervalMs: 0,
    ...publisherOptions,
    ...(publisherTls ? { tls: publisherTls } : {}),
  });
  const subscriber = new Subscriber({
    dataLossIntervalMs: 0,
    reconnect: { retryIntervalMs: 100, jitter: 0 },
    ...subscriberOptions,
    ...(subscriberTls ? { tls: subscriberTls } : {}),
  });
  open.push(subscriber, publisher);
  const subscribedOnPublisher = waitForEvent(publisher, "subscribed");
  let message: string;
  if (direction === "forward") {
    // publisher listens, subscriber connects
    const address = await publisher.listen({ host, port: 0 });
    await subscriber.connect({ host, port: address.port });
    const info = await subscriber.subscribe({ filterExpression });
    message = info?.message ?? "";
  } else {
    // subscriber listens, publisher connects
    await subscriber.subscribe({ filterExpression });
    const address = await subscriber.listen({ host, port: 0 });
    const subscribed = waitForEvent<[{ message: string }]>(subscriber, "subscribed");
    await publisher.connect({ host, port: address.port });
    [{ message }] = await subscribed;
  }
  await subscribedOnPublisher;
  return { publisher, subscriber, message };
}

const transports = [
  { name: "TCP compact", pub: {}, sub: { compressPayload: false }, expect: /compact format over TCP/ },
  { name: "TCP TSSC", pub: {}, sub: { compressPayload: true }, expect: /TSSC format over TCP/ },
  {
    name: "TCP compact with base-time offsets",
    pub: { useBaseTimeOffsets: true },
    sub: { compressPayload: false },
    expect: /compact format over TCP/,
  },
  { name: "TCP+UDP", pub: {}, sub: { udp: {} }, expect: /compact format over UDP/ },
  {
    name: "TCP+UDP with AES",
    pub: { encryptPayload: true },
    sub: { udp: {} },
    expect: /compact format over UDP/,
  },
  {
    name: "TLS compact",
    pub: {},
    sub: { compressPayload: false },
    expect: /compact format over TCP/,
    tls: true,
  },
  { name: "TLS TSSC", pub: {}, sub: { compressPayload: true }, expect: /TSSC format over TCP/, tls: true },
  {
    name: "TLS + UDP with AES",
    pub: { encryptPayload: true },
    sub: { udp: {} },
    expect: /compact format over UDP/,
    tls: true,
  },
] as const;

describe.each(["forward", "reverse"] as const)("%s connection (both roles)", (direction) => {
  for (const host of ["127.0.0.1", "::1"]) {
    for (const t of transports) {
      it(`${t.name} on ${host}`, async () => {
        const { publisher, subscriber, message } = await pair(
          direction,
          host,
          t.pub,
          t.sub,
          "PPA:2;PPA:4;TAG:PPA5",
          "tls" in t && t.tls,
        );
        expect(message).toMatch(t.expect);
        expect(subscriber.session?.tlsProtocol).toBe("tls" in t && t.tls ? "TLSv1.3" : undefined);
        expect(subscriber.signalIndexCache?.entries.map((e) => `${e.source}:${e.id}`)).toEqual([
          "PPA:2",
          "PPA:4",
          "PPA:5",
        ]);
        const received = await pump(publisher, subscriber, defs, 60);
        const wanted = new Set([defs[1]?.signalId, defs[3]?.signalId, defs[4]?.signalId]);
        for (const m of received) {
          expect(wanted.has(m.signalId)).toBe(true);
          const expected = expectedValue(defs, m);
          expect(m.value).toBe(expected?.value);
          // TSSC carries all 32 state-flag bits; the compact format only the mapped groups.
          const flags = expected?.flags ?? -1;
          expect(m.flags).toBe(
            /TSSC/.test(message) ? flags : compactToStateFlags(stateToCompactFlags(flags)),
          );
        }
      });
    }
  }
});

describe("subscription details", () => {
  it("a second subscription on the same connection switches the cache index and resets TSSC", async () => {
    const { publisher, subscriber } = await pair(
      "forward",
      "127.0.0.1",
      {},
      { compressPayload: true },
      "PPA:1;PPA:2",
    );
    await pump(publisher, subscriber, defs, 20);
    const cacheEvent = waitForEvent<[unknown, number]>(subscriber, "signalIndexCache");
    const reset = waitForEvent<[number]>(subscriber, "tsscReset");
    const info = await subscriber.subscribe({ filterExpression: "PPA:3;PPA:6" });
    const [, cacheIndex] = await cacheEvent;
    expect(cacheIndex).toBe(1);
    expect(info?.cache.entries.map((e) => e.id)).toEqual([3n, 6n]);
    const received = await pump(publisher, subscriber, defs, 20);
    const [sequenceBeforeReset] = await reset;
    expect(sequenceBeforeReset).toBeGreaterThan(0);
    expect(new Set(received.map((m) => m.signalId))).toEqual(new Set([defs[2]?.signalId, defs[5]?.signalId]));
  });

  it("millisecond-resolution timestamps round to whole milliseconds with base-time offsets", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0, useBaseTimeOffsets: true });
    const subscriber = new Subscriber({ dataLossIntervalMs: 0, compressPayload: false });
    open.push(subscriber, publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await subscriber.connect({ host: "127.0.0.1", port });
    await subscriber.subscribe({ filterExpression: "PPA:1", useMillisecondResolution: true });
    const received = await pump(publisher, subscriber, defs, 10);
    for (const m of received) expect(m.timestamp % 10_000n).toBe(0n);
  });

  it("metadata arrives as gzip-compressed XML and is returned decompressed", async () => {
    const { subscriber } = await pair("forward", "127.0.0.1", {}, {}, "PPA:1");
    const xml = await subscriber.requestMetadata();
    expect(xml).toContain("<MeasurementDetail>");
    expect(xml.match(/<MeasurementDetail>/g)).toHaveLength(defs.length);
    expect(xml).toContain(defs[0]?.signalId);
  });

  it("notifications are confirmed and user commands answered", async () => {
    const { publisher, subscriber } = await pair("forward", "127.0.0.1", {}, {}, "PPA:1");
    const client = publisher.clients[0];
    if (!client) throw new Error("no client");
    const note = waitForEvent<[string]>(subscriber, "notification");
    client.notify("maintenance at 02:00");
    expect((await note)[0]).toBe("maintenance at 02:00");
    const changed = waitForEvent(subscriber, "configurationChanged");
    client.configurationChanged();
    await changed;
    publisher.on("userCommand", (c, index, payload) =>
      c.sendUserResponse(index, 0xd0 + index, Buffer.from(`echo:${payload.toString()}`)),
    );
    const answer = waitForEvent<[number, number, Buffer]>(subscriber, "userResponse");
    subscriber.sendUserCommand(3, Buffer.from("ping"));
    const [index, inResponseTo, payload] = await answer;
    expect([index, inResponseTo, payload.toString()]).toEqual([3, 0xd3, "echo:ping"]);
    expect(client.pendingNotifications).toBe(0);
  });

  it("buffer blocks arrive in order over TCP and over the UDP data channel, and are confirmed", async () => {
    for (const sub of [{}, { udp: {} }]) {
      const { publisher, subscriber } = await pair("forward", "127.0.0.1", {}, sub, "PPA:1;PPA:2");
      const client = publisher.clients[0];
      if (!client) throw new Error("no client");
      const blocks: { sequence: number; signalId: string | undefined; data: Buffer }[] = [];
      subscriber.on("bufferBlock", (b) => blocks.push(b));
      const third = waitForEvent(subscriber, "bufferBlock", () => blocks.length >= 3);
      expect(client.publishBufferBlock(defs[1]?.signalId as string, Buffer.from("first"))).toBe(true);
      client.publishBufferBlock(defs[0]?.signalId as string, Buffer.from("second"));
      client.publishBufferBlock(defs[1]?.signalId as string, Buffer.from("third"));
      expect(client.publishBufferBlock(defs[5]?.signalId as string, Buffer.from("not subscribed"))).toBe(
        false,
      );
      await third;
      expect(blocks.map((b) => [b.sequence, b.signalId, b.data.toString()])).toEqual([
        [0, defs[1]?.signalId, "first"],
        [1, defs[0]?.signalId, "second"],
        [2, defs[1]?.signalId, "third"],
      ]);
      await Promise.all(open.splice(0).map((o) => o.close()));
    }
  });

  it("a publisher serves many subscribers, each with its own selection", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0 });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "::1", port: 0 });
    const selections = ["PPA:1", "PPA:2;PPA:3", "PPA:6"];
    const subscribers = selections.map(
      (_, i) => new Subscriber({ dataLossIntervalMs: 0, compressPayload: i % 2 === 0 }),
    );
    open.push(...subscribers);
    for (const [i, s] of subscribers.entries()) {
      await s.connect({ host: "::1", port });
      await s.subscribe({ filterExpression: selections[i] as string });
    }
    expect(publisher.clients).toHaveLength(3);
    const received = subscribers.map(() => new Set<string>());
    for (const [i, s] of subscribers.entries()) {
      s.on("measurements", (ms) => {
        for (const m of ms) received[i]?.add(m.signalId);
      });
    }
    await pump(publisher, subscribers[1] as Subscriber, defs, 20);
    await pump(publisher, subscribers[0] as Subscriber, defs, 5);
    await pump(publisher, subscribers[2] as Subscriber, defs, 5);
    expect(received.map((r) => r.size)).toEqual([1, 2, 1]);
    expect([...(received[2] ?? [])]).toEqual([defs[5]?.signalId]);
  });

  it("a publisher at its connection limit refuses further subscribers with Failed(Connect)", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0, maxConnections: 1 });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    const first = new Subscriber({ dataLossIntervalMs: 0 });
    const second = new Subscriber({ dataLossIntervalMs: 0, reconnect: { maxRetries: 0 } });
    open.push(first, second);
    await first.connect({ host: "127.0.0.1", port });
    await expect(second.connect({ host: "127.0.0.1", port })).rejects.toMatchObject({
      code: "ERR_STTP_REFUSED",
      commandCode: 0x00,
    });
    expect(publisher.clients).toHaveLength(1);
  });

  it("a FILTER expression naming an unknown table is refused with a typed error", async () => {
    const { subscriber } = await pair("forward", "127.0.0.1", {}, {}, "PPA:1");
    await expect(
      subscriber.subscribe({ filterExpression: "FILTER NoSuchTable WHERE SignalType='FREQ'" }),
    ).rejects.toMatchObject({
      code: "ERR_STTP_COMMAND_FAILED",
      commandCode: 0x02,
    });
  });

  it("a gsfapi-style silent publisher (no answer to DefineOperationalModes) is accepted", async () => {
    const handshake: { accepted: boolean | undefined }[] = [];
    const publisher = new Publisher({
      measurements: defs,
      noOpIntervalMs: 0,
      replyToOperationalModes: false,
    });
    const subscriber = new Subscriber({ dataLossIntervalMs: 0, operationalModesTimeoutMs: 200 });
    open.push(subscriber, publisher);
    subscriber.on("handshake", (h) => handshake.push(h));
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await subscriber.connect({ host: "127.0.0.1", port });
    await subscriber.subscribe({ filterExpression: "PPA:1" });
    expect(handshake).toEqual([{ accepted: undefined, message: expect.stringContaining("no answer") }]);
    expect((await pump(publisher, subscriber, defs, 5)).length).toBeGreaterThanOrEqual(5);
  });

  it("the UDP data channel rotates AES keys on request and keeps decoding", async () => {
    const { publisher, subscriber } = await pair(
      "forward",
      "127.0.0.1",
      { encryptPayload: true, cipherKeyRotationMs: 0 },
      { udp: {} },
      "PPA:1;PPA:2",
    );
    await pump(publisher, subscriber, defs, 10);
    const rotated = waitForEvent<[number]>(subscriber, "cipherKeys");
    subscriber.rotateCipherKeys();
    expect((await rotated)[0]).toBe(1);
    const received = await pump(publisher, subscriber, defs, 20);
    expect(received.every((m) => expectedValue(defs, m)?.value === m.value)).toBe(true);
  });

  it("NoOP keep-alives keep a quiet connection above the data-loss watchdog", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 100 });
    const subscriber = new Subscriber({ dataLossIntervalMs: 1500 });
    open.push(subscriber, publisher);
    const disconnected: unknown[] = [];
    subscriber.on("disconnected", (r) => disconnected.push(r));
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await subscriber.connect({ host: "127.0.0.1", port });
    await new Promise((r) => setTimeout(r, 2500));
    expect(disconnected).toEqual([]);
    expect(subscriber.session?.bytesReceived).toBeGreaterThan(6 * 5);
  });
});
