/**
 * Hostile input: oversized frames, slowloris upgrade requests, random bytes before and after the
 * upgrade. The server must keep serving a well-behaved Agent and lose none of its Records.
 */
import * as net from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createWebSocketMtp, type WebSocketMtp } from "../src/index.js";
import { Cleanup, collect, getRecord, until } from "./helpers.js";

const AGENT = "proto::agent";
const CONTROLLER = "proto::controller";
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function setup(
  listen: Parameters<typeof createWebSocketMtp>[0]["listen"] = {},
  maxRecordSize?: number,
) {
  const server = cleanup.mtp(
    createWebSocketMtp({
      role: "controller",
      endpointId: CONTROLLER,
      listen: { port: 0, ...listen },
      maxRecordSize,
    }),
  );
  await server.open();
  const seen = collect(server);
  const agent = cleanup.mtp(
    createWebSocketMtp({
      role: "agent",
      endpointId: AGENT,
      peers: [{ url: server.url as string, endpointId: CONTROLLER }],
    }),
  );
  await agent.open();
  return { server, seen, agent, port: server.address?.port as number };
}

/** The good Agent sends `count` Records; all must arrive, in order. */
async function goodTraffic(
  agent: WebSocketMtp,
  seen: ReturnType<typeof collect>,
  tag: string,
  count: number,
) {
  const before = seen.records.filter((r) => r.record.recordType?.$case === "noSessionContext").length;
  for (let i = 0; i < count; i++) await agent.send(CONTROLLER, getRecord(CONTROLLER, AGENT, `${tag}-${i}`));
  await until(
    `${count} good Records`,
    () =>
      seen.records.filter((r) => r.record.recordType?.$case === "noSessionContext").length >= before + count,
  );
}

function rawSocket(port: number): net.Socket {
  const s = net.connect(port, "127.0.0.1");
  s.on("error", () => undefined);
  s.resume(); // read (and discard) the server's answer, or 'close' never comes
  cleanup.add(() => s.destroy(), undefined);
  return s;
}

function closedSocket(s: net.Socket): Promise<void> {
  return new Promise((resolve) => (s.closed ? resolve() : s.once("close", () => resolve())));
}

describe("bad input", () => {
  it("closes an oversized frame with 1009 and keeps serving the others", async () => {
    const { seen, agent, server } = await setup({}, 64 * 1024);
    const ws = new WebSocket(`${server.url}?eid=proto%3A%3Abig`, ["v1.usp"], { perMessageDeflate: false });
    cleanup.add(() => ws.terminate(), undefined);
    await new Promise((resolve) => ws.once("open", resolve));
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send(Buffer.alloc(64 * 1024 + 1));
    expect(await closed).toBe(1009);
    await goodTraffic(agent, seen, "after-big", 50);
  });

  it("drops slowloris upgrade requests after the handshake timeout and keeps serving the others", async () => {
    const { seen, agent, port } = await setup({ handshakeTimeoutMs: 1000 });
    const request =
      "GET /usp?eid=proto%3A%3Aslow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    const slow = Array.from({ length: 20 }, () => rawSocket(port));
    let i = 0;
    const drip = setInterval(() => {
      for (const s of slow) if (!s.destroyed && i < request.length) s.write(request[i] ?? "");
      i++;
    }, 50);
    cleanup.add(() => clearInterval(drip), undefined);
    await goodTraffic(agent, seen, "during-slowloris", 200);
    await Promise.all(slow.map(closedSocket));
    clearInterval(drip);
    await goodTraffic(agent, seen, "after-slowloris", 50);
    expect(seen.connected.map((p) => p.endpointId)).toEqual([AGENT]);
  });

  it("survives random bytes instead of an HTTP request", async () => {
    const { seen, agent, port } = await setup({ handshakeTimeoutMs: 1000 });
    // Random prefixes can look like the start of a request, so they are closed by the timeout:
    // send them all at once and wait until the server dropped every one.
    const inputs = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 2048 }), { numRuns: 40, seed: 5 });
    const sockets = inputs.map((bytes) => {
      const s = rawSocket(port);
      s.end(Buffer.from(bytes));
      return s;
    });
    await goodTraffic(agent, seen, "during-random-http", 100);
    await Promise.all(sockets.map(closedSocket));
    await goodTraffic(agent, seen, "after-random-http", 50);
  });

  it("survives random bytes after a valid upgrade (bad frames, bad Records)", async () => {
    const { seen, agent, server } = await setup();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 4096 }),
        fc.boolean(),
        async (bytes, asFrame) => {
          const ws = new WebSocket(`${server.url}?eid=proto%3A%3Afuzz-${n++}`, ["v1.usp"], {
            perMessageDeflate: false,
          });
          ws.on("error", () => undefined);
          await new Promise((resolve) => ws.once("open", resolve));
          const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
          // As a binary message (a bad Record) or straight onto the TCP stream (bad WebSocket framing).
          if (asFrame) ws.send(bytes);
          else (ws as unknown as { _socket: net.Socket })._socket.write(Buffer.from(bytes));
          setTimeout(() => ws.terminate(), 200).unref();
          await closed;
        },
      ),
      { numRuns: 40 },
    );
    await goodTraffic(agent, seen, "after-random-frames", 50);
    expect(seen.records.filter((r) => r.fromId !== AGENT)).toEqual([]);
  });
});
