/** Spawns Debian's stunnel4 as a foreign TLS-PSK peer (interop tests and the benchmark baseline). */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface StunnelService {
  readonly client: boolean;
  readonly acceptPort: number;
  readonly connect: string;
  /** stunnel `ciphers` (TLS 1.2 list). */
  readonly ciphers: string;
}

export interface StunnelHandle {
  readonly process: ChildProcess;
  readonly log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts one stunnel process with the given services, all sharing one PSKsecrets file with
 * `identity:key` (the reference writes `client1:<uid hex>`), TLS 1.2 max like the reference template.
 */
export async function startStunnel(
  services: readonly StunnelService[],
  psk: { identity: string; keyHex: string },
): Promise<StunnelHandle> {
  const dir = mkdtempSync(join(tmpdir(), "scistream-stunnel-"));
  const keyFile = join(dir, "psk.key");
  writeFileSync(keyFile, `${psk.identity}:${psk.keyHex}\n`, { mode: 0o600 });
  const lines = ["foreground = yes", "debug = 4", `output = ${join(dir, "stunnel.log")}`, "pid ="];
  services.forEach((s, i) => {
    lines.push(
      `[svc${i}]`,
      `client = ${s.client ? "yes" : "no"}`,
      `accept = 127.0.0.1:${s.acceptPort}`,
      `connect = ${s.connect}`,
      `ciphers = ${s.ciphers}`,
      `PSKsecrets = ${keyFile}`,
      "sslVersionMax = TLSv1.2",
      "securityLevel = 0",
    );
  });
  const conf = join(dir, "stunnel.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  const child = spawn("stunnel4", [conf], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready when every accept port takes connections.
  const deadline = Date.now() + 20_000;
  for (const s of services) {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = net.connect({ host: "127.0.0.1", port: s.acceptPort }, () => {
          c.destroy();
          resolve(true);
        });
        c.on("error", () => resolve(false));
      });
      if (ok) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`stunnel did not start: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    process: child,
    log: () => {
      try {
        return readFileSync(join(dir, "stunnel.log"), "utf8");
      } catch {
        return output;
      }
    },
    stop,
  };
}
