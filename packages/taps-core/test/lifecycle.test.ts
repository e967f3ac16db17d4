import { rmSync } from "node:fs";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Connection,
  type ConnectionError,
  InitiateError,
  LengthPrefixFramer,
  ListenError,
  LocalEndpoint,
  Preconnection,
  PropertyError,
  RemoteEndpoint,
  SecurityParameters,
  TransportProperties,
} from "../src/index.js";
import { netServer, record, until } from "./helpers.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tapsListener(tp = new TransportProperties(), framed = false) {
  const pre = new Preconnection({
    local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
    transportProperties: tp,
  });
  if (framed) pre.addFramer(new LengthPrefixFramer());
  const l = pre.listen();
  cleanups.push(() => l.stop());
  return l;
}

function client(port: number, tp = new TransportProperties(), framed = false): Connection {
  const pre = new Preconnection({
    remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(port),
    transportProperties: tp,
  });
  if (framed) pre.addFramer(new LengthPrefixFramer());
  const c = pre.initiate({ timeout: 15_000 });
  cleanups.push(() => c.abort());
  return c;
}

describe("protocol selection by properties", () => {
  it("defaults select TCP; the unreliable-datagram profile selects UDP; Require that nothing meets fails naming the property", async () => {
    const tcp = await netServer((s) => s.end());
    cleanups.push(() => tcp.close());
    const c1 = client(tcp.port);
    await c1.ready;
    expect(c1.protocolStack).toBe("tcp");
    expect(c1.getProperties().get("reliability")).toBe("require");

    const c2 = client(tcp.port, TransportProperties.profile("unreliable-datagram"));
    await c2.ready;
    expect(c2.protocolStack).toBe("udp");
    expect(c2.getProperties().get("reliability")).toBe("ignore");
    await c2.close();

    for (const property of ["per-msg-reliability", "zero-rtt-msg", "multistreaming", "retransmit-notify"]) {
      const c = client(tcp.port, new TransportProperties().require(property));
      const log = record(c);
      const error = (await c.ready.catch((e: unknown) => e)) as InitiateError;
      expect(error).toBeInstanceOf(InitiateError);
      expect(error.reason).toBe("selection");
      expect(error.property).toBe(property);
      expect(c.timeline).toEqual([]); // nothing was attempted
      await new Promise((r) => setTimeout(r, 5));
      expect(log).toEqual(["initiateError"]);
    }
  });

  it("Require preserve-msg-boundaries needs a framer over TCP; reliable-message + framer selects framed TCP", async () => {
    const c = client(1, new TransportProperties().require("preserve-msg-boundaries"));
    const error = (await c.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error.property).toBe("preserve-msg-boundaries");
    const pre = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(1),
      transportProperties: TransportProperties.profile("reliable-message"),
    }).addFramer(new LengthPrefixFramer());
    expect(pre.selectProtocolStacks().stacks[0]).toBe("tcp");
    expect(
      new Preconnection({
        transportProperties: TransportProperties.profile("reliable-inorder-stream"),
      }).selectProtocolStacks().stacks[0],
    ).toBe("tcp");
  });

  it("security never falls back to plaintext: unreliable-datagram + SecurityParameters fails (no DTLS)", async () => {
    const pre = new Preconnection({
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(1),
      transportProperties: TransportProperties.profile("unreliable-datagram"),
      securityParameters: new SecurityParameters(),
    });
    const error = (await pre.initiate().ready.catch((e: unknown) => e)) as InitiateError;
    expect(error.reason).toBe("selection");
    expect(error.property).toBe("security");
    expect(() => pre.selectProtocolStacks()).toThrow(InitiateError);
  });

  it("a Preconnection changed after Initiate does not affect that Connection and can Initiate again", async () => {
    const tcp = await netServer((s) => s.end());
    cleanups.push(() => tcp.close());
    const remote = new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(tcp.port);
    const tp = new TransportProperties();
    const pre = new Preconnection({ remote, transportProperties: tp });
    const first = pre.initiate();
    cleanups.push(() => first.abort());
    tp.add("idempotent", true).ignore("reliability").ignore("preserve-order").ignore("congestion-control");
    pre.transportProperties = TransportProperties.profile("unreliable-datagram");
    await first.ready;
    expect(first.protocolStack).toBe("tcp");
    const second = pre.initiate();
    cleanups.push(() => second.abort());
    await second.ready;
    expect(second.protocolStack).toBe("udp");
  });
});

