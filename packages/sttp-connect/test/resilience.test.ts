import { type ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  encodeResponse,
  type Measurement,
  Publisher,
  type ReconnectingEvent,
  SttpError,
  Subscriber,
} from "../src/index.js";
import { definitions, pump, waitForEvent } from "./helpers.js";

const bin = join(import.meta.dirname, "..", "bin", "sttp-connect.js");
const defs = definitions(4);
const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** Starts the built CLI as a publisher and resolves with its port once it listens. */
function startPublisherProcess(port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [bin, "publish", String(port), "--host", "127.0.0.1", "--json", "--rate", "50"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  open.push({ close: () => void child.kill("SIGKILL") });
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`publisher did not start: ${text}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split("\n").find((l) => l.includes('"listening"'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, port: (JSON.parse(line) as { port: number }).port });
      }
    });
    child.once("exit", (code) => reject(new Error(`publisher exited with ${code}: ${text}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

describe("reconnect", () => {
  it("the publisher process is stopped and restarted: the subscriber reconnects on schedule and resubscribes", async () => {
    const first = await startPublisherProcess(0);
    const subscriber = new Subscriber({
      compressPayload: true,
      dataLossIntervalMs: 0,
      reconnect: { retryIntervalMs: 200, maxRetryIntervalMs: 800, jitter: 0 },
    });
    open.push(subscriber);
    const caches: number[] = [];
    const subscribedMessages: string[] = [];
    const reconnecting: ReconnectingEvent[] = [];
    subscriber.on("signalIndexCache", (cache) => caches.push(cache.size));
    subscriber.on("subscribed", (info) => subscribedMessages.push(info.message));
    subscriber.on("reconnecting", (event) => reconnecting.push(event));
    await subscriber.connect({ host: "127.0.0.1", port: first.port });
    await subscriber.subscribe({ filterExpression: "PPA:1;PPA:2;PPA:3;PPA:4" });
    await waitForEvent<[Measurement[]]>(subscriber, "measurements");
    const firstSession = subscriber.session;

    const disconnected = waitForEvent<[Error | undefined]>(subscriber, "disconnected");
    first.child.kill("SIGKILL");
    await exited(first.child);
    const [reason] = await disconnected;
    expect(reason).toBeInstanceOf(SttpError);
    // let a few redials fail against the closed port
    await waitForEvent(subscriber, "reconnecting", () => reconnecting.length >= 3, 30_000);

    const resubscribed = waitForEvent(subscriber, "subscribed", () => true, 30_000);
    let packetsAfter = 0;
    const [after] = await (async () => {
      const restarted = startPublisherProcess(first.port);
      await resubscribed;
      subscriber.on("measurements", () => packetsAfter++);
      await restarted;
      return waitForEvent<[Measurement[]]>(subscriber, "measurements", () => true, 30_000);
    })();

    expect(reconnecting.slice(0, 4).map((e) => [e.retry, e.delayMs])).toEqual(
      [
        [1, 200],
        [2, 400],
        [3, 800],
        [4, 800],
      ].slice(0, Math.min(4, reconnecting.length)),
    );
    expect(subscriber.session).not.toBe(firstSession);
    expect(caches).toEqual([4, 4]);
    expect(subscribedMessages).toHaveLength(2);
    expect(subscribedMessages[1]).toMatch(/TSSC format over TCP with 4 signals/);
    // TSSC started over on the new connection: its decoder began at sequence 0 and has advanced
    // exactly once per packet decoded since (a stale decoder would have skipped them all).
    expect(after.length).toBeGreaterThan(0);
    expect(subscriber.session?.tsscSequenceNumber).toBeGreaterThanOrEqual(1);
    expect(subscriber.session?.tsscSequenceNumber).toBeLessThanOrEqual(packetsAfter + 1);
  });

  it("a refused connection does not reset the retry counter; retries are bounded", async () => {
    const publisher = new Publisher({
      measurements: defs,
      noOpIntervalMs: 0,
      acceptSubscriber: () => "maintenance",
    });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    const subscriber = new Subscriber({
      dataLossIntervalMs: 0,
      reconnect: { retryIntervalMs: 50, jitter: 0, maxRetries: 3 },
    });
    open.push(subscriber);
    const events: ReconnectingEvent[] = [];
    subscriber.on("reconnecting", (e) => events.push(e));
    await expect(subscriber.connect({ host: "127.0.0.1", port })).rejects.toMatchObject({
      code: "ERR_STTP_REFUSED",
      commandCode: 0x06,
    });
    expect(events.map((e) => [e.retry, e.delayMs, e.error.constructor.name])).toEqual([
      [1, 50, "SttpRefusedError"],
      [2, 100, "SttpRefusedError"],
      [3, 200, "SttpRefusedError"],
    ]);
  });

  it("connecting can be cancelled with an AbortSignal", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((r) => server.close(() => r()));
    const subscriber = new Subscriber({ reconnect: { retryIntervalMs: 10_000, jitter: 0 } });
    open.push(subscriber);
    const controller = new AbortController();
    subscriber.once("reconnecting", () => controller.abort());
    await expect(
      subscriber.connect({ host: "127.0.0.1", port, signal: controller.signal }),
    ).rejects.toMatchObject({ code: "ERR_STTP_ABORTED" });
  });

  it("the data-loss watchdog restarts a connection that went quiet", async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.once("data", () => socket.write(encodeResponse(0x80, 0x06, Buffer.from("accepted"))));
    });
    open.push({
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    const subscriber = new Subscriber({
      dataLossIntervalMs: 400,
      reconnect: { retryIntervalMs: 100, jitter: 0 },
    });
    open.push(subscriber);
    await subscriber.connect({ host: "127.0.0.1", port });
    const [reason] = await waitForEvent<[Error | undefined]>(subscriber, "disconnected");
    expect(reason).toMatchObject({ code: "ERR_STTP_DATA_LOSS" });
    const [event] = await waitForEvent<[ReconnectingEvent]>(subscriber, "reconnecting");
    expect(event.retry).toBe(1);
  });

  it("a reverse publisher redials a listening subscriber after the connection drops", async () => {
    const subscriber = new Subscriber({ dataLossIntervalMs: 0 });
    open.push(subscriber);
    await subscriber.subscribe({ filterExpression: "PPA:1" });
    const { port } = await subscriber.listen({ host: "127.0.0.1", port: 0 });
    const publisher = new Publisher({
      measurements: defs,
      noOpIntervalMs: 0,
      reconnect: { retryIntervalMs: 100, jitter: 0 },
    });
    open.push(publisher);
    const firstSubscribed = waitForEvent(subscriber, "subscribed");
    const client = await publisher.connect({ host: "127.0.0.1", port });
    await firstSubscribed;
    const again = waitForEvent(subscriber, "subscribed");
    client.socket.destroy();
    await again;
    expect((await pump(publisher, subscriber, defs, 3)).length).toBeGreaterThanOrEqual(3);
  });

  it("a listening subscriber takes one publisher at a time", async () => {
    const subscriber = new Subscriber({ dataLossIntervalMs: 0 });
    open.push(subscriber);
    await subscriber.subscribe({ filterExpression: "PPA:1" });
    const { port } = await subscriber.listen({ host: "127.0.0.1", port: 0 });
    const first = new Publisher({ measurements: defs, noOpIntervalMs: 0 });
    const second = new Publisher({
      measurements: defs,
      noOpIntervalMs: 0,
      reconnect: { autoReconnect: false },
    });
    open.push(first, second);
    const subscribed = waitForEvent(subscriber, "subscribed");
    await first.connect({ host: "127.0.0.1", port });
    await subscribed;
    const warning = waitForEvent<[string]>(subscriber, "warning", (w) => /one publisher at a time/.test(w));
    await second.connect({ host: "127.0.0.1", port });
    await warning;
    expect((await pump(first, subscriber, defs, 3)).length).toBeGreaterThanOrEqual(3);
  });
});

