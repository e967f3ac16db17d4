/**
 * `taps`: a netcat-like tool over the TAPS interface. Shows the chosen protocol stack, the
 * racing timeline and the events. Data goes to stdout, diagnostics to stderr; `--json` turns
 * stdout into NDJSON events.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Connection } from "./connection.js";
import { LocalEndpoint, RemoteEndpoint } from "./endpoint.js";
import { TapsError } from "./errors.js";
import { DelimiterFramer, type Framer, LengthPrefixFramer } from "./framer.js";
import { MessageContext } from "./message-context.js";
import { Preconnection } from "./preconnection.js";
import { type ProfileName, TransportProperties } from "./properties.js";
import { SecurityParameters } from "./security.js";

const HELP = `Usage:
  taps connect <host> <port> [options]   open a Connection; stdin is sent, received data goes to stdout
  taps listen <port> [options]           accept Connections; received data goes to stdout

Options:
  --tls                   use TLS (strict verification against --ca or the system roots)
  --ca <file>             PEM file of CA certificates to trust (connect)
  --servername <name>     name to verify in the server certificate (connect)
  --cert <file> --key <file>  identity (listen with --tls; or a client certificate)
  --require <property>    Require a selection property (repeatable); also --prefer, --avoid, --prohibit
  --profile <name>        reliable-inorder-stream | reliable-message | unreliable-datagram
  --udp                   shorthand for --profile unreliable-datagram
  --framer <kind>         none (default) | length | line  (length/line: each stdin line is one Message)
  --timeout <ms>          establishment timeout (connect, default 10000)
  --attempt-delay <ms>    racing stagger delay (default 250)
  --host <address>        listen address (default 127.0.0.1)
  --echo                  listen: send every received Message back
  --once                  listen: stop after the first Connection ends
  --json                  NDJSON events on stdout instead of raw data
  -h, --help              this help
  -v, --version           version
Exit status: 0 ok, 1 failure, 2 usage error.`;

class UsageError extends Error {}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return "unknown";
  }
}

type Values = {
  tls?: boolean;
  ca?: string;
  servername?: string;
  cert?: string;
  key?: string;
  require?: string[];
  prefer?: string[];
  avoid?: string[];
  prohibit?: string[];
  profile?: string;
  udp?: boolean;
  framer?: string;
  timeout?: string;
  "attempt-delay"?: string;
  host?: string;
  echo?: boolean;
  once?: boolean;
  json?: boolean;
  help?: boolean;
  version?: boolean;
};

function properties(v: Values): TransportProperties {
  const profile = v.udp ? "unreliable-datagram" : v.profile;
  let tp: TransportProperties;
  if (profile) {
    if (!["reliable-inorder-stream", "reliable-message", "unreliable-datagram"].includes(profile))
      throw new UsageError(`unknown profile "${profile}"`);
    tp = TransportProperties.profile(profile as ProfileName);
  } else tp = new TransportProperties();
  for (const p of v.require ?? []) tp.require(p);
  for (const p of v.prefer ?? []) tp.prefer(p);
  for (const p of v.avoid ?? []) tp.avoid(p);
  for (const p of v.prohibit ?? []) tp.prohibit(p);
  return tp;
}

function framer(kind: string | undefined): Framer | undefined {
  if (kind === undefined || kind === "none") return undefined;
  if (kind === "length") return new LengthPrefixFramer();
  if (kind === "line" || kind === "delimiter") return new DelimiterFramer();
  throw new UsageError(`unknown framer "${kind}"`);
}

function number(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} takes a non-negative number`);
  return n;
}

function security(v: Values): SecurityParameters | null {
  if (!v.tls) return null;
  const sp = new SecurityParameters();
  if (v.ca) sp.addTrustedCA(readFileSync(v.ca, "utf8"));
  if (v.cert) sp.addIdentity(readFileSync(v.cert, "utf8"));
  if (v.key) sp.addPrivateKey(readFileSync(v.key, "utf8"));
  if (v.servername) sp.serverName = v.servername;
  return sp;
}

class Output {
  constructor(private readonly json: boolean) {}
  event(event: string, fields: Record<string, unknown> = {}): void {
    if (this.json) process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
    else
      process.stderr.write(`[${event}]${Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ""}\n`);
  }
  data(bytes: Uint8Array, framed: boolean, context: Record<string, unknown> = {}): void {
    if (this.json)
      this.event("data", { ...context, text: Buffer.from(bytes).toString("utf8"), length: bytes.length });
    else process.stdout.write(framed ? Buffer.concat([bytes, Buffer.from("\n")]) : bytes);
  }
}

function wire(
  connection: Connection,
  out: Output,
  framed: boolean,
  label: Record<string, unknown> = {},
  echo = false,
): Promise<boolean> {
  connection.on("establishing", (entry) =>
    out.event("timeline", {
      ...label,
      step: entry.event,
      t: entry.t,
      candidate: entry.candidate,
      detail: entry.detail,
    }),
  );
  connection.on("sent", () => {});
  connection.on("sendError", (_ctx, e) =>
    out.event("sendError", { ...label, code: e.code, message: e.message }),
  );
  connection.on("softError", (e) => out.event("softError", { ...label, message: e.message }));
  connection.on("securityNotice", (n) => out.event("securityNotice", { ...label, ...n }));
  return new Promise<boolean>((resolve) => {
    connection.on("closed", () => {
      out.event("closed", label);
      resolve(true);
    });
    connection.on("connectionError", (e) => {
      out.event("connectionError", { ...label, code: e.code, reason: e.reason, message: e.message });
      resolve(false);
    });
    connection.on("initiateError", (e) => {
      out.event("initiateError", {
        ...label,
        code: e.code,
        reason: e.reason,
        property: e.property,
        message: e.message,
      });
      resolve(false);
    });
    void (async () => {
      for await (const m of connection.messages({ minIncompleteLength: framed ? undefined : 1 })) {
        out.data(m.data, framed, label);
        if (echo) await connection.send(m.data);
      }
      if (echo) await connection.close();
    })().catch(() => {});
  });
}

async function stdinMessages(framed: boolean, onData: (chunk: Buffer) => void): Promise<void> {
  let pending = "";
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    if (!framed) {
      onData(chunk);
      continue;
    }
    pending += chunk.toString("utf8");
    let at = pending.indexOf("\n");
    while (at >= 0) {
      onData(Buffer.from(pending.slice(0, at)));
      pending = pending.slice(at + 1);
      at = pending.indexOf("\n");
    }
  }
  if (framed && pending.length > 0) onData(Buffer.from(pending));
}

async function connect(host: string, portText: string, v: Values, out: Output): Promise<number> {
  const port = number(portText, "port", 0);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError("the port must be 1..65535");
  const f = framer(v.framer);
  const pre = new Preconnection({
    remote: new RemoteEndpoint().withHostname(host).withPort(port),
    transportProperties: properties(v),
    securityParameters: security(v),
    options: { attemptDelay: number(v["attempt-delay"], "attempt-delay", 250) },
  });
  if (f) pre.addFramer(f);
  const connection = pre.initiate({ timeout: number(v.timeout, "timeout", 10_000) });
  const done = wire(connection, out, f !== undefined);
  connection.on("ready", () =>
    out.event("ready", {
      stack: connection.protocolStack,
      remote: connection.remoteEndpoint?.toString(),
      local: connection.localEndpoint?.toString(),
    }),
  );
  try {
    await connection.ready;
  } catch {
    await done;
    return 1;
  }
  // Like netcat's half-close: the last stdin Message is sent as Final (FIN after it), and replies
  // are still received until the peer closes too.
  let held: Buffer | undefined;
  await stdinMessages(f !== undefined, (chunk) => {
    if (held) void connection.send(held);
    held = chunk;
  });
  if (held) void connection.send(held, new MessageContext().add("final", true));
  else void connection.close();
  return (await done) ? 0 : 1;
}

async function listen(portText: string, v: Values, out: Output): Promise<number> {
  const port = number(portText, "port", 0);
  if (!Number.isInteger(port) || port > 65535) throw new UsageError("the port must be 0..65535");
  const f = framer(v.framer);
  const local = new LocalEndpoint().withIPAddress(v.host ?? "127.0.0.1").withPort(port);
  const pre = new Preconnection({
    local,
    transportProperties: properties(v),
    securityParameters: security(v),
  });
  if (f) pre.addFramer(f);
  const listener = pre.listen();
  let failed = false;
  let n = 0;
  const finished = new Promise<void>((resolve) => {
    listener.on("stopped", () => {
      out.event("stopped");
      resolve();
    });
    listener.on("listenError", (e) => {
      failed = true;
      out.event("listenError", { code: e.code, reason: e.reason, property: e.property, message: e.message });
      resolve();
    });
  });
  listener.on("connectionReceived", (connection) => {
    const id = ++n;
    out.event("connectionReceived", {
      id,
      stack: connection.protocolStack,
      remote: connection.remoteEndpoint?.toString(),
    });
    const done = wire(connection, out, f !== undefined, { id }, v.echo === true);
    void done.then(() => {
      if (v.once) void listener.stop();
    });
  });
  try {
    await listener.ready;
    out.event("listening", { stack: listener.protocolStack, port: listener.port });
  } catch {
    await finished;
    return 1;
  }
  const stop = () => void listener.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await finished;
  return failed ? 1 : 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        tls: { type: "boolean" },
        ca: { type: "string" },
        servername: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        require: { type: "string", multiple: true },
        prefer: { type: "string", multiple: true },
        avoid: { type: "string", multiple: true },
        prohibit: { type: "string", multiple: true },
        profile: { type: "string" },
        udp: { type: "boolean" },
        framer: { type: "string" },
        timeout: { type: "string" },
        "attempt-delay": { type: "string" },
        host: { type: "string" },
        echo: { type: "boolean" },
        once: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    process.stderr.write(`taps: ${(error as Error).message}\n${HELP}\n`);
    return 2;
  }
  const v = parsed.values as Values;
  if (v.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (v.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command, ...rest] = parsed.positionals;
  const out = new Output(v.json === true);
  try {
    if (command === "connect" && rest.length === 2) return await connect(rest[0]!, rest[1]!, v, out);
    if (command === "listen" && rest.length === 1) return await listen(rest[0]!, v, out);
    throw new UsageError(command ? `bad arguments for "${command}"` : "missing command");
  } catch (error) {
    if (error instanceof UsageError || error instanceof TapsError) {
      const usage = error instanceof UsageError || (error as TapsError).code === "ERR_TAPS_PROPERTY";
      process.stderr.write(`taps: ${error.message}\n`);
      if (usage) process.stderr.write(`${HELP}\n`);
      return usage ? 2 : 1;
    }
    process.stderr.write(`taps: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`taps: internal error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
