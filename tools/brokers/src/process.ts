/** Child-process plumbing shared by the broker launchers: start detached, wait for a port, stop the whole tree. */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export class BrokerError extends Error {
  override readonly name = "BrokerError";
  readonly code: "ERR_BROKER_START" | "ERR_BROKER_NOT_INSTALLED" | "ERR_BROKER_STOP";
  constructor(code: BrokerError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** An ephemeral port on 127.0.0.1 that was free a moment ago. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `host:port` accepts a TCP connection; rejects after `timeoutMs`. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new BrokerError("ERR_BROKER_START", `process exited before ${host}:${port} accepted`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new BrokerError("ERR_BROKER_START", `${host}:${port} did not accept within ${timeoutMs} ms`);
}

/** Every descendant PID of `pid` (Linux /proc), deepest last. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may contain spaces and parentheses: parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ManagedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  alive(): boolean;
  /** Signal the process and all its descendants; SIGKILL whatever is left after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last line of defence: a test runner that exits without teardown still leaves no broker behind.
  process.once("exit", () => {
    for (const p of running) {
      for (const pid of [p.pid, ...descendants(p.pid)]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    }
  });
}

/** Spawns a long-running program in its own session, output to `logFile`. */
export function startProcess(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; logFile: string },
): ManagedProcess {
  installExitHook();
  const fd = openSync(options.logFile, "a");
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  child.unref();
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      done = true;
      resolve();
    });
    child.once("error", () => {
      done = true;
      resolve();
    });
  });
  const managed: ManagedProcess = {
    pid: child.pid ?? -1,
    child,
    exited,
    alive: () => !done,
    async stop(signal = "SIGTERM", graceMs = 10_000) {
      if (managed.pid < 0) return;
      const tree = [managed.pid, ...descendants(managed.pid)];
      for (const pid of tree.reverse()) {
        try {
          process.kill(pid, signal);
        } catch {}
      }
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && tree.some(isAlive)) await sleep(50);
      for (const pid of tree) {
        if (isAlive(pid)) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {}
        }
      }
      while (tree.some(isAlive)) await sleep(20);
      await Promise.race([exited, sleep(1000)]);
      running.delete(managed);
    },
  };
  running.add(managed);
  return managed;
}

/** PIDs of live processes whose command line mentions `text` (a scratch directory, say): leak checks. */
export function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1").replace(/\0/g, " ");
      if (cmdline.includes(text)) found.push(Number(entry));
    } catch {}
  }
  return found;
}
