/**
 * Real RabbitMQ with the STOMP plugin (STOMP 1.2) on loopback (usp.md §13.2). Runs
 * /usr/lib/rabbitmq/bin/rabbitmq-server as the current user with its own epmd, HOME, node name
 * and mnesia directory, so nothing outlives `dispose()` and no Record leaks between runs.
 * Start-up takes 10-20 s: start it once per test file or suite.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BrokerTls, type RunningBroker, requireExecutable, scratchDir, supervise } from "./common.js";
import { freePort, type ManagedProcess, startProcess, waitForPort } from "./process.js";

export interface RabbitMqOptions {
  /** Also a STOMP over TLS listener. */
  readonly tls?: BrokerTls;
  /** STOMP heart-beat the server proposes / default user; see rabbitmq_stomp docs. */
  readonly extraConfig?: readonly string[];
  /** Readiness timeout, ms (default 90 s: a loaded 2-core machine is slow). */
  readonly startTimeoutMs?: number;
}

export interface RunningRabbitMq extends RunningBroker {
  readonly stompPort: number;
  readonly stompTlsPort: number | undefined;
  readonly login: "guest";
  readonly passcode: "guest";
}

const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const EPMD = "/usr/bin/epmd";

export async function startRabbitMq(options: RabbitMqOptions = {}): Promise<RunningRabbitMq> {
  requireExecutable(SERVER, "rabbitmq-server");
  const dir = scratchDir("rabbitmq");
  for (const sub of ["home", "mnesia", "log"]) mkdirSync(join(dir, sub));
  const [amqpPort, distPort, epmdPort, stompPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const stompTlsPort = options.tls ? await freePort() : undefined;
  const lines = [
    `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
    `stomp.listeners.tcp.1 = 127.0.0.1:${stompPort}`,
    "stomp.default_user = guest",
    "stomp.default_pass = guest",
    "loopback_users = none",
    "log.console = true",
    "log.console.level = warning",
    "log.file = false",
    // A 4 MiB Record must pass (the default limit is 128 MiB on 3.10; stated for clarity).
    "max_message_size = 134217728",
  ];
  if (options.tls && stompTlsPort !== undefined) {
    writeFileSync(join(dir, "server.crt"), options.tls.certPem);
    writeFileSync(join(dir, "server.key"), options.tls.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, "ca.crt"), options.tls.caPem);
    lines.push(
      `stomp.listeners.ssl.1 = 127.0.0.1:${stompTlsPort}`,
      `ssl_options.cacertfile = ${join(dir, "ca.crt")}`,
      `ssl_options.certfile = ${join(dir, "server.crt")}`,
      `ssl_options.keyfile = ${join(dir, "server.key")}`,
      "ssl_options.versions.1 = tlsv1.3",
      "ssl_options.versions.2 = tlsv1.2",
      `ssl_options.verify = ${options.tls.requireClientCertificate ? "verify_peer" : "verify_none"}`,
      `ssl_options.fail_if_no_peer_cert = ${options.tls.requireClientCertificate ? "true" : "false"}`,
    );
  }
  lines.push(...(options.extraConfig ?? []));
  writeFileSync(join(dir, "rabbitmq.conf"), `${lines.join("\n")}\n`);
  writeFileSync(join(dir, "enabled_plugins"), "[rabbitmq_stomp].\n");
  const nodeName = `xtest${randomBytes(4).toString("hex")}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(dir, "home"),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    RABBITMQ_CTL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  };
  const logFile = join(dir, "broker.log");
  const timeout = options.startTimeoutMs ?? 90_000;

  let epmd: ManagedProcess | undefined;
  const broker = await supervise({
    dir,
    logFile,
    graceMs: 15_000,
    // Our own epmd, so that nothing outlives dispose() (a node started without one spawns a daemon).
    start: async () => {
      if (!epmd?.alive()) {
        epmd = startProcess(EPMD, ["-address", "127.0.0.1", "-port", String(epmdPort)], {
          cwd: dir,
          env,
          logFile,
        });
        const e = epmd;
        await waitForPort("127.0.0.1", epmdPort, 15_000, () => e.alive());
      }
      return startProcess(SERVER, [], { cwd: dir, env, logFile });
    },
    ready: async (s) => {
      await waitForPort("127.0.0.1", stompPort, timeout, () => s.alive());
      if (stompTlsPort !== undefined) await waitForPort("127.0.0.1", stompTlsPort, timeout, () => s.alive());
    },
    cleanup: async () => {
      await epmd?.stop("SIGTERM");
    },
  });
  return Object.defineProperties(broker, {
    stompPort: { value: stompPort, enumerable: true },
    stompTlsPort: { value: stompTlsPort, enumerable: true },
    login: { value: "guest", enumerable: true },
    passcode: { value: "guest", enumerable: true },
  }) as RunningRabbitMq;
}
