/** `s2cs`: runs a control server and its S2DS, with the reference's flags. */

import { readFileSync } from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";
import { type Authenticator, introspectionAuth, jwtAuth, noAuth, staticTokenAuth } from "../auth.js";
import { jsonLogger } from "../log.js";
import { S2cs } from "../s2cs/server.js";
import type { ChannelTransport } from "../s2ds/channel.js";
import { parsePortRange } from "../s2ds/port-pool.js";
import { type CipherProfileName, isCipherProfileName } from "../s2ds/profiles.js";
import { formatHostPort } from "../s2ds/s2ds.js";
import {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type Io,
  parseBool,
  parseIntOption,
  processIo,
  readPem,
  reportError,
  UsageError,
  VERSION,
} from "./common.js";

const HELP = `Usage: s2cs [options]

Runs a SciStream control server (gRPC over TLS) and its data server (TLS-PSK relays in worker
threads). Flags mirror the reference's; both --listener_ip and --listener-ip spellings work.

  -l, --listener_ip IP     address advertised in S2DS listeners (default 127.0.0.1)
      --bind_ip IP         address the S2DS and the control port bind to (default: listener_ip)
      --port N             control port (default 5000; 0 = any free port)
      --port_range A-B     S2DS port pool (default 5100-5200; 0 = ephemeral ports)
  -t, --type TYPE          S2DS flavour: S2DS (ours, default), StunnelSubprocess|Stunnel
                           (TLS-PSK, reference-compat profile), HaproxySubprocess|Haproxy|Nginx
                           (plain TCP, no data-plane security)
      --profile NAME       cipher profile: secure (default), tls12, reference-compat
      --workers N          S2DS worker threads (default cores - 1, 1..4; 0 = main thread)
      --server_crt FILE    control-plane certificate chain (default server.crt)
      --server_key FILE    control-plane key (default server.key)
      --ssl BOOL           --ssl=False serves plaintext gRPC (insecure)
      --auth KIND          none | static | jwt | introspection (default: introspection when
                           --client_secret is set; otherwise required)
      --client_id ID       resource-server client id (default c42c0dac-0a52-408e-a04f-5d31bfe0aef8)
      --client_secret S    client secret for token introspection (also $SCISTREAM_CLIENT_SECRET)
      --introspection_url URL   RFC 7662 endpoint (default Globus Auth's)
      --scope SCOPE        required scope (default https://auth.globus.org/scopes/<client_id>/scistream)
      --jwks_url URL --issuer ISS --audience AUD   for --auth jwt
      --tokens_file FILE   for --auth static: lines "token subject"
      --metrics_port N     serve Prometheus text on 127.0.0.1:N/metrics
      --hello_timeout S    seconds a req waits for its hello (default 180)
  -v, --verbose            debug logs (JSON lines on stderr)
      --json               print the listening address as JSON on stdout
  -h, --help | --version
Stops on SIGINT/SIGTERM, releasing every session. Exit status: 0 clean stop, 1 failure, 2 usage.
`;

const GLOBUS_INTROSPECT = "https://auth.globus.org/v2/oauth2/token/introspect";

function chooseAuth(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): Authenticator {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const clientId = str("client_id") ?? "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
  const clientSecret = str("client_secret") ?? env["SCISTREAM_CLIENT_SECRET"] ?? "";
  const scope = str("scope") ?? `https://auth.globus.org/scopes/${clientId}/scistream`;
  const kind = str("auth") ?? (clientSecret !== "" ? "introspection" : undefined);
  switch (kind) {
    case undefined:
      throw new UsageError(
        "no authentication configured: pass --client_secret, --auth jwt|static|introspection, or --auth none (development only)",
      );
    case "none":
      return noAuth();
    case "static": {
      const file = str("tokens_file");
      if (file === undefined) throw new UsageError("--auth static needs --tokens_file");
      const table: Record<string, string> = {};
      for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
        const [token, subject] = line.trim().split(/\s+/);
        if (token !== undefined && token !== "" && !token.startsWith("#"))
          table[token] = subject ?? token.slice(0, 6);
      }
      return staticTokenAuth(table);
    }
    case "jwt": {
      const jwksUrl = str("jwks_url");
      const issuer = str("issuer");
      const audience = str("audience");
      if (jwksUrl === undefined || issuer === undefined || audience === undefined) {
        throw new UsageError("--auth jwt needs --jwks_url, --issuer and --audience");
      }
      return jwtAuth({
        jwksUrl,
        issuer,
        audience,
        ...(str("scope") === undefined ? {} : { requiredScopes: [scope] }),
      });
    }
    case "introspection":
      if (clientSecret === "") throw new UsageError("--auth introspection needs --client_secret");
      return introspectionAuth({
        endpoint: str("introspection_url") ?? GLOBUS_INTROSPECT,
        clientId,
        clientSecret,
        requiredScopes: [scope],
      });
    default:
      throw new UsageError(`unknown --auth ${kind}`);
  }
}

