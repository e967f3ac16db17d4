/**
 * SciStream: two facilities (S2CS + S2DS each) on loopback, an S2UC driving REQUEST, HELLO,
 * UPDATETARGETS and RELEASE, and data streamed producer <- consumer over parallel TLS-PSK channels,
 * checked byte for byte with a digest.
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { generateUid, S2cs, S2ucClient, staticTokenAuth } from "@x/scistream";
import type { Pki } from "@x/test-certs";
import { type Report, within } from "./report.js";

const TOKEN = `demo-${randomBytes(16).toString("hex")}`;

/** The producer application: answers each stream with "<bytes>:<sha256>" once the sender half-closes. */
async function digestApp(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    const hash = createHash("sha256");
    let n = 0;
    s.on("data", (d: Buffer) => {
      hash.update(d);
      n += d.length;
    });
    s.on("end", () => s.end(`${n}:${hash.digest("hex")}`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function stream(port: number, payload: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => s.end(payload));
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => {
      s.destroy();
      resolve(Buffer.concat(chunks).toString());
    });
    s.on("error", reject);
  });
}

export async function twoFacilityFlow(report: Report, pki: Pki): Promise<void> {
  const numConn = 4;
  const facility = () =>
    new S2cs({
      tls: { cert: pki.server.chainPem, key: pki.server.keyPem },
      auth: staticTokenAuth({ [TOKEN]: "demo-user" }),
      s2ds: { workers: 1 },
    });
  const producer = facility();
  const consumer = facility();
  const app = await digestApp();
  const clients: S2ucClient[] = [];
  try {
    const [prodPort, consPort] = [await producer.listen(), await consumer.listen()];
    const client = (port: number) => {
      const c = new S2ucClient({ address: `localhost:${port}`, ca: pki.root.certPem, token: TOKEN });
      clients.push(c);
      return c;
    };
    const uid = generateUid();
    const started = Date.now();
    const inbound = await within(
      client(prodPort).inboundRequest({ uid, numConn, receivers: [`127.0.0.1:${app.port}`] }),
      20_000,
      "the producer facility",
    );
    const outbound = await within(
      client(consPort).outboundRequest({ uid, numConn, remoteListeners: inbound.listeners }),
      20_000,
      "the consumer facility",
    );
    report.add(
      "scistream",
      "REQUEST, HELLO and UPDATETARGETS on two S2CS over gRPC+TLS",
      producer.sessionState(uid) === "ACTIVE" && consumer.sessionState(uid) === "ACTIVE",
      `uid ${uid}; producer listeners ${inbound.listeners.join(" ")}; consumer listeners ${outbound.listeners.join(" ")} (${Date.now() - started} ms)`,
    );
    const payloads = outbound.listeners.map((_, i) => randomBytes(2 * 1024 * 1024 + i * 4099));
    const t0 = Date.now();
    const answers = await within(
      Promise.all(outbound.listeners.map((l, i) => stream(Number(l.split(":").at(-1)), payloads[i]!))),
      60_000,
      "the streams",
    );
    const seconds = Math.max(0.001, (Date.now() - t0) / 1000);
    const expected = payloads.map((p) => `${p.length}:${createHash("sha256").update(p).digest("hex")}`);
    const bytes = payloads.reduce((n, p) => n + p.length, 0);
    report.add(
      "scistream",
      `data over ${numConn} parallel TLS-PSK channels`,
      answers.every((a, i) => a === expected[i]),
      `${(bytes / 1048576).toFixed(1)} MiB end to end in ${seconds.toFixed(2)} s, every channel's SHA-256 matches`,
    );
    await client(prodPort).release(uid);
    await client(consPort).release(uid);
    report.add(
      "scistream",
      "RELEASE on both facilities",
      producer.sessionState(uid) === "RELEASED" && consumer.sessionState(uid) === "RELEASED",
      `ports returned: ${producer.s2ds.pool.whole && consumer.s2ds.pool.whole}`,
    );
  } finally {
    for (const c of clients) c.close();
    await app.close();
    await producer.close();
    await consumer.close();
  }
}
