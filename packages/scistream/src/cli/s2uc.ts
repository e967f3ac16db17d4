/** `s2uc`: the user client, mirroring the reference's commands, with real exit codes and --json. */
import { parseArgs } from "node:util";
import { S2ucClient } from "../s2uc/client.js";
import { generateUid } from "../uid.js";
import {
  EXIT_OK,
  EXIT_USAGE,
  type Io,
  parseIntOption,
  processIo,
  readPem,
  reportError,
  resolveToken,
  splitList,
  UsageError,
  VERSION,
} from "./common.js";

const HELP = `Usage: s2uc <command> [options]

Commands (as in the reference S2UC):
  inbound-request                 producer side: req(PROD), hello(receivers), update
  outbound-request UID PROD_LSTN  consumer side: req(CONS), hello, update(PROD_LSTN)
  prod-req                        req(PROD), wait for an appctrl hello, update
  cons-req UID PROD_LSTN          req(CONS), wait for an appctrl hello, update(PROD_LSTN)
  update UID REMOTE_LISTENERS     update targets (--role PROD|CONS)
  release UID                     release a session

Options:
  --s2cs HOST:PORT        control server (default localhost:5000; outbound-request: localhost:6000)
  --server_cert FILE      PEM that signs (or is) the S2CS certificate (default server.crt)
  --server-name NAME      name to verify in the certificate (when --s2cs is an IP)
  --insecure              plaintext gRPC (only for an S2CS run with --ssl=False)
  --num_conn N            parallel channels (default 5)
  --rate N                requested rate, Mbit/s on our S2CS (default 10000)
  --remote_ip HOST        host of the receivers (default localhost)
  --receiver_ports LIST   receiver ports (default 5074,5075,5076,37000,47000)
  --uid UID               session uid (default: 128 random bits)
  --mock                  use the reference's fixed mock uid
  --role PROD|CONS        role for update (default PROD)
  --token TOKEN           access token (else --token-file, $SCISTREAM_TOKEN, $SCISTREAM_TOKEN_FILE)
  --token-file FILE       file whose first line is the token
  --bearer                send "Bearer <token>" instead of the raw token
  --scope SCOPE           accepted for compatibility; tokens come from the options above
  --timeout SECONDS       deadline per RPC (default 30; req waits up to 200)
  --json                  print one JSON document on stdout
  -h, --help              show this help
  --version               print the version
Exit status: 0 success, 1 failure, 2 usage error.
`;

const MOCK_UID = "4f8583bc-a4d3-11ee-9fd6-034d1fcbd7c3";

