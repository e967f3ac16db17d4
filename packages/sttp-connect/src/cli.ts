/**
 * `sttp-connect`: subscribe, listen (reverse subscriber), publish (demo publisher) and dial
 * (reverse publisher), with TLS and tolerance flags. Data to stdout, diagnostics to stderr.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Measurement } from "./measurement.js";
import { countMeasurementDetails, type MeasurementDefinition } from "./metadata.js";
import { Publisher, type PublisherClient } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { ticksNow, ticksToIso } from "./ticks.js";
import type { TlsOptions } from "./tls-policy.js";

const HELP = `Usage: sttp-connect <command> [options]

Commands:
  subscribe <host> <port>   connect to a publisher (forward) and subscribe
  listen <port>             wait for a publisher to dial in (reverse subscriber)
  publish <port>            serve synthetic measurements (forward publisher)
  dial <host> <port>        dial a listening subscriber and serve synthetic measurements (reverse publisher)

Subscriber options:
  --filter EXPR             filter expression: keys, GUIDs, point tags and/or
                            FILTER [TOP n] ActiveMeasurements WHERE … [ORDER BY …]
                            (default: PPA:1;PPA:2;…;PPA:14)
  --compact                 ask for compact measurements instead of TSSC
  --udp                     receive data over a UDP data channel (implies --compact)
  --udp-port N              UDP port to bind (default: ephemeral)
  --metadata                request metadata before subscribing
  --count N                 exit after N measurements
  --duration S              exit after S seconds
  --version-number N        protocol version 1–3 (default 2)

Publisher options:
  --signals N               number of synthetic signals PPA:1..N (default 14)
  --rate HZ                 frames per second (default 30)
  --silent-modes            do not answer DefineOperationalModes (gsfapi behaviour)
  --encrypt                 AES-encrypt UDP data packets

Common options:
  --host ADDR               bind address for listen/publish (default 127.0.0.1)
  --bind ADDR               local address for subscribe/dial
  --retry-interval MS       first reconnect delay (default 1000)
  --max-retries N           reconnect attempts, -1 = forever (default -1)
  --tls                     use TLS
  --ca FILE                 trusted CA bundle (PEM)
  --cert FILE --key FILE    own certificate and key (PEM)
  --pin FILE|SHA256         pinned peer certificate (repeatable)
  --servername NAME         name expected in the server certificate
  --no-client-cert          listening side: do not require a client certificate
  --min-tls 1.2|1.3         lowest TLS version (default 1.2)
  --allow-name-mismatch --allow-untrusted-root --allow-expired --allow-revocation-unknown
                            tolerate that certificate error (each use is reported as a warning)
  --json                    NDJSON events on stdout
  --help, --version
`;

const options = {
  filter: { type: "string" },
  compact: { type: "boolean" },
  udp: { type: "boolean" },
  "udp-port": { type: "string" },
  metadata: { type: "boolean" },
  count: { type: "string" },
  duration: { type: "string" },
  "version-number": { type: "string" },
  signals: { type: "string" },
  rate: { type: "string" },
  "silent-modes": { type: "boolean" },
  encrypt: { type: "boolean" },
  host: { type: "string" },
  bind: { type: "string" },
  "retry-interval": { type: "string" },
  "max-retries": { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string", multiple: true },
  cert: { type: "string" },
  key: { type: "string" },
  pin: { type: "string", multiple: true },
  servername: { type: "string" },
  "no-client-cert": { type: "boolean" },
  "min-tls": { type: "string" },
  "allow-name-mismatch": { type: "boolean" },
  "allow-untrusted-root": { type: "boolean" },
  "allow-expired": { type: "boolean" },
  "allow-revocation-unknown": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

class UsageError extends Error {}

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

function int(
  value: string | undefined,
  name: string,
  fallback: number,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer between ${min} and ${max}`);
  return n;
}

function port(value: string | undefined, what: string): number {
  if (value === undefined) throw new UsageError(`missing ${what}`);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${what} must be 0..65535`);
  return n;
}

function tlsOptions(v: Values): TlsOptions | undefined {
  if (!v.tls) return undefined;
  const read = (file: string) => readFileSync(file);
  const pins = (v.pin ?? []).map((p) => (/^([0-9a-f]{2}:?){32}$/i.test(p) ? p : read(p)));
  const minVersion =
    v["min-tls"] === undefined
      ? undefined
      : v["min-tls"] === "1.3"
        ? "TLSv1.3"
        : v["min-tls"] === "1.2"
          ? "TLSv1.2"
          : undefined;
  if (v["min-tls"] !== undefined && minVersion === undefined)
    throw new UsageError("--min-tls must be 1.2 or 1.3");
  return {
    ...(v.ca ? { ca: v.ca.map(read) } : {}),
    ...(v.cert ? { cert: read(v.cert) } : {}),
    ...(v.key ? { key: read(v.key) } : {}),
    ...(pins.length ? { pinned: pins } : {}),
    ...(v.servername ? { servername: v.servername } : {}),
    ...(minVersion ? { minVersion } : {}),
    requireClientCertificate: !v["no-client-cert"],
    tolerances: {
      allowNameMismatch: v["allow-name-mismatch"] === true,
      allowUntrustedRoot: v["allow-untrusted-root"] === true,
      allowExpired: v["allow-expired"] === true,
      allowRevocationUnknown: v["allow-revocation-unknown"] === true,
    },
  };
}

/** Deterministic signal IDs so that a restarted demo publisher serves the same signals. */
function demoDefinitions(count: number): MeasurementDefinition[] {
  return Array.from({ length: count }, (_, i) => {
    const h = createHash("sha256")
      .update(`sttp-connect demo PPA:${i + 1}`)
      .digest("hex");
    const signalId = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    return {
      signalId,
      source: "PPA",
      id: i + 1,
      pointTag: `DEMO:SIGNAL${i + 1}`,
      signalType: "CALC",
      description: `synthetic signal ${i + 1}`,
    };
  });
}

