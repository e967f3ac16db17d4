import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerError, type ManagedProcess } from "./process.js";

/** PEM material for a TLS listener (server side). */
export interface BrokerTls {
  readonly certPem: string;
  readonly keyPem: string;
  /** CA used to verify client certificates (and sent as the chain). */
  readonly caPem: string;
  /** Require a client certificate signed by `caPem` (mutual TLS). */
  readonly requireClientCertificate?: boolean;
}

export interface RunningBroker {
  readonly host: "127.0.0.1";
  /** Scratch directory holding configuration, data and `broker.log`. */
  readonly dir: string;
  readonly logFile: string;
  /** Graceful stop (SIGTERM to the process tree), keeping the directory for a restart. */
  stop(): Promise<void>;
  /** Hard kill (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Start again on the same ports with the same data (after stop or kill). */
  restart(): Promise<void>;
  /** Stop and remove the scratch directory. Idempotent. */
  dispose(): Promise<void>;
  readonly running: boolean;
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `x-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function requireExecutable(path: string, aptPackage: string): void {
  if (!existsSync(path)) {
    throw new BrokerError(
      "ERR_BROKER_NOT_INSTALLED",
      `${path} not found: install the Debian package "${aptPackage}" (tools/setup.sh does it)`,
    );
  }
}

/** A start-up failure with the tail of the broker's log attached; the scratch directory is removed. */
export function withLog(error: unknown, logFile: string, dir: string): Error {
  let tail = "";
  try {
    tail = readFileSync(logFile, "utf8").split("\n").slice(-25).join("\n");
  } catch {}
  removeDir(dir);
  return new BrokerError(
    "ERR_BROKER_START",
    `${(error as Error).message}\n--- broker log (tail) ---\n${tail}`,
    {
      cause: error,
    },
  );
}

export interface SuperviseOptions {
  readonly dir: string;
  readonly logFile: string;
  /** Spawns the broker process (after any helper process it needs). */
  readonly start: () => Promise<ManagedProcess>;
  /** Resolves once the broker serves; rejects on timeout or early exit. */
  readonly ready: (process: ManagedProcess) => Promise<void>;
  /** Grace between SIGTERM and SIGKILL, ms. */
  readonly graceMs?: number;
  /** Runs once the broker is stopped for good (helper processes). */
  readonly cleanup?: () => Promise<void>;
}

/**
 * The life cycle every broker launcher shares: start and wait until ready (with the log attached on
 * failure), stop, kill, restart on the same ports and data, dispose with the scratch directory.
 */
export async function supervise(options: SuperviseOptions): Promise<RunningBroker> {
  let proc: ManagedProcess | undefined;
  let disposed = false;
  const launch = async () => {
    proc = await options.start();
    await options.ready(proc);
  };
  try {
    await launch();
  } catch (error) {
    await proc?.stop("SIGKILL");
    await options.cleanup?.();
    throw withLog(error, options.logFile, options.dir);
  }
  return {
    host: "127.0.0.1",
    dir: options.dir,
    logFile: options.logFile,
    get running() {
      return proc?.alive() ?? false;
    },
    async stop() {
      await proc?.stop("SIGTERM", options.graceMs);
    },
    async kill() {
      await proc?.stop("SIGKILL");
    },
    async restart() {
      if (disposed) throw new Error("broker disposed");
      if (proc?.alive()) await proc.stop("SIGTERM", options.graceMs);
      await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await proc?.stop("SIGTERM", options.graceMs);
      await options.cleanup?.();
      removeDir(options.dir);
    },
  };
}
