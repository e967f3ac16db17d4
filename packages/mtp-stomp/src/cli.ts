/**
 * `mtp-stomp`: run a USP STOMP MTP endpoint from the shell, as an Agent or a Controller.
 * Received Records are printed to stdout (one line each, or NDJSON with --json); diagnostics go
 * to stderr. Exit 0 on success, 1 on failure, 2 on usage errors.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { ReceivedRecord } from "@x/usp-record/mtp";
import { type MtpError, StompOptionsError } from "./errors.js";
import { parseHeartbeat } from "./heartbeat.js";
import { createStompMtp, type StompMtp, type StompPeer } from "./mtp.js";

const HELP = `Usage: mtp-stomp <agent|controller> [options]

Connects to a STOMP 1.2 broker as a USP Agent or Controller (TR-369 STOMP MTP) and prints every
Record it receives. An Agent sends a STOMPConnectRecord to each --peer after connecting.

Broker:
  --host <host>             broker address (required)
  --port <port>             STOMP port (default 61613)
  --login <user>            STOMP login         --passcode <pw>   STOMP passcode
  --vhost <name>            virtual host, sent as the 'host' header only when given
  --tls                     use TLS (certificate verification on)
  --ca <file>               trusted CA certificates (PEM)
  --cert <file> --key <file>  client certificate and key (PEM)
  --servername <name>       name to verify in the broker certificate
  --insecure                DANGEROUS: do not verify the broker certificate
  --heartbeat <out,in>      heart-beats to offer, ms (default: none)

USP:
  --endpoint-id <id>        our Endpoint ID (required)
  --destination <dest>      our destination (unless the broker sends subscribe-dest)
  --peer <id=dest>          a peer Endpoint and its destination (repeatable)
  --send-hex <hex>          after connecting, send this Record (hex) ...
  --send-file <file>        ... or this Record (binary file)
  --to <id>                 recipient of --send-* (default: the first --peer)
  --echo                    answer every data Record with the same payload on its reply-to-dest
  --count <n>               exit 0 after receiving n Records
  --timeout <seconds>       give up after this long (exit 1 if --count was not reached)
  --retry-initial <s>       ServerRetryInitialInterval (default 60)

Output:
  --json                    NDJSON events on stdout
  --help, --version
`;

function fail(message: string, code: number): never {
  process.stderr.write(`mtp-stomp: ${message}\n`);
  process.exit(code);
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return "unknown";
  }
}

function parsePeers(values: string[] | undefined): StompPeer[] {
  return (values ?? []).map((value) => {
    const at = value.indexOf("=");
    if (at <= 0 || at === value.length - 1)
      throw new StompOptionsError(`--peer expects <id=dest>, got ${value}`);
    return { endpointId: value.slice(0, at), destination: value.slice(at + 1) };
  });
}

function describeRecord(r: ReceivedRecord): Record<string, unknown> {
  const type = r.record.recordType?.$case;
  const extra: Record<string, unknown> = {};
  if (type === "stompConnect") extra.subscribedDestination = r.record.recordType?.value.subscribedDestination;
  if (type === "disconnect") {
    extra.reason = r.record.recordType?.value.reason;
    extra.reasonCode = r.record.recordType?.value.reasonCode;
  }
  return {
    event: "record",
    fromId: r.fromId,
    toId: r.record.toId,
    type,
    bytes: r.bytes.byteLength,
    replyTo: r.replyTo && "destination" in r.replyTo ? r.replyTo.destination : undefined,
    ...extra,
    hex: Buffer.from(r.bytes).toString("hex"),
  };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    fail(`${(error as Error).message}\n\n${HELP}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`${readVersion()}\n`);
    return;
  }
  const mode = positionals[0];
  if (mode !== "agent" && mode !== "controller") fail(`expected "agent" or "controller"\n\n${HELP}`, 2);
  if (positionals.length > 1) fail(`unexpected argument ${positionals[1]}`, 2);
  if (!values.host) fail("--host is required", 2);
  if (!values["endpoint-id"]) fail("--endpoint-id is required", 2);
  const json = values.json === true;
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    fail("--port must be 1..65535", 2);
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0))
    fail("--count must be a positive integer", 2);
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0)) fail("--timeout must be a positive number of seconds", 2);
  const retryInitial = values["retry-initial"] === undefined ? undefined : Number(values["retry-initial"]);
  if (retryInitial !== undefined && !(retryInitial >= 0)) fail("--retry-initial must be >= 0", 2);
  const heartbeat = values.heartbeat === undefined ? undefined : parseHeartbeat(values.heartbeat);
  if (values.heartbeat !== undefined && !heartbeat) fail("--heartbeat expects <out,in> in ms", 2);
  if (values["send-hex"] !== undefined && values["send-file"] !== undefined) {
    fail("use one of --send-hex and --send-file", 2);
  }
  if (values["send-hex"] !== undefined && !/^([0-9a-fA-F]{2})+$/.test(values["send-hex"])) {
    fail("--send-hex expects an even number of hex digits", 2);
  }

  let peers: StompPeer[];
  let toSend: Uint8Array | undefined;
  let tls: Parameters<typeof createStompMtp>[0]["broker"]["tls"];
  try {
    peers = parsePeers(values.peer);
    if (values["send-hex"] !== undefined) toSend = Buffer.from(values["send-hex"], "hex");
    if (values["send-file"] !== undefined) toSend = readFileSync(values["send-file"]);
    if (values.tls || values.ca || values.cert || values.insecure) {
      tls = {
        ca: values.ca ? readFileSync(values.ca) : undefined,
        cert: values.cert ? readFileSync(values.cert) : undefined,
        key: values.key ? readFileSync(values.key) : undefined,
        servername: values.servername,
        insecureSkipVerify: values.insecure === true,
      };
    }
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const to = values.to ?? peers[0]?.endpointId;
  if (toSend && !to) fail("--send-* needs --to or a --peer", 2);

  const emit = (event: Record<string, unknown>, text: string): void => {
    if (json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else process.stdout.write(`${text}\n`);
  };

  let mtp: StompMtp;
  try {
    mtp = createStompMtp({
      role: mode,
      endpointId: values["endpoint-id"],
      broker: {
        host: values.host,
        port,
        tls,
        login: values.login,
        passcode: values.passcode,
        virtualHost: values.vhost,
      },
      destination: values.destination,
      peers,
      heartbeat,
      retry: retryInitial === undefined ? undefined : { initialInterval: retryInitial },
    });
  } catch (error) {
    fail((error as Error).message, 2);
  }

  let received = 0;
  let exitCode = 0;
  let finishing = false;
  /** Sends in flight (echo answers): finishing waits for them so nothing is cut off. */
  const inFlight = new Set<Promise<unknown>>();
  const finish = async (code: number): Promise<void> => {
    if (finishing) return;
    finishing = true;
    exitCode = code;
    await Promise.allSettled([...inFlight]);
    await mtp.close().catch(() => {});
    process.exitCode = exitCode;
    // Sockets are closed; leave nothing pending.
    setTimeout(() => process.exit(exitCode), 100).unref();
  };

  mtp.on("error", (error: MtpError) => process.stderr.write(`mtp-stomp: ${error.code}: ${error.message}\n`));
  mtp.on("state", (state) => {
    if (json) process.stdout.write(`${JSON.stringify({ event: "state", state })}\n`);
    else process.stderr.write(`mtp-stomp: ${state}\n`);
  });
  mtp.on("record", (r) => {
    // With --count, exactly that many Records are reported; later ones arrive while closing.
    if (finishing) return;
    const info = describeRecord(r);
    emit(
      info,
      `record from=${r.fromId} type=${String(info.type)} bytes=${r.bytes.byteLength} reply-to=${String(info.replyTo)}`,
    );
    if (
      values.echo &&
      info.type === "noSessionContext" &&
      r.record.recordType?.$case === "noSessionContext"
    ) {
      const answer = { ...r.record, toId: r.fromId, fromId: mtp.localEndpointId };
      const sending = mtp.send(r.fromId, answer, { replyTo: r.replyTo }).catch((error: unknown) => {
        process.stderr.write(`mtp-stomp: echo failed: ${(error as Error).message}\n`);
      });
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending));
    }
    received++;
    if (count !== undefined && received >= count) void finish(0);
  });

  process.once("SIGINT", () => void finish(0));
  process.once("SIGTERM", () => void finish(0));
  if (timeout !== undefined) {
    setTimeout(() => {
      if (count !== undefined)
        process.stderr.write(`mtp-stomp: timed out after ${received} of ${count} Records\n`);
      void finish(count === undefined ? 0 : 1);
    }, timeout * 1000).unref();
  }

  try {
    await mtp.open();
  } catch (error) {
    if (!finishing) fail(`could not open: ${(error as Error).message}`, 1);
    return;
  }
  const session = mtp.session;
  emit(
    { event: "open", destination: session?.destination, server: session?.server },
    `open destination=${session?.destination} server=${session?.server}`,
  );
  if (toSend && to) {
    try {
      await mtp.send(to, toSend);
      emit({ event: "sent", to, bytes: toSend.byteLength }, `sent to=${to} bytes=${toSend.byteLength}`);
    } catch (error) {
      process.stderr.write(`mtp-stomp: send failed: ${(error as Error).message}\n`);
      await finish(1);
    }
  }
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      json: { type: "boolean" },
      host: { type: "string" },
      port: { type: "string" },
      login: { type: "string" },
      passcode: { type: "string" },
      vhost: { type: "string" },
      tls: { type: "boolean" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      servername: { type: "string" },
      insecure: { type: "boolean" },
      heartbeat: { type: "string" },
      "endpoint-id": { type: "string" },
      destination: { type: "string" },
      peer: { type: "string", multiple: true },
      "send-hex": { type: "string" },
      "send-file": { type: "string" },
      to: { type: "string" },
      echo: { type: "boolean" },
      count: { type: "string" },
      timeout: { type: "string" },
      "retry-initial": { type: "string" },
    },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`mtp-stomp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