function makeOutput(json: boolean) {
  return {
    event(name: string, data: Record<string, unknown>, text: string) {
      if (json)
        process.stdout.write(
          `${JSON.stringify({ event: name, ...data }, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`,
        );
      else process.stdout.write(`${text}\n`);
    },
    diag(text: string) {
      process.stderr.write(`${text}\n`);
    },
  };
}

async function runSubscriber(v: Values, positionals: string[], reverse: boolean): Promise<number> {
  const out = makeOutput(v.json === true);
  const udp = v.udp === true || v["udp-port"] !== undefined;
  const tls = tlsOptions(v);
  const sub = new Subscriber({
    version: int(v["version-number"], "version-number", 2, 1, 3),
    compressPayload: !(v.compact || udp),
    ...(udp ? { udp: { port: int(v["udp-port"], "udp-port", 0, 0, 65535) } } : {}),
    ...(tls ? { tls } : {}),
    reconnect: {
      retryIntervalMs: int(v["retry-interval"], "retry-interval", 1000, 1),
      maxRetries: int(v["max-retries"], "max-retries", -1, -1),
    },
  });
  const filter = v.filter ?? Array.from({ length: 14 }, (_, i) => `PPA:${i + 1}`).join(";");
  const maxCount = int(v.count, "count", 0, 0);
  let received = 0;
  let windowCount = 0;
  let windowStart = Date.now();
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  sub.on("connected", (info) =>
    out.event(
      "connected",
      { ...info },
      `connected to ${info.remoteAddress}:${info.remotePort}${info.tlsProtocol ? ` over ${info.tlsProtocol}` : ""} (${info.direction})`,
    ),
  );
  sub.on("handshake", (h) =>
    out.event(
      "handshake",
      { ...h },
      `operational modes ${h.accepted === undefined ? "not answered" : h.accepted ? "accepted" : "refused"}: ${h.message}`,
    ),
  );
  sub.on("signalIndexCache", (cache, index) =>
    out.event(
      "signalIndexCache",
      {
        cacheIndex: index,
        signals: cache.entries.map((e) => ({
          index: e.runtimeIndex,
          signalId: e.signalId,
          key: `${e.source}:${e.id}`,
        })),
      },
      `signal index cache ${index}: ${cache.size} signals${
        cache.entries.length
          ? ` (${cache.entries
              .slice(0, 4)
              .map((e) => `${e.runtimeIndex}=${e.source}:${e.id}`)
              .join(", ")}${cache.size > 4 ? ", …" : ""})`
          : ""
      }`,
    ),
  );
  sub.on("subscribed", (s) =>
    out.event("subscribed", { message: s.message, signals: s.cache.size }, `subscribed: ${s.message}`),
  );
  sub.on("securityWarning", (w) => out.diag(`security warning [${w.kind}]: ${w.message}`));
  sub.on("warning", (w) => out.diag(`warning: ${w}`));
  sub.on("reconnecting", (e) =>
    out.diag(`reconnecting in ${e.delayMs} ms (retry ${e.retry}): ${e.error.message}`),
  );
  sub.on("disconnected", (reason) =>
    out.event(
      "disconnected",
      { reason: reason?.message ?? null },
      `disconnected${reason ? `: ${reason.message}` : ""}`,
    ),
  );
  sub.on("tsscReset", (seq) => out.diag(`TSSC algorithm reset before sequence number: ${seq}`));
  sub.on("measurements", (ms: Measurement[], channel) => {
    received += ms.length;
    windowCount += ms.length;
    const now = Date.now();
    if (now - windowStart >= 1000) {
      const rate = (windowCount * 1000) / (now - windowStart);
      const last = ms[ms.length - 1] as Measurement;
      out.event(
        "rate",
        {
          measurements: received,
          perSecond: Math.round(rate),
          channel,
          last: { signalId: last.signalId, value: last.value, time: ticksToIso(last.timestamp) },
        },
        `${received} measurements (${Math.round(rate)}/s over ${channel}); last ${last.value.toFixed(3)} @ ${ticksToIso(last.timestamp)}`,
      );
      windowCount = 0;
      windowStart = now;
    }
    if (maxCount > 0 && received >= maxCount) resolveDone(0);
  });
  const stop = () => resolveDone(0);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const durationS = v.duration === undefined ? 0 : Number(v.duration);
  if (!(durationS >= 0)) throw new UsageError("--duration must be a number of seconds");
  const timer =
    durationS > 0
      ? setTimeout(() => resolveDone(maxCount > 0 && received < maxCount ? 1 : 0), durationS * 1000)
      : undefined;
  try {
    await sub.subscribe({ filterExpression: filter });
    if (reverse) {
      const address = await sub.listen({ host: v.host ?? "127.0.0.1", port: port(positionals[1], "port") });
      out.event("listening", { ...address }, `listening on ${address.host}:${address.port}`);
    } else {
      const host = positionals[1];
      if (!host) throw new UsageError("missing host");
      // Stopping (signal, --duration) while still connecting cancels the connector.
      const abort = new AbortController();
      void done.then(() => abort.abort());
      try {
        await sub.connect({
          host,
          port: port(positionals[2], "port"),
          ...(v.bind ? { localAddress: v.bind } : {}),
          signal: abort.signal,
        });
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
      if (v.metadata && sub.isConnected) {
        const xml = await sub.requestMetadata();
        out.event(
          "metadata",
          { characters: xml.length, measurements: countMeasurementDetails(xml) },
          `metadata: ${xml.length} characters, ${countMeasurementDetails(xml)} measurements`,
        );
      }
    }
    const code = await done;
    out.event("summary", { measurements: received }, `${received} measurements received`);
    return code;
  } finally {
    clearTimeout(timer);
    await sub.close();
  }
}

async function runPublisher(v: Values, positionals: string[], reverse: boolean): Promise<number> {
  const out = makeOutput(v.json === true);
  const tls = tlsOptions(v);
  const definitions = demoDefinitions(int(v.signals, "signals", 14, 1, 100_000));
  const rate = int(v.rate, "rate", 30, 1, 100_000);
  const pub = new Publisher({
    measurements: definitions,
    replyToOperationalModes: !v["silent-modes"],
    encryptPayload: v.encrypt === true,
    ...(tls ? { tls } : {}),
    reconnect: {
      retryIntervalMs: int(v["retry-interval"], "retry-interval", 1000, 1),
      maxRetries: int(v["max-retries"], "max-retries", -1, -1),
    },
  });
  pub.on("clientConnected", (c: PublisherClient) =>
    out.event(
      "clientConnected",
      { remoteAddress: c.remoteAddress },
      `subscriber connected from ${c.remoteAddress}`,
    ),
  );
  pub.on("clientDisconnected", (c, reason) =>
    out.event(
      "clientDisconnected",
      { remoteAddress: c.remoteAddress, reason: reason?.message ?? null },
      `subscriber ${c.remoteAddress} disconnected${reason ? `: ${reason.message}` : ""}`,
    ),
  );
  pub.on("subscribed", (c, info) =>
    out.event(
      "subscribed",
      { remoteAddress: c.remoteAddress, ...info },
      `${c.remoteAddress} subscribed to ${info.signals} signals (${info.format} over ${info.transport})`,
    ),
  );
  pub.on("securityWarning", (w) => out.diag(`security warning [${w.kind}]: ${w.message}`));
  pub.on("warning", (w) => out.diag(`warning: ${w}`));
  pub.on("reconnecting", (e) =>
    out.diag(`redialling in ${e.delayMs} ms (retry ${e.retry}): ${e.error.message}`),
  );
  let frame = 0;
  const interval = setInterval(
    () => {
      const timestamp = ticksNow();
      const ms: Measurement[] = definitions.map((d, i) => ({
        signalId: d.signalId,
        value: 60 + Math.sin((frame + i) / 10),
        timestamp,
        flags: 0,
      }));
      frame++;
      pub.publish(ms);
    },
    Math.max(1, Math.round(1000 / rate)),
  );
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  const stop = () => resolveDone(0);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const durationS = v.duration === undefined ? 0 : Number(v.duration);
  const timer = durationS > 0 ? setTimeout(stop, durationS * 1000) : undefined;
  try {
    if (reverse) {
      const host = positionals[1];
      if (!host) throw new UsageError("missing host");
      const abort = new AbortController();
      void done.then(() => abort.abort());
      try {
        await pub.connect({
          host,
          port: port(positionals[2], "port"),
          ...(v.bind ? { localAddress: v.bind } : {}),
          signal: abort.signal,
        });
      } catch (error) {
        if (abort.signal.aborted) return await done;
        throw error;
      }
      out.event(
        "dialled",
        { host, port: Number(positionals[2]) },
        `connected to subscriber ${host}:${positionals[2]}`,
      );
    } else {
      const address = await pub.listen({ host: v.host ?? "127.0.0.1", port: port(positionals[1], "port") });
      out.event(
        "listening",
        { ...address, signals: definitions.length },
        `publishing ${definitions.length} signals at ${rate} frames/s on ${address.host}:${address.port}`,
      );
    }
    return await done;
  } finally {
    clearInterval(interval);
    clearTimeout(timer);
    await pub.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`sttp-connect: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (v.version) {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  try {
    switch (positionals[0]) {
      case "subscribe":
        return await runSubscriber(v, positionals, false);
      case "listen":
        return await runSubscriber(v, positionals, true);
      case "publish":
        return await runPublisher(v, positionals, false);
      case "dial":
        return await runPublisher(v, positionals, true);
      default:
        throw new UsageError(
          positionals[0] === undefined ? "missing command" : `unknown command ${positionals[0]}`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`sttp-connect: ${error.message}\n\n${HELP}`);
      return 2;
    }
    const e = error as Error & { code?: string };
    if (v.json)
      process.stdout.write(
        `${JSON.stringify({ event: "error", code: e.code ?? null, message: e.message })}\n`,
      );
    process.stderr.write(`sttp-connect: ${e.code ? `${e.code}: ` : ""}${e.message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`sttp-connect: internal error: ${String(error)}\n`);
    process.exit(1);
  },
);
