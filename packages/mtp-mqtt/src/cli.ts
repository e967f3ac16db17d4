/**
 * `mtp-mqtt`: run a USP MQTT Agent or Controller endpoint from the shell. Received Records go to
 * stdout as JSON lines; Records to send come from files (`--send`) or from stdin (one base64
 * Record per line). Diagnostics go to stderr. Exit 0 ok, 1 failure, 2 usage.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { decodeRecord } from "@x/usp-record";
import { createMqttMtp, type MqttMtpOptions, type MqttPeer, startEmbeddedBroker } from "./index.js";
import type { MqttMtp } from "./mqtt-mtp.js";

const HELP = `Usage: mtp-mqtt <agent|controller> [options]

Connects to an MQTT broker as a USP Agent or Controller (TR-369 MQTT binding), prints every
received Record as a JSON line on stdout, and sends Records given with --send or on stdin.

Options:
  --url <url>              broker, mqtt://host:port or mqtts://host:port
                           (absent: an in-process aedes broker, MQTT 3.1.1 only, for demos)
  --endpoint-id <id>       our USP Endpoint ID (required)
  --mqtt-version <v>       5 (default) or 3.1.1
  --response-topic <t>     our reply-to topic (ResponseTopicConfigured)
  --subscribe <filter>     extra Topic Filter to subscribe to (repeatable)
  --peer <id>=<topic>      a peer and its topic (repeatable); Agents send their
                           MQTTConnectRecord to every peer
  --client-id <id>         MQTT ClientID (default: assigned by the broker on 5.0)
  --username <u>           MQTT user name
  --password <p>           MQTT password (prefer the MQTT_PASSWORD environment variable)
  --qos <0|1>              QoS for Records and subscriptions (default 1)
  --ca <file>              PEM trust anchors for mqtts://
  --cert <file>            PEM client certificate chain (mutual TLS)
  --key <file>             PEM client private key
  --insecure               do not verify the broker certificate (never in production)
  --send <file>            send the binary Record in <file> (repeatable)
  --stdin                  send each stdin line (a base64 Record) as it arrives
  --to <id>                Endpoint ID to send to (default: the Record's to_id)
  --count <n>              exit after receiving n Records
  --exit-after-send        exit once every Record given was sent
  --timeout <ms>           give up connecting after <ms> (default 30000)
  --json                   JSON lines on stdout (the default; accepted for uniformity)
  -h, --help               this text
  -v, --version            the package version
`;

class UsageError extends Error {}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      "endpoint-id": { type: "string" },
      "mqtt-version": { type: "string" },
      "response-topic": { type: "string" },
      subscribe: { type: "string", multiple: true },
      peer: { type: "string", multiple: true },
      "client-id": { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      qos: { type: "string" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      insecure: { type: "boolean" },
      send: { type: "string", multiple: true },
      stdin: { type: "boolean" },
      to: { type: "string" },
      count: { type: "string" },
      "exit-after-send": { type: "boolean" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
  return { values, positionals };
}

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function diag(message: string): void {
  process.stderr.write(`mtp-mqtt: ${message}\n`);
}

function toNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

function describeRecord(bytes: Uint8Array, record: ReturnType<typeof decodeRecord>): Record<string, unknown> {
  const type = record.recordType?.$case;
  const value = record.recordType?.value as Record<string, unknown> | undefined;
  const details: Record<string, unknown> = {};
  if (type === "noSessionContext")
    details.payload = Buffer.from(value?.payload as Uint8Array).toString("base64");
  if (type === "mqttConnect") {
    details.mqttVersion = value?.version === 1 ? "5" : "3.1.1";
    details.subscribedTopic = value?.subscribedTopic;
  }
  if (type === "disconnect") {
    details.reason = value?.reason;
    details.reasonCode = value?.reasonCode;
  }
  return {
    version: record.version,
    toId: record.toId,
    fromId: record.fromId,
    type,
    ...details,
    bytes: Buffer.from(bytes).toString("base64"),
  };
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    diag((err as Error).message);
    process.stderr.write(HELP);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const role = positionals[0];
  if (role !== "agent" && role !== "controller") {
    diag("first argument must be 'agent' or 'controller'");
    process.stderr.write(HELP);
    return 2;
  }
  if (values["endpoint-id"] === undefined) {
    diag("--endpoint-id is required");
    return 2;
  }
  let options: MqttMtpOptions;
  let count: number;
  let timeoutMs: number;
  const stopEmbedded: (() => Promise<void>)[] = [];
  try {
    count = toNumber("count", values.count, 0);
    timeoutMs = toNumber("timeout", values.timeout, 30_000);
    const qos = toNumber("qos", values.qos, 1);
    if (qos > 1) throw new UsageError("--qos must be 0 or 1");
    const peers: MqttPeer[] = (values.peer ?? []).map((spec) => {
      const eq = spec.indexOf("=");
      if (eq <= 0 || eq === spec.length - 1)
        throw new UsageError(`--peer "${spec}" must be <endpoint-id>=<topic>`);
      return { endpointId: spec.slice(0, eq), topic: spec.slice(eq + 1) };
    });
    const mqttVersion = values["mqtt-version"] ?? (values.url === undefined ? "3.1.1" : "5");
    if (mqttVersion !== "5" && mqttVersion !== "3.1.1")
      throw new UsageError("--mqtt-version must be 5 or 3.1.1");
    let url = values.url;
    if (url === undefined) {
      if (mqttVersion !== "3.1.1")
        throw new UsageError("the embedded broker speaks MQTT 3.1.1 only: add --url for 5.0");
      const embedded = await startEmbeddedBroker();
      stopEmbedded.push(() => embedded.stop());
      url = embedded.url;
      diag(`no --url: started an in-process aedes broker (MQTT 3.1.1 only, for demos) at ${url}`);
    }
    const secure = url.startsWith("mqtts:") || url.startsWith("ssl:") || url.startsWith("tls:");
    const password = values.password ?? process.env.MQTT_PASSWORD;
    options = {
      role,
      endpointId: values["endpoint-id"],
      url,
      mqttVersion,
      qos: qos as 0 | 1,
      peers,
      ...(values["response-topic"] === undefined ? {} : { responseTopic: values["response-topic"] }),
      ...(values.subscribe === undefined ? {} : { subscriptions: values.subscribe }),
      ...(values["client-id"] === undefined ? {} : { clientId: values["client-id"] }),
      ...(values.username === undefined ? {} : { username: values.username }),
      ...(password === undefined ? {} : { password }),
      ...(secure
        ? {
            tls: {
              ...(values.ca === undefined ? {} : { ca: readFileSync(values.ca) }),
              ...(values.cert === undefined ? {} : { cert: readFileSync(values.cert) }),
              ...(values.key === undefined ? {} : { key: readFileSync(values.key) }),
              ...(values.insecure ? { insecureSkipVerify: true } : {}),
            },
          }
        : {}),
    };
  } catch (err) {
    diag((err as Error).message);
    await Promise.all(stopEmbedded.map((s) => s()));
    return err instanceof UsageError ? 2 : 1;
  }

  let mtp: MqttMtp;
  try {
    mtp = createMqttMtp(options);
  } catch (err) {
    diag((err as Error).message);
    await Promise.all(stopEmbedded.map((s) => s()));
    return 2;
  }
  let received = 0;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  mtp.on("error", (err) => diag(`${err.code}: ${err.message}`));
  mtp.on("retry", (info) =>
    diag(`reconnecting in ${info.delayMs} ms (attempt ${info.attempt}): ${info.cause.message}`),
  );
  mtp.on("session", (s) =>
    emit({
      event: "session",
      clientId: s.clientId,
      replyTopic: s.replyTopic,
      subscribed: s.subscribed,
      sessionPresent: s.sessionPresent,
    }),
  );
  mtp.on("record", (r) => {
    emit({ event: "record", ...describeRecord(r.bytes, r.record), replyTo: r.replyTo });
    received++;
    if (count > 0 && received >= count) finish(0);
  });
  const onSignal = (): void => finish(0);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    await mtp.open({ signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    diag(`could not connect: ${(err as Error).message}`);
    await mtp.close({ abrupt: true });
    await Promise.all(stopEmbedded.map((s) => s()));
    return 1;
  }

  const sendOne = async (bytes: Uint8Array, source: string): Promise<boolean> => {
    try {
      const toId = values.to ?? decodeRecord(bytes).toId;
      await mtp.send(toId, bytes);
      emit({ event: "sent", toId, source, size: bytes.length });
      return true;
    } catch (err) {
      diag(`${source}: not sent: ${(err as Error).message}`);
      return false;
    }
  };
  let failures = 0;
  for (const file of values.send ?? []) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      diag(`${file}: ${(err as Error).message}`);
      failures++;
      continue;
    }
    if (!(await sendOne(bytes, file))) failures++;
  }
  if (values.stdin) {
    const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    let n = 0;
    for await (const line of lines) {
      const text = line.trim();
      if (text === "") continue;
      n++;
      if (!(await sendOne(Buffer.from(text, "base64"), `stdin:${n}`))) failures++;
    }
  }
  if (values["exit-after-send"]) finish(failures > 0 ? 1 : 0);
  let code = await finished;
  if (failures > 0) code = 1;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await mtp.close();
  await Promise.all(stopEmbedded.map((s) => s()));
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    diag(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
