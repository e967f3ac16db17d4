/** `appctrl`: an application controller that registers endpoints with a hello. */
import { parseArgs } from "node:util";
import { S2ucClient } from "../s2uc/client.js";
import {
  EXIT_OK,
  EXIT_USAGE,
  type Io,
  processIo,
  readPem,
  reportError,
  resolveToken,
  splitList,
  UsageError,
  VERSION,
} from "./common.js";

const HELP = `Usage: appctrl hello UID S2CS ROLE [options]
       appctrl mock UID S2CS TOKEN ROLE [CONTROLLER_IP]   (the reference's form)

Sends a HELLO for session UID to the S2CS at S2CS (host:port) and prints the answer.
ROLE PROD registers producer listeners; any other role receives the S2DS listeners.

Options:
  --listeners LIST      producer endpoints host:port,... (default for mock:
                        CONTROLLER_IP:5074,5075,5076,37000,47000)
  --server_cert FILE    PEM that signs (or is) the S2CS certificate (default server.crt)
  --server-name NAME    name to verify in the certificate
  --insecure            plaintext gRPC
  --token TOKEN         access token (else --token-file, $SCISTREAM_TOKEN, $SCISTREAM_TOKEN_FILE)
  --token-file FILE
  --bearer              send "Bearer <token>"
  --timeout SECONDS     RPC deadline (default 30)
  --json                print one JSON document on stdout
  -h, --help | --version
Exit status: 0 success, 1 failure, 2 usage error.
`;

export async function runAppctrl(argv: readonly string[], io: Io = processIo): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        listeners: { type: "string" },
        server_cert: { type: "string" },
        "server-cert": { type: "string" },
        "server-name": { type: "string" },
        insecure: { type: "boolean" },
        token: { type: "string" },
        "token-file": { type: "string" },
        bearer: { type: "boolean" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    });
    json = values.json === true;
    if (values.help === true) {
      io.out(HELP);
      return EXIT_OK;
    }
    if (values.version === true) {
      io.out(`${VERSION}\n`);
      return EXIT_OK;
    }
    const [command, ...args] = positionals;
    let uid: string;
    let s2cs: string;
    let role: string;
    let token = resolveToken(values, io.env);
    let listeners: string[];
    if (command === "hello") {
      if (args.length !== 3) throw new UsageError("hello takes UID S2CS ROLE");
      [uid, s2cs, role] = args as [string, string, string];
      listeners = splitList(values.listeners ?? "");
    } else if (command === "mock" || command === "create-appctrl") {
      if (args.length < 4 || args.length > 5)
        throw new UsageError(`${command} takes UID S2CS TOKEN ROLE [CONTROLLER_IP]`);
      [uid, s2cs] = args as [string, string];
      token = args[2] === "" || args[2] === "INVALID_TOKEN" ? token : args[2];
      role = args[3]!;
      const ip = args[4] ?? "localhost";
      listeners = splitList(
        values.listeners ?? [5074, 5075, 5076, 37000, 47000].map((p) => `${ip}:${p}`).join(","),
      );
    } else {
      throw new UsageError(
        command === undefined ? "missing command (see --help)" : `unknown command ${command}`,
      );
    }
    const timeout = Number(values.timeout ?? "30");
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new UsageError("--timeout must be a positive number");
    const client = new S2ucClient({
      address: s2cs,
      ...(values.insecure === true
        ? { insecure: true }
        : { ca: readPem(values.server_cert ?? values["server-cert"] ?? "server.crt", "server certificate") }),
      ...(values["server-name"] === undefined ? {} : { serverName: values["server-name"] }),
      ...(token === undefined ? {} : { token }),
      bearer: values.bearer === true,
      deadlineMs: timeout * 1000,
    });
    try {
      const r = await client.hello({ uid, role, prodListeners: listeners });
      if (json) io.out(`${JSON.stringify({ ok: true, uid, message: r.message, listeners: r.listeners })}\n`);
      else
        io.out(
          `${r.message}\n${r.listeners.length > 0 ? `Listeners: ${JSON.stringify(r.listeners)}\n` : ""}`,
        );
    } finally {
      client.close();
    }
    return EXIT_OK;
  } catch (err) {
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`error: ${err.message}\n`);
      return EXIT_USAGE;
    }
    return reportError(err, json, io);
  }
}
