/**
 * STTP: a publisher of synthetic measurements and a subscriber over mutual TLS, first forward (the
 * subscriber dials) then reverse (the publisher dials a listening subscriber), TSSC-compressed, with the
 * certificate policy of @x/cert-validate; then the seed's tolerance policy refusing a wrong name.
 */
import { Publisher, Subscriber, ticksNow } from "@x/sttp-connect";
import type { Pki } from "@x/test-certs";
import { type Report, within } from "./report.js";

const SIGNALS = Array.from({ length: 8 }, (_, i) => ({
  signalId: `7a1b3c4d-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  source: "DEMO",
  id: i + 1,
  pointTag: `BUS${i + 1}:FREQ`,
}));

function frame(t: number) {
  const timestamp = ticksNow();
  return SIGNALS.map((s, i) => ({
    signalId: s.signalId,
    value: 60 + 0.05 * Math.sin(t / 10 + i),
    timestamp,
    flags: 0,
  }));
}

async function stream(publisher: Publisher, subscriber: Subscriber, frames: number): Promise<number> {
  let received = 0;
  subscriber.on("measurements", (ms) => {
    received += ms.length;
  });
  for (let t = 0; t < frames; t++) {
    publisher.publish(frame(t));
    if (t % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const deadline = Date.now() + 10_000;
  while (received < frames * SIGNALS.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return received;
}

export async function sttpOverTls(report: Report, pki: Pki): Promise<void> {
  const serverTls = { ca: pki.root.certPem, cert: pki.server.chainPem, key: pki.server.keyPem };
  const clientTls = {
    ca: pki.root.certPem,
    cert: pki.agent.chainPem,
    key: pki.agent.keyPem,
    servername: "localhost",
  };
  const frames = 300;

  // Forward: the publisher listens, the subscriber connects.
  {
    const publisher = new Publisher({ measurements: SIGNALS, tls: serverTls });
    const subscriber = new Subscriber({ tls: clientTls, reconnect: { autoReconnect: false, maxRetries: 0 } });
    try {
      const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
      const handshake = new Promise<string>((resolve) =>
        subscriber.once("connected", (info) => resolve(info.tlsProtocol ?? "?")),
      );
      await within(subscriber.connect({ host: "localhost", port }), 15_000, "the STTP connection");
      const info = await within(
        subscriber.subscribe({ filterExpression: "DEMO:1;DEMO:2;DEMO:3;DEMO:4;DEMO:5;DEMO:6;DEMO:7;DEMO:8" }),
        15_000,
        "the subscription",
      );
      const started = Date.now();
      const received = await stream(publisher, subscriber, frames);
      report.add(
        "sttp-connect",
        "forward connection over mutual TLS, TSSC",
        received === frames * SIGNALS.length,
        `${await handshake}; signal index cache of ${info?.cache.entries.length ?? 0} signals; ${received} measurements in ${Date.now() - started} ms`,
      );
    } finally {
      await subscriber.close();
      await publisher.close();
    }
  }

  // Reverse: the subscriber listens, the publisher dials it (socket roles swap, STTP roles do not).
  {
    const subscriber = new Subscriber({
      tls: { ...serverTls },
      reconnect: { autoReconnect: false, maxRetries: 0 },
    });
    const publisher = new Publisher({
      measurements: SIGNALS,
      tls: clientTls,
      reconnect: { autoReconnect: false, maxRetries: 0 },
    });
    try {
      const { port } = await subscriber.listen({ host: "127.0.0.1", port: 0 });
      const connected = new Promise<void>((resolve) => subscriber.once("connected", () => resolve()));
      await publisher.connect({ host: "localhost", port });
      await within(connected, 15_000, "the reverse connection");
      const subscribed = await within(
        subscriber.subscribe({ filterExpression: "DEMO:1;DEMO:2;DEMO:3;DEMO:4;DEMO:5;DEMO:6;DEMO:7;DEMO:8" }),
        15_000,
        "the reverse subscription",
      );
      const received = await stream(publisher, subscriber, frames);
      report.add(
        "sttp-connect",
        "reverse connection: the publisher dials a listening subscriber",
        received === frames * SIGNALS.length,
        `${subscribed?.cache.entries.length ?? 0} signals, ${received} measurements`,
      );
    } finally {
      await publisher.close();
      await subscriber.close();
    }
  }

  // The seed's tolerance policy: a name mismatch fails by default and passes only when tolerated, with a warning.
  for (const allowNameMismatch of [false, true]) {
    const publisher = new Publisher({
      measurements: SIGNALS,
      tls: {
        ca: pki.root.certPem,
        cert: pki.wrongName.chainPem,
        key: pki.wrongName.keyPem,
        requireClientCertificate: false,
      },
    });
    const subscriber = new Subscriber({
      tls: { ca: pki.root.certPem, servername: "localhost", tolerances: { allowNameMismatch } },
      reconnect: { autoReconnect: false, maxRetries: 0 },
    });
    const warnings: string[] = [];
    subscriber.on("securityWarning", (w) => warnings.push(w.kind));
    try {
      const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
      const outcome = await within(
        subscriber.connect({ host: "localhost", port }).then(
          () => "connected",
          (error: Error & { code?: string; reason?: string }) =>
            `refused (${error.code ?? error.name}${error.reason ? `: ${error.reason}` : ""})`,
        ),
        15_000,
        "the tolerance check",
      );
      const expected = allowNameMismatch
        ? outcome === "connected" && warnings.length > 0
        : outcome.startsWith("refused");
      report.add(
        "sttp-connect",
        `certificate for another name, allowNameMismatch ${allowNameMismatch}`,
        expected,
        `${outcome}${warnings.length > 0 ? `; security warnings: ${[...new Set(warnings)].join(", ")}` : ""}`,
      );
    } finally {
      await subscriber.close();
      await publisher.close();
    }
  }
}