export async function runS2uc(argv: readonly string[], io: Io = processIo): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        s2cs: { type: "string" },
        server_cert: { type: "string" },
        "server-cert": { type: "string" },
        "server-name": { type: "string" },
        insecure: { type: "boolean" },
        num_conn: { type: "string" },
        "num-conn": { type: "string" },
        rate: { type: "string" },
        remote_ip: { type: "string" },
        "remote-ip": { type: "string" },
        receiver_ports: { type: "string" },
        "receiver-ports": { type: "string" },
        uid: { type: "string" },
        mock: { type: "boolean" },
        role: { type: "string" },
        token: { type: "string" },
        "token-file": { type: "string" },
        bearer: { type: "boolean" },
        scope: { type: "string" },
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
    if (command === undefined) throw new UsageError("missing command (see --help)");
    const expectArgs = (n: number, names: string) => {
      if (args.length !== n)
        throw new UsageError(`${command} takes ${names === "" ? "no arguments" : names}`);
    };
    const s2cs = values.s2cs ?? (command === "outbound-request" ? "localhost:6000" : "localhost:5000");
    const numConn = parseIntOption(values.num_conn ?? values["num-conn"] ?? "5", "num_conn", 1, 1024);
    const rate = parseIntOption(values.rate ?? "10000", "rate", 0, 2 ** 31 - 1);
    const remoteIp = values.remote_ip ?? values["remote-ip"] ?? "localhost";
    const receiverPorts = splitList(
      values.receiver_ports ?? values["receiver-ports"] ?? "5074,5075,5076,37000,47000",
    );
    const receivers = receiverPorts.map(
      (p) => `${remoteIp}:${parseIntOption(p, "receiver_ports", 1, 65535)}`,
    );
    const timeoutMs = parseIntOption(values.timeout ?? "30", "timeout", 1, 3600) * 1000;
    const token = resolveToken(values, io.env);
    const insecure = values.insecure === true;
    const certFile = values.server_cert ?? values["server-cert"] ?? "server.crt";
    const role = values.role ?? "PROD";
    if (role !== "PROD" && role !== "CONS") throw new UsageError("--role must be PROD or CONS");

    const known = ["inbound-request", "outbound-request", "prod-req", "cons-req", "update", "release"];
    if (!known.includes(command)) throw new UsageError(`unknown command ${command} (see --help)`);
    if (command === "inbound-request" || command === "prod-req") expectArgs(0, "");
    if (command === "outbound-request" || command === "cons-req") expectArgs(2, "UID PROD_LSTN");
    if (command === "update") expectArgs(2, "UID REMOTE_LISTENERS");
    if (command === "release") expectArgs(1, "UID");

    const client = new S2ucClient({
      address: s2cs,
      ...(insecure ? { insecure: true } : { ca: readPem(certFile, "server certificate") }),
      ...(values["server-name"] === undefined ? {} : { serverName: values["server-name"] }),
      ...(token === undefined ? {} : { token }),
      bearer: values.bearer === true,
      deadlineMs: timeoutMs,
    });
    try {
      const print = (result: Record<string, unknown>, lines: string[]) => {
        if (json) io.out(`${JSON.stringify({ ok: true, ...result })}\n`);
        else io.out(`${lines.join("\n")}\n`);
      };
      const uid = values.uid ?? (values.mock === true ? MOCK_UID : generateUid());
      switch (command) {
        case "inbound-request": {
          const r = await client.inboundRequest({ uid, numConn, rate, receivers });
          print({ uid: r.uid, s2cs, role: "PROD", listeners: r.listeners, prod_listeners: r.prodListeners }, [
            `uid: ${r.uid}`,
            `s2cs: ${s2cs}`,
            "role: PROD",
            `Listeners: ${JSON.stringify(r.listeners)}`,
            `Prod listeners: ${JSON.stringify(r.prodListeners)}`,
          ]);
          break;
        }
        case "outbound-request": {
          const [u, prodLstn] = args as [string, string];
          const r = await client.outboundRequest({
            uid: u,
            numConn,
            rate,
            receivers,
            remoteListeners: splitList(prodLstn),
          });
          print({ uid: u, s2cs, role: "CONS", listeners: r.listeners, prod_listeners: r.prodListeners }, [
            `uid: ${u}`,
            `s2cs: ${s2cs}`,
            "role: CONS",
            `Listeners: ${JSON.stringify(r.listeners)}`,
            `Prod listeners: ${JSON.stringify(r.prodListeners)}`,
          ]);
          break;
        }
        case "prod-req":
        case "cons-req": {
          const isProd = command === "prod-req";
          const u = isProd ? uid : args[0]!;
          if (!json) io.err(`uid: ${u}\nwaiting for the application controller's hello...\n`);
          const req = await client.req({ uid: u, role: isProd ? "PROD" : "CONS", numConn, rate });
          const targets = isProd ? req.prodListeners : splitList(args[1]!);
          if (targets.length === 0) throw new UsageError("no producer listeners to update with");
          const r = await client.update({ uid: u, role: isProd ? "PROD" : "CONS", remoteListeners: targets });
          print(
            {
              uid: u,
              s2cs,
              role: isProd ? "PROD" : "CONS",
              listeners: r.listeners,
              prod_listeners: r.prodListeners,
            },
            [
              `uid: ${u}`,
              `Listeners: ${JSON.stringify(r.listeners)}`,
              `Prod listeners: ${JSON.stringify(r.prodListeners)}`,
            ],
          );
          break;
        }
        case "update": {
          const [u, remote] = args as [string, string];
          const r = await client.update({ uid: u, role, remoteListeners: splitList(remote) });
          print({ uid: u, listeners: r.listeners, prod_listeners: r.prodListeners }, [
            `Listeners: ${JSON.stringify(r.listeners)}`,
            `Prod listeners: ${JSON.stringify(r.prodListeners)}`,
          ]);
          break;
        }
        case "release": {
          await client.release(args[0]!);
          print({ uid: args[0] }, [`Released ${args[0]}`]);
          break;
        }
      }
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