describe("Listener", () => {
  it("SetNewConnectionLimit(1): the 2nd client is held, not dropped, until the limit is raised", async () => {
    const listener = tapsListener();
    const received: Connection[] = [];
    listener.on("connectionReceived", (c) => {
      received.push(c);
      cleanups.push(() => c.abort());
    });
    listener.setNewConnectionLimit(1);
    await listener.ready;
    const a = client(listener.port!);
    await a.ready;
    await until(() => received.length === 1);
    const b = client(listener.port!);
    await b.ready; // TCP-connected, waiting in the Listener's queue
    await until(() => listener.pendingConnections === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toHaveLength(1);
    expect(b.state).toBe("Established"); // held, not dropped
    listener.setNewConnectionLimit(Number.POSITIVE_INFINITY);
    await until(() => received.length === 2);
    // The held connection works.
    void b.send("late but delivered");
    const m = await received[1]!.receive({ minIncompleteLength: 1 });
    expect(Buffer.from(m.data).toString()).toBe("late but delivered");
  });

  it("a Listener with a Remote Endpoint accepts only that remote", async () => {
    const pre = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      remote: new RemoteEndpoint().withIPv4Address("127.0.0.2"),
    });
    const listener = pre.listen();
    cleanups.push(() => listener.stop());
    let count = 0;
    listener.on("connectionReceived", () => count++);
    await listener.ready;
    const c = client(listener.port!);
    const outcome = new Promise<string>((r) => {
      c.once("connectionError", (e) => r(`connectionError ${e.reason}`));
      c.once("closed", () => r("closed"));
      c.once("initiateError", () => r("initiateError"));
    });
    void c.receive().catch(() => {});
    // The filtered peer is reset by the Listener.
    expect(await outcome).toMatch(/connectionError reset|initiateError/);
    expect(count).toBe(0);
  });

  it("Stop: Stopped, no new connections, existing ones continue", async () => {
    const listener = tapsListener();
    let server!: Connection;
    listener.on("connectionReceived", (c) => (server = c));
    await listener.ready;
    const c = client(listener.port!);
    await c.ready;
    await until(() => server !== undefined);
    const events: string[] = [];
    listener.on("stopped", () => events.push("stopped"));
    await listener.stop();
    expect(events).toEqual(["stopped"]);
    void c.send("still here");
    expect(Buffer.from((await server.receive({ minIncompleteLength: 1 })).data).toString()).toBe(
      "still here",
    );
    const refused = client(listener.port!);
    expect(((await refused.ready.catch((e: unknown) => e)) as InitiateError).reason).toBe("refused");
    server.abort();
  });

  it("ListenError when the address is taken", async () => {
    const busy = await netServer(() => {});
    cleanups.push(() => busy.close());
    const pre = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(busy.port),
    });
    const listener = pre.listen();
    const [error] = await new Promise<[ListenError]>((r) =>
      listener.once("establishmentError", (e) => r([e])),
    );
    expect(error).toBeInstanceOf(ListenError);
    expect(error.syscallCode).toBe("EADDRINUSE");
  });

  it("Unix domain sockets: a path and a Linux abstract name, as vendor endpoint identifiers", async () => {
    for (const path of [
      join(tmpdir(), `taps-${process.pid}-${Date.now()}.sock`),
      `\0taps-${process.pid}-${Date.now()}`,
    ]) {
      const pre = new Preconnection({ local: new LocalEndpoint().withPath(path) }).addFramer(
        new LengthPrefixFramer(),
      );
      const listener = pre.listen();
      cleanups.push(async () => {
        await listener.stop();
        if (!path.startsWith("\0")) rmSync(path, { force: true });
      });
      listener.on("connectionReceived", async (c) => {
        const m = await c.receive();
        await c.send(m.data);
        await c.close();
      });
      await listener.ready;
      expect(listener.protocolStack).toBe("unix");
      const conn = new Preconnection({ remote: new RemoteEndpoint().withPath(path) })
        .addFramer(new LengthPrefixFramer())
        .initiate();
      cleanups.push(() => conn.abort());
      await conn.send("over uds");
      expect(Buffer.from((await conn.receive()).data).toString()).toBe("over uds");
      expect(conn.protocolStack).toBe("unix");
      await conn.close();
    }
  });

  it("for await over a Listener yields connections until it stops", async () => {
    const listener = tapsListener();
    await listener.ready;
    const clients = [client(listener.port!), client(listener.port!)];
    const got: Connection[] = [];
    for await (const c of listener) {
      got.push(c);
      cleanups.push(() => c.abort());
      if (got.length === 2) void listener.stop();
    }
    expect(got).toHaveLength(2);
    await Promise.all(clients.map((c) => c.ready));
  });
});

