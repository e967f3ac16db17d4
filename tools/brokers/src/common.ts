import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerError } from "./process.js";

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
