/**
 * `mtp-websocket`: listen for USP Records over WebSocket (printing them as JSON lines), or connect
 * and send Records from files, hex or stdin. Data goes to stdout, diagnostics to stderr.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { noSessionContextRecord, type UspRecord } from "@x/usp-record";
import type { ReceivedRecord } from "@x/usp-record/mtp";
import { recordToJson } from "./json.js";
import { createWebSocketMtp, type WebSocketMtp } from "./mtp.js";
import type { WebSocketMtpOptions } from "./options.js";

const HELP = `Usage: mtp-websocket <command> [options]

Commands:
  listen     accept WebSocket sessions and print every received Record as a JSON line
  connect    connect to a USP WebSocket endpoint and send Records

Common options:
  --role agent|controller   our USP role (listen: controller, connect: agent by default)
  --id <endpoint-id>        our Endpoint ID (required)
  --json                    machine-readable output (one JSON document per line)
  --help, --version

listen:
  --host <addr>             default 127.0.0.1
  --port <n>                default 0 (ephemeral; printed at start)
  --path <path>             default /usp
  --cert <file> --key <file>          serve wss:// with this certificate chain and key (PEM)
  --ca <file>                         trust anchors for client certificates
  --client-cert none|request|require  client certificate policy (default none; require = mTLS)
  --echo                    answer every NoSessionContext Record with the same payload
  --count <n>               exit after n Records that are not Connect/Disconnect Records

connect:
  --url <ws[s]://...>       the peer's USP WebSocket URL (required; eid=<id> is added)
  --to <endpoint-id>        the peer's Endpoint ID (default: learned from the session)
  --file <path>             send the Record in this file (binary); repeatable
  --hex <hex>               send this Record (hex); repeatable
  --payload-hex <hex>       send a NoSessionContext Record with this Msg payload; repeatable
                            (without --file/--hex/--payload-hex, one Record is read from stdin: binary or hex)
  --wait <ms>               keep the session open this long and print what arrives (default 0)
  --timeout <ms>            give up connecting, or a send waiting for a reconnect, after this long (default 10000)
  --ca <file> --cert <file> --key <file>   TLS trust anchors and client certificate
  --insecure                accept any server certificate (reported on stderr)

Exit codes: 0 ok, 1 failure, 2 usage error.
`;

class UsageError extends Error {}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean))
    throw new UsageError(`not hex: ${hex.slice(0, 40)}`);
  return Uint8Array.from(Buffer.from(clean, "hex"));
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const text = bytes.toString("latin1").trim();
  return /^[0-9a-fA-F\s]+$/.test(text) && text.length > 0 ? hexToBytes(text) : Uint8Array.from(bytes);
}

function recordLine(r: ReceivedRecord): string {
  return JSON.stringify({
    event: "record",
    from: r.fromId,
    to: r.record.toId,
    type: r.record.recordType?.$case ?? null,
    size: r.bytes.length,
    record: recordToJson(r.record),
  });
}

function attachOutput(mtp: WebSocketMtp, json: boolean): void {
  mtp.on("record", (r) => process.stdout.write(`${recordLine(r)}\n`));
  mtp.on("error", (e) =>
    process.stderr.write(
      json
        ? `${JSON.stringify({ event: "error", code: e.code, message: e.message })}\n`
        : `error: ${e.code}: ${e.message}\n`,
    ),
  );
  mtp.on("peerConnected", (p) => {
    if (json)
      process.stderr.write(
        `${JSON.stringify({ event: "peerConnected", endpointId: p.endpointId ?? null })}\n`,
      );
    else process.stderr.write(`connected: ${p.endpointId ?? "(unknown peer)"}\n`);
  });
}

async function listen(values: Record<string, unknown>): Promise<number> {
  const json = values.json === true;
  const cert = values.cert as string | undefined;
  const key = values.key as string | undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--cert and --key go together");
  const clientCert = (values["client-cert"] as string | undefined) ?? "none";
  if (!["none", "request", "require"].includes(clientCert))
    throw new UsageError("--client-cert is none, request or require");
  const port = Number(values.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError("--port must be 0..65535");
  const countLimit = values.count === undefined ? undefined : Number(values.count);
  const options: WebSocketMtpOptions = {
    role: ((values.role as string | undefined) ?? "controller") as "agent" | "controller",
    endpointId: values.id as string,
    listen: {
      host: (values.host as string | undefined) ?? "127.0.0.1",
      port,
      path: (values.path as string | undefined) ?? "/usp",
      tls:
        cert === undefined || key === undefined
          ? undefined
          : {
              cert: readFileSync(cert),
              key: readFileSync(key),
              ca: values.ca === undefined ? undefined : readFileSync(values.ca as string),
              clientCertificate: clientCert as "none" | "request" | "require",
            },
    },
  };
  const mtp = createWebSocketMtp(options);
  attachOutput(mtp, json);
  let seen = 0;
  const done = new Promise<void>((resolve) => {
    mtp.on("record", (r) => {
      const kind = r.record.recordType?.$case;
      if (values.echo === true && kind === "noSessionContext") {
        const echo: UspRecord = noSessionContextRecord({
          toId: r.fromId,
          fromId: mtp.localEndpointId,
          payload:
            r.record.recordType?.$case === "noSessionContext"
              ? r.record.recordType.value.payload
              : new Uint8Array(0),
        });
        mtp
          .send(r.fromId, echo, { replyTo: r.replyTo })
          .catch((e: Error) => process.stderr.write(`echo failed: ${e.message}\n`));
      }
      if (kind !== "websocketConnect" && kind !== "disconnect") seen++;
      if (countLimit !== undefined && seen >= countLimit) resolve();
    });
    const stop = (): void => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await mtp.open();
  if (json) process.stdout.write(`${JSON.stringify({ event: "listening", url: mtp.url })}\n`);
  else process.stderr.write(`listening on ${mtp.url}\n`);
  await done;
  // Give an echo in flight the chance to leave before closing.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await mtp.close();
  return 0;
}

async function connect(values: Record<string, unknown>): Promise<number> {
  const json = values.json === true;
  const url = values.url as string | undefined;
  if (url === undefined) throw new UsageError("connect needs --url");
  const id = values.id as string;
  const to = values.to as string | undefined;
  const records: (Uint8Array | ((peer: string) => UspRecord))[] = [];
  for (const f of (values.file as string[] | undefined) ?? []) records.push(Uint8Array.from(readFileSync(f)));
  for (const h of (values.hex as string[] | undefined) ?? []) records.push(hexToBytes(h));
  for (const p of (values["payload-hex"] as string[] | undefined) ?? []) {
    const payload = hexToBytes(p);
    records.push((peer) => noSessionContextRecord({ toId: peer, fromId: id, payload }));
  }
  if (records.length === 0 && !process.stdin.isTTY) records.push(await readStdin());
  const timeout = Number(values.timeout ?? 10_000);
  const mtp = createWebSocketMtp({
    role: ((values.role as string | undefined) ?? "agent") as "agent" | "controller",
    endpointId: id,
    peers: [
      {
        url,
        endpointId: to,
        // Without --to, ask the server for its Endpoint ID (R-WS.11a answers the extension offer).
        offerExtension: to === undefined,
        tls: {
          ca: values.ca === undefined ? undefined : readFileSync(values.ca as string),
          cert: values.cert === undefined ? undefined : readFileSync(values.cert as string),
          key: values.key === undefined ? undefined : readFileSync(values.key as string),
          insecureSkipVerify: values.insecure === true,
        },
      },
    ],
    // A send held while the session is re-established waits no longer than connecting may.
    sendTimeoutMs: Number.isFinite(timeout) && timeout >= 0 ? timeout : undefined,
  });
  attachOutput(mtp, json);
  let peer: string | undefined = to;
  mtp.on("peerConnected", (p) => {
    peer ??= p.endpointId;
  });
  try {
    await mtp.open({ signal: AbortSignal.timeout(timeout) });
  } catch (error) {
    process.stderr.write(`cannot connect to ${url}: ${(error as Error).message}\n`);
    await mtp.close({ abrupt: true });
    return 1;
  }
  if (peer === undefined) {
    // The peer Endpoint ID comes from the first Record when neither --to nor the handshake gave it.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      mtp.once("record", (r) => {
        peer = r.fromId;
        clearTimeout(t);
        resolve();
      });
    });
  }
  let failed = 0;
  for (const r of records) {
    if (peer === undefined) {
      process.stderr.write("the peer Endpoint ID is unknown: pass --to\n");
      failed++;
      break;
    }
    try {
      await mtp.send(peer, typeof r === "function" ? r(peer) : r);
      if (json) process.stdout.write(`${JSON.stringify({ event: "sent", to: peer })}\n`);
    } catch (error) {
      process.stderr.write(`send failed: ${(error as Error).message}\n`);
      failed++;
    }
  }
  const wait = Number(values.wait ?? 0);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  await mtp.close();
  return failed === 0 ? 0 : 1;
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
        json: { type: "boolean" },
        role: { type: "string" },
        id: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        path: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        ca: { type: "string" },
        "client-cert": { type: "string" },
        echo: { type: "boolean" },
        count: { type: "string" },
        url: { type: "string" },
        to: { type: "string" },
        file: { type: "string", multiple: true },
        hex: { type: "string", multiple: true },
        "payload-hex": { type: "string", multiple: true },
        wait: { type: "string" },
        timeout: { type: "string" },
        insecure: { type: "boolean" },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version === true) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  try {
    const command = positionals[0];
    if (positionals.length !== 1 || (command !== "listen" && command !== "connect")) {
      throw new UsageError("expected one command: listen or connect");
    }
    if (typeof values.id !== "string" || values.id === "")
      throw new UsageError("--id <endpoint-id> is required");
    if (values.role !== undefined && values.role !== "agent" && values.role !== "controller") {
      throw new UsageError("--role is agent or controller");
    }
    return command === "listen" ? await listen(values) : await connect(values);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${HELP}`);
      return 2;
    }
    process.stderr.write(`mtp-websocket: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