function s2dsFlavour(
  type: string,
  profile: string | undefined,
): { transport: ChannelTransport; profile: CipherProfileName } {
  const p = profile ?? "secure";
  if (!isCipherProfileName(p)) throw new UsageError(`unknown --profile ${p}`);
  switch (type) {
    case "S2DS":
      return { transport: "tls-psk", profile: p };
    case "StunnelSubprocess":
    case "Stunnel":
      return { transport: "tls-psk", profile: profile === undefined ? "reference-compat" : p };
    case "HaproxySubprocess":
    case "Haproxy":
    case "Nginx":
      return { transport: "tcp", profile: p };
    default:
      throw new UsageError(`unknown --type ${type}`);
  }
}

export async function runS2cs(
  argv: readonly string[],
  io: Io = processIo,
  stopSignal?: AbortSignal,
): Promise<number> {
  let json = argv.includes("--json");
  let s2cs: S2cs | undefined;
  let metricsServer: http.Server | undefined;
  try {
    const { values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        listener_ip: { type: "string", short: "l" },
        "listener-ip": { type: "string" },
        bind_ip: { type: "string" },
        port: { type: "string" },
        port_range: { type: "string" },
        "port-range": { type: "string" },
        type: { type: "string", short: "t" },
        profile: { type: "string" },
        workers: { type: "string" },
        server_crt: { type: "string" },
        server_key: { type: "string" },
        ssl: { type: "string" },
        auth: { type: "string" },
        client_id: { type: "string" },
        client_secret: { type: "string" },
        introspection_url: { type: "string" },
        scope: { type: "string" },
        jwks_url: { type: "string" },
        issuer: { type: "string" },
        audience: { type: "string" },
        tokens_file: { type: "string" },
        metrics_port: { type: "string" },
        hello_timeout: { type: "string" },
        verbose: { type: "boolean", short: "v" },
        v: { type: "boolean" },
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
    const listenerIp = values.listener_ip ?? values["listener-ip"] ?? "127.0.0.1";
    const bindIp = values.bind_ip ?? listenerIp;
    const port = parseIntOption(values.port ?? "5000", "port", 0, 65535);
    const range = parsePortRange(values.port_range ?? values["port-range"] ?? "5100-5200");
    const flavour = s2dsFlavour(values.type ?? "S2DS", values.profile);
    const ssl = values.ssl === undefined ? true : parseBool(values.ssl, "ssl");
    const workers =
      values.workers === undefined ? undefined : parseIntOption(values.workers, "workers", 0, 64);
    const helloTimeoutMs = parseIntOption(values.hello_timeout ?? "180", "hello_timeout", 1, 86_400) * 1000;
    const auth = chooseAuth(values, io.env);
    const logger = jsonLogger(values.verbose === true || values.v === true ? "debug" : "info", io.err);
    s2cs = new S2cs({
      host: bindIp,
      port,
      ...(ssl
        ? {
            tls: {
              cert: readPem(values.server_crt ?? "server.crt", "server certificate"),
              key: readPem(values.server_key ?? "server.key", "server key"),
            },
          }
        : { insecure: true }),
      auth,
      logger,
      helloTimeoutMs,
      s2ds: {
        bindHost: bindIp,
        advertiseHost: listenerIp,
        portRange: range,
        transport: flavour.transport,
        profile: flavour.profile,
        ...(workers === undefined ? {} : { workers }),
      },
    });
    const bound = await s2cs.listen();
    let metricsPort: number | undefined;
    if (values.metrics_port !== undefined) {
      const server = s2cs;
      metricsServer = http.createServer((req, res) => {
        if (req.url !== "/metrics") {
          res.statusCode = 404;
          res.end();
          return;
        }
        server.renderMetrics().then(
          (text) => {
            res.setHeader("content-type", "text/plain; version=0.0.4");
            res.end(text);
          },
          () => {
            res.statusCode = 500;
            res.end();
          },
        );
      });
      const m = metricsServer;
      await new Promise<void>((resolve, reject) => {
        m.once("error", reject);
        m.listen(parseIntOption(values.metrics_port!, "metrics_port", 0, 65535), "127.0.0.1", () =>
          resolve(),
        );
      });
      metricsPort = (m.address() as { port: number }).port;
    }
    const address = formatHostPort(bindIp, bound);
    if (json) {
      io.out(
        `${JSON.stringify({ event: "listening", address, port: bound, tls: ssl, ...(metricsPort === undefined ? {} : { metrics_port: metricsPort }) })}\n`,
      );
    } else {
      io.out(
        `S2CS listening on ${address}${ssl ? "" : " (plaintext)"}${metricsPort === undefined ? "" : `, metrics on 127.0.0.1:${metricsPort}/metrics`}\n`,
      );
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      if (stopSignal !== undefined) {
        if (stopSignal.aborted) resolve();
        stopSignal.addEventListener("abort", stop, { once: true });
      } else {
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      }
    });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`error: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const code = reportError(err, json, io);
    return code === EXIT_USAGE ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    if (metricsServer !== undefined) {
      metricsServer.closeAllConnections();
      await new Promise<void>((r) => metricsServer!.close(() => r()));
    }
    await s2cs?.close();
  }
}