describe("termination", () => {
  it("Close: the peer sees FIN after all queued data; Closed only after the peer finishes too", async () => {
    let peerSocket!: net.Socket;
    const bytes: Buffer[] = [];
    let peerSawEnd = false;
    const peer = await netServer(
      (s) => {
        peerSocket = s;
        s.on("data", (d: Buffer) => bytes.push(d));
        s.on("end", () => (peerSawEnd = true));
      },
      "127.0.0.1",
      0,
      { autoEnd: false },
    );
    cleanups.push(() => peer.close());
    const c = client(peer.port);
    await c.ready;
    const log = record(c);
    void c.send(Buffer.alloc(1024 * 1024, 1));
    const closing = c.close();
    await until(() => peerSawEnd);
    expect(Buffer.concat(bytes).length).toBe(1024 * 1024); // queued reliable data was delivered before the FIN
    expect(c.getProperties().get("state")).toBe("Closing");
    expect(log).not.toContain("closed");
    peerSocket.end();
    await closing;
    expect(log[log.length - 1]).toBe("closed");
    expect(c.getProperties().get("state")).toBe("Closed");
  });

  it("Abort: the peer sees a reset (ECONNRESET) — and a TAPS peer sees ConnectionError", async () => {
    const resets: string[] = [];
    const peer = await netServer((s) =>
      s.on("error", (e: NodeJS.ErrnoException) => resets.push(e.code ?? "?")),
    );
    cleanups.push(() => peer.close());
    const c = client(peer.port);
    await c.ready;
    const log = record(c);
    c.abort();
    await until(() => resets.length > 0);
    expect(resets[0]).toBe("ECONNRESET");
    await until(() => log.includes("connectionError"));
    expect(log).toEqual(["connectionError"]);

    const listener = tapsListener();
    const serverSide = new Promise<Connection>((r) => listener.once("connectionReceived", r));
    await listener.ready;
    const d = client(listener.port!);
    await d.ready;
    const s = await serverSide;
    const [error] = await new Promise<[ConnectionError]>((r) => {
      s.once("connectionError", (e) => r([e]));
      d.abort();
    });
    expect(error.reason).toBe("reset");

    const nextServerSide = new Promise<Connection>((r) => listener.once("connectionReceived", r));
    const e = client(listener.port!);
    await e.ready;
    const s2 = await nextServerSide;
    const peerLog = record(s2);
    const closing = e.close();
    const fin = await s2.receive(); // the peer's FIN ends the (empty) stream Message
    expect(fin.endOfMessage).toBe(true);
    expect(fin.context.final).toBe(true);
    await s2.close();
    await closing;
    expect(peerLog).toContain("closed");
    expect(peerLog).not.toContain("connectionError");
  });

  it("no events after Closed; complete Messages queued before the peer's close still reach pending Receives first", async () => {
    const listener = tapsListener(new TransportProperties().require("preserve-msg-boundaries"), true);
    listener.on("connectionReceived", async (s) => {
      for (const t of ["a", "b", "c"]) void s.send(t);
      await s.close();
    });
    await listener.ready;
    const c = client(listener.port!, new TransportProperties().require("preserve-msg-boundaries"), true);
    await c.ready;
    await new Promise((r) => setTimeout(r, 50));
    const log = record(c);
    const got = await Promise.all([c.receive(), c.receive(), c.receive()]);
    expect(got.map((m) => Buffer.from(m.data).toString())).toEqual(["a", "b", "c"]);
    await c.close();
    expect(log.slice(0, 3)).toEqual(["received", "received", "received"]);
    expect(log[log.length - 1]).toBe("closed");
    const after = log.length;
    await c.send("x").catch(() => {});
    await c.receive().catch(() => {});
    await new Promise((r) => setTimeout(r, 10));
    expect(log.length).toBe(after);
  });
});

