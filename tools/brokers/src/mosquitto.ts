/** Real Mosquitto (MQTT 5 and 3.1.1) on loopback, one scratch directory per instance (usp.md §13.1). */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BrokerTls, type RunningBroker, requireExecutable, scratchDir, supervise } from "./common.js";
import { freePort, startProcess, waitForPort } from "./process.js";

export interface MosquittoOptions {
  /** Also listen with TLS (mqtts) on another port. */
  readonly tls?: BrokerTls;
  /** Keep sessions and QoS 1 messages across restarts (persistence to the scratch directory). */
  readonly persistence?: boolean;
  /** Extra lines appended to mosquitto.conf. */
  readonly extraConfig?: readonly string[];
}

export interface RunningMosquitto extends RunningBroker {
  readonly port: number;
  readonly tlsPort: number | undefined;
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly tlsUrl: string | undefined;
}

const MOSQUITTO = "/usr/sbin/mosquitto";

export async function startMosquitto(options: MosquittoOptions = {}): Promise<RunningMosquitto> {
  requireExecutable(MOSQUITTO, "mosquitto");
  const dir = scratchDir("mosquitto");
  chmodSync(dir, 0o755);
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const lines = [
    // Started as root, Mosquitto would switch to user "mosquitto", which cannot write the scratch directory.
    "user root",
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    `persistence ${options.persistence ? "true" : "false"}`,
    ...(options.persistence ? [`persistence_location ${dir}/`, "autosave_interval 1"] : []),
    "log_dest stdout",
    "log_type error",
    "log_type warning",
    "log_type notice",
  ];
  if (options.tls && tlsPort !== undefined) {
    writeFileSync(join(dir, "server.crt"), options.tls.certPem);
    writeFileSync(join(dir, "server.key"), options.tls.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, "ca.crt"), options.tls.caPem);
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      `certfile ${join(dir, "server.crt")}`,
      `keyfile ${join(dir, "server.key")}`,
      `cafile ${join(dir, "ca.crt")}`,
      "tls_version tlsv1.2",
      `require_certificate ${options.tls.requireClientCertificate ? "true" : "false"}`,
    );
  }
  lines.push(...(options.extraConfig ?? []));
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  const logFile = join(dir, "broker.log");

  const broker = await supervise({
    dir,
    logFile,
    start: async () => startProcess(MOSQUITTO, ["-c", conf], { cwd: dir, logFile }),
    ready: async (p) => {
      await waitForPort("127.0.0.1", port, 15_000, () => p.alive());
      if (tlsPort !== undefined) await waitForPort("127.0.0.1", tlsPort, 15_000, () => p.alive());
    },
  });
  return Object.defineProperties(broker, {
    port: { value: port, enumerable: true },
    tlsPort: { value: tlsPort, enumerable: true },
    url: { value: `mqtt://127.0.0.1:${port}`, enumerable: true },
    tlsUrl: { value: tlsPort === undefined ? undefined : `mqtts://127.0.0.1:${tlsPort}`, enumerable: true },
  }) as RunningMosquitto;
}