describe("hostile peers", () => {
  it("a subscriber that stops reading is disconnected once its send buffer limit is exceeded", async () => {
    const many = definitions(200);
    const publisher = new Publisher({ measurements: many, noOpIntervalMs: 0, maxBufferedBytes: 256 * 1024 });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    const subscriber = new Subscriber({
      compressPayload: false,
      dataLossIntervalMs: 0,
      reconnect: { autoReconnect: false },
    });
    open.push(subscriber);
    await subscriber.connect({ host: "127.0.0.1", port });
    await subscriber.subscribe({ filterExpression: many.map((d) => `PPA:${d.id}`).join(";") });
    subscriber.session?.socket.pause();
    const dropped = waitForEvent<[unknown, Error | undefined]>(publisher, "clientDisconnected");
    const frameData = many.map((d, i) => ({
      signalId: d.signalId,
      value: i,
      timestamp: 638_000_000_000_000_000n,
      flags: 0,
    }));
    // Bounded: at most 2 000 frames (~7 MB) before the limit must have been hit.
    for (let k = 0; k < 2000 && publisher.clients.length > 0; k++) {
      publisher.publish(frameData);
      if (k % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    const [, reason] = await dropped;
    expect(reason?.message).toMatch(/too slow/);
  });

  it("fuzz: random bytes sent to a publisher close that connection only", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0 });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        socket.on("error", () => undefined);
        await new Promise<void>((r) => socket.once("connect", () => r()));
        socket.write(bytes);
        // Close our side after a moment unless the publisher already did; it must never crash.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            socket.destroy();
            resolve();
          }, 50);
          socket.once("close", () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }),
      { numRuns: 25 },
    );
    const subscriber = new Subscriber({ dataLossIntervalMs: 0 });
    open.push(subscriber);
    await subscriber.connect({ host: "127.0.0.1", port });
    await subscriber.subscribe({ filterExpression: "PPA:1" });
    expect((await pump(publisher, subscriber, defs, 2)).length).toBeGreaterThanOrEqual(2);
  });

  it("a non-STTP client (HTTP) and a first command other than DefineOperationalModes are cut off", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0 });
    open.push(publisher);
    const warnings: string[] = [];
    publisher.on("warning", (w) => warnings.push(w));
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    for (const bytes of [
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      Buffer.from("0000000101", "hex"),
    ]) {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.on("error", () => undefined);
      socket.write(bytes);
      await new Promise<void>((r) => socket.once("close", () => r()));
    }
    expect(warnings[0]).toMatch(/first frame of \d+ bytes exceeds the limit of 8193 bytes/);
    expect(warnings[1]).toMatch(/not DefineOperationalModes: possible non-STTP client/);
  });

  it("fuzz: random and truncated frames from a publisher give a typed error and a clean disconnect", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.boolean(),
        async (bytes, prefixAccept) => {
          const sockets: net.Socket[] = [];
          const server = net.createServer((socket) => {
            sockets.push(socket);
            socket.once("data", () => {
              if (prefixAccept) socket.write(encodeResponse(0x80, 0x06, Buffer.from("ok")));
              socket.write(bytes);
              socket.end();
            });
          });
          await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
          const { port } = server.address() as net.AddressInfo;
          const subscriber = new Subscriber({
            dataLossIntervalMs: 0,
            operationalModesTimeoutMs: 100,
            reconnect: { maxRetries: 0, autoReconnect: false },
          });
          const reasons: (Error | undefined)[] = [];
          subscriber.on("disconnected", (r) => reasons.push(r));
          try {
            const disconnected = waitForEvent(subscriber, "disconnected", () => true, 10_000);
            disconnected.catch(() => undefined);
            await subscriber.connect({ host: "127.0.0.1", port });
            await disconnected;
          } catch (error) {
            expect(error).toBeInstanceOf(SttpError);
          } finally {
            await subscriber.close();
            for (const s of sockets) s.destroy();
            await new Promise<void>((r) => server.close(() => r()));
          }
          for (const reason of reasons) if (reason) expect(reason).toBeInstanceOf(SttpError);
          expect(reasons.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 20 },
    );
  });
});