describe("properties", () => {
  it("GetProperties: Establishing → Established → Closing → Closed; read-only properties cannot be set", async () => {
    const peer = await netServer(() => {}, "127.0.0.1", 0, { autoEnd: false });
    cleanups.push(() => peer.close());
    const c = client(peer.port);
    expect(c.getProperties().get("state")).toBe("Establishing");
    expect(c.getProperties().get("connState")).toBe("Establishing"); // RFC 9622 alias
    await c.ready;
    const p = c.getProperties();
    expect(p.get("state")).toBe("Established");
    expect(p.get("can-send")).toBe(true);
    expect(p.get("preserve-msg-boundaries")).toBe("ignore");
    expect(p.get("_x.protocol-stack")).toBe("tcp");
    expect(() => c.setProperty("send-msg-max-len", 5)).toThrow(PropertyError);
    expect(() => c.setProperty("reliability", "ignore")).toThrow(PropertyError);
    expect(() => c.setProperty("no-such-property", 1)).toThrow(PropertyError);
    void c.close();
    expect(c.getProperties().get("state")).toBe("Closing");
    c.abort();
    expect(c.getProperties().get("state")).toBe("Closed");
  });

  it("tcp.* properties on a UDP connection are ignored without error; capacity profile and keep-alive apply", async () => {
    const c = client(9, TransportProperties.profile("unreliable-datagram"));
    await c.ready;
    expect(() => c.setProperty("tcp.user-timeout", true)).not.toThrow();
    expect(c.getProperties().get("tcp.user-timeout")).toBe(false);
    c.setProperty("connCapacityProfile", "Low Latency/Interactive");
    expect(c.getProperties().get("conn-capacity-profile")).toBe("Low Latency/Interactive");
    await c.close();
  });

  it("Clone: a second connection to the same server; conn-timeout is entangled, conn-prio is not", async () => {
    const peer = await netServer(() => {});
    cleanups.push(() => peer.close());
    const c = client(peer.port);
    await c.ready;
    const clone = c.clone();
    cleanups.push(() => clone.abort());
    await clone.ready;
    await until(() => peer.sockets.length === 2);
    c.setProperty("conn-timeout", 5000);
    c.setProperty("conn-prio", 7);
    expect(clone.getProperties().get("conn-timeout")).toBe(5000);
    expect(clone.getProperties().get("conn-prio")).toBe(100);
    expect(c.getProperties().get("conn-prio")).toBe(7);
    expect(c.groupedConnections()).toHaveLength(2);
  });
});
