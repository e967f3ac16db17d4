/**
 * The three usage examples of draft-ietf-taps-interface-06 §4.1, step by step.
 */
import tls from "node:tls";
import { createPki, type Pki } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Connection,
  LengthPrefixFramer,
  LocalEndpoint,
  Preconnection,
  RemoteEndpoint,
  SecurityParameters,
  TransportProperties,
} from "../src/index.js";
import { freePort, type OpenSslServer, opensslServer, tempDir } from "./helpers.js";

let pki: Pki;
let dir: ReturnType<typeof tempDir>;
let server: OpenSslServer;

beforeAll(async () => {
  pki = await createPki();
  dir = tempDir();
  server = await opensslServer({
    cert: dir.write("server.pem", pki.server.certPem),
    key: dir.write("server.key", pki.server.keyPem),
    chain: dir.write("intermediate.pem", pki.intermediate.certPem),
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe("-06 §4.1 usage examples", () => {
  it("Server example: Listen → ConnectionReceived → Receive → Received → Send → Close → Stop → Stopped", async () => {
    const steps: string[] = [];
    // -06 uses WithInterface("any") and WithService("https"); tests stay on loopback with an ephemeral port.
    const localSpecifier = new LocalEndpoint().withInterface("lo").withPort(0);
    const transportProperties = new TransportProperties().require("preserve-msg-boundaries");
    const securityParameters = new SecurityParameters()
      .addIdentity(pki.server.chainPem)
      .addPrivateKey(pki.server.keyPem);
    const preconnection = new Preconnection({
      local: localSpecifier,
      transportProperties,
      securityParameters,
    });
    preconnection.addFramer(new LengthPrefixFramer());
    const listener = preconnection.listen();
    const stopped = new Promise<void>((resolve) => listener.on("stopped", () => resolve()));
    listener.on("connectionReceived", (connection: Connection) => {
      steps.push("ConnectionReceived");
      connection.receive(); // only complete messages
      connection.on("received", (data) => {
        steps.push(`Received ${Buffer.from(data).toString()}`);
        connection.send("response");
        connection.close();
        listener.stop();
      });
      connection.on("closed", () => steps.push("Closed"));
    });
    await listener.ready;

    // The peer: a plain TLS client that verifies the server and speaks the length-prefix format.
    const socket = tls.connect({
      host: "127.0.0.1",
      port: listener.port!,
      servername: "localhost",
      ca: pki.root.certPem,
    });
    socket.on("error", () => {});
    await new Promise<void>((r) => socket.once("secureConnect", () => r()));
    socket.write(Buffer.from([0, 0, 0, 7, ...Buffer.from("request")]));
    const reply: Buffer[] = [];
    await new Promise<void>((r) => {
      socket.on("data", (d: Buffer) => reply.push(d));
      socket.on("end", () => r());
    });
    socket.end();
    await stopped;
    expect(Buffer.concat(reply)).toEqual(Buffer.from([0, 0, 0, 8, ...Buffer.from("response")]));
    expect(steps.slice(0, 2)).toEqual(["ConnectionReceived", "Received request"]);
  });

  it("Client example: Initiate → Ready → Send + Receive → Received → Close (openssl s_server peer, trust callback)", async () => {
    const remoteSpecifier = new RemoteEndpoint().withHostname("localhost").withPort(server.port);
    const transportProperties = new TransportProperties().require("preserve-msg-boundaries");
    const securityParameters = new SecurityParameters();
    securityParameters.setTrustVerificationCallback((ctx) =>
      ctx.chain.some((c) => c.subject.includes("localhost")),
    );
    const preconnection = new Preconnection({
      remote: remoteSpecifier,
      transportProperties,
      securityParameters,
    });
    // openssl s_server -rev answers line by line: a newline framer gives message boundaries.
    const { DelimiterFramer } = await import("../src/index.js");
    preconnection.addFramer(new DelimiterFramer());
    const connection = preconnection.initiate();
    const steps: string[] = [];
    const closed = new Promise<void>((resolve) => connection.on("closed", () => resolve()));
    connection.on("ready", () => {
      steps.push("Ready");
      connection.send("messageDataRequest");
      connection.receive();
    });
    connection.on("received", (data) => {
      steps.push(`Received ${Buffer.from(data).toString()}`);
      connection.close();
    });
    await closed;
    steps.push("Closed");
    expect(steps).toEqual(["Ready", "Received tseuqeRataDegassem", "Closed"]);
  });

  it("Peer example: Rendezvous over TCP → RendezvousDone on both sides → exchange → Close (one connection)", async () => {
    const portA = await freePort();
    const portB = await freePort();
    const peer = (local: number, remote: number) =>
      new Preconnection({
        local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(local),
        remote: new RemoteEndpoint().withHostname("127.0.0.1").withPort(remote),
        transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
        options: { attemptDelay: 50, rendezvousTimeout: 15_000 },
      }).addFramer(new LengthPrefixFramer());
    const a = peer(portA, portB);
    const b = peer(portB, portA);
    const doneEvents: string[] = [];
    a.on("rendezvousDone", () => doneEvents.push("A"));
    b.on("rendezvousDone", () => doneEvents.push("B"));
    const [ca, cb] = await Promise.all([a.rendezvous(), b.rendezvous()]);
    expect(doneEvents.sort()).toEqual(["A", "B"]);
    const run = async (c: Connection, text: string) => {
      await c.send(text);
      const m = await c.receive();
      return Buffer.from(m.data).toString();
    };
    const [ra, rb] = await Promise.all([run(ca, "from A"), run(cb, "from B")]);
    expect(ra).toBe("from B");
    expect(rb).toBe("from A");
    await Promise.all([ca.close(), cb.close()]);
  });

  it("Peer example over UDP: both sides get RendezvousDone and exchange one Message each", async () => {
    const portA = await freePort();
    const portB = await freePort();
    const peer = (local: number, remote: number) =>
      new Preconnection({
        local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(local),
        remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(remote),
        transportProperties: TransportProperties.profile("unreliable-datagram"),
        options: { rendezvousTimeout: 15_000 },
      });
    const [ca, cb] = await Promise.all([peer(portA, portB).rendezvous(), peer(portB, portA).rendezvous()]);
    expect(ca.protocolStack).toBe("udp");
    const ra = ca.receive();
    const rb = cb.receive();
    await ca.send("ping A");
    await cb.send("ping B");
    expect(Buffer.from((await ra).data).toString()).toBe("ping B");
    expect(Buffer.from((await rb).data).toString()).toBe("ping A");
    await Promise.all([ca.close(), cb.close()]);
  });
});
