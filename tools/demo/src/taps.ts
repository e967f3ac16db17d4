/**
 * TAPS: a TLS Listener with a length-prefix framer, and a client whose Preconnection names two Remote
 * Endpoints, the first one refused: racing moves on at once and the second wins. Messages keep their
 * boundaries over TLS; the client's trust decision is @x/cert-validate's.
 */
import {
  type Connection,
  LengthPrefixFramer,
  LocalEndpoint,
  Preconnection,
  RemoteEndpoint,
  SecurityParameters,
  TransportProperties,
} from "@x/taps-core";
import type { Pki } from "@x/test-certs";
import { type Report, within } from "./report.js";

/** A loopback port that refuses connections: bound once, then closed. */
async function refusedPort(): Promise<number> {
  const net = await import("node:net");
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as import("node:net").AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function trustRoot(pki: Pki): SecurityParameters {
  const parameters = new SecurityParameters().addTrustedCA(pki.root.certPem);
  parameters.serverName = "localhost";
  return parameters;
}

export async function racingAndFraming(report: Report, pki: Pki): Promise<void> {
  const listenerPre = new Preconnection({
    local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
    transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
    securityParameters: new SecurityParameters()
      .addIdentity(pki.server.chainPem)
      .addPrivateKey(pki.server.keyPem),
  }).addFramer(new LengthPrefixFramer());
  const listener = listenerPre.listen();
  listener.on("connectionReceived", (connection: Connection) => {
    // Echo every Message back, upper-cased, until the client closes.
    connection.on("received", (data: Uint8Array) => {
      connection.send(Buffer.from(data).toString().toUpperCase());
      connection.receive();
    });
    connection.receive();
  });
  await within(listener.ready, 10_000, "the TAPS listener");
  const client = new Preconnection({
    remote: [
      new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(await refusedPort()),
      new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(listener.port!),
    ],
    transportProperties: TransportProperties.profile("reliable-message"),
    securityParameters: trustRoot(pki),
  }).addFramer(new LengthPrefixFramer());
  const connection = client.initiate({ timeout: 10_000 });
  try {
    await within(connection.ready, 15_000, "the TAPS connection");
    const timeline = connection.timeline
      .filter((e) => e.event !== "resolve" && e.event !== "resolved")
      .map((e) => `${e.t.toFixed(0)} ms ${e.event}${e.candidate ? ` ${e.candidate}` : ""}`);
    report.add(
      "taps-core",
      "Initiate with two Remote Endpoints, the first refused",
      true,
      `stack ${connection.protocolStack}; racing: ${timeline.join(", ")}`,
    );
    const words = ["preconnection", "initiate", "ready", "send", "receive", "close"];
    const replies: string[] = [];
    for (const word of words) {
      await connection.send(word);
      const { data } = await within(connection.receive(), 10_000, "an echoed Message");
      replies.push(Buffer.from(data).toString());
    }
    report.add(
      "taps-core",
      "Messages over TLS with a length-prefix framer",
      replies.join(" ") === words.map((w) => w.toUpperCase()).join(" "),
      `${words.length} Messages sent, ${replies.length} echoed with their boundaries kept: ${replies.join(" ")}`,
    );
  } finally {
    connection.abort();
    await listener.stop();
  }
}
