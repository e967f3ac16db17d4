/** Structured logging: one JSON object per line. The S2CS never logs tokens, PSKs or full UIDs. */

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, event: string, fields?: Readonly<Record<string, unknown>>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing JSON lines to a stream (stderr by default) at or above `level`. */
export function jsonLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  return {
    log(l, event, fields = {}) {
      if (ORDER[l] < ORDER[level]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level: l, event, ...fields })}\n`);
    },
  };
}

/** Discards everything (the library default: embedders opt in to logs). */
export const silentLogger: Logger = { log() {} };

/** A UID shortened for logs: enough to correlate, not enough to use as a key. */
export function redactUid(uid: string): string {
  return uid.length <= 8 ? "***" : `${uid.slice(0, 8)}…`;
}
