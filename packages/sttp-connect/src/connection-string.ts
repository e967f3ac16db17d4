/**
 * STTP connection strings: `key=value` pairs separated by `;`, nested values in braces
 * (`filterExpression={PPA:1;PPA:2}`). Keys are case-insensitive.
 */
import { SttpDecodeError } from "./errors.js";

/** Parses a connection string into a map with lower-cased keys; brace-nested values keep their inner text. */
export function parseConnectionString(text: string): Map<string, string> {
  const result = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ";" || text[i] === " " || text[i] === "\t")) i++;
    if (i >= n) break;
    const eq = text.indexOf("=", i);
    if (eq < 0)
      throw new SttpDecodeError(
        `connection string: missing "=" after ${JSON.stringify(text.slice(i, i + 40))}`,
      );
    const key = text.slice(i, eq).trim().toLowerCase();
    if (key.length === 0) throw new SttpDecodeError("connection string: empty key");
    i = eq + 1;
    while (i < n && text[i] === " ") i++;
    let value: string;
    if (text[i] === "{") {
      let depth = 0;
      const start = i + 1;
      for (; i < n; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}") {
          depth--;
          if (depth === 0) break;
        }
      }
      if (depth !== 0) throw new SttpDecodeError(`connection string: unbalanced braces in value of "${key}"`);
      value = text.slice(start, i);
      i++;
    } else {
      const end = text.indexOf(";", i);
      value = (end < 0 ? text.slice(i) : text.slice(i, end)).trim();
      i = end < 0 ? n : end;
    }
    result.set(key, value);
  }
  return result;
}

/** Builds a connection string; values containing `;`, `=` or braces are wrapped in braces. */
export function formatConnectionString(
  entries: Iterable<readonly [string, string | number | boolean]>,
): string {
  const parts: string[] = [];
  for (const [key, raw] of entries) {
    const value = String(raw);
    parts.push(/[;={}]/.test(value) ? `${key}={${value}}` : `${key}=${value}`);
  }
  return parts.join(";");
}

/** Subscription settings sent in the Subscribe command (keys as goapi/gsfapi send them). */
export interface SubscriptionSettings {
  /** Measurement keys (`PPA:1`), signal GUIDs and point tags separated by `;`, or a FILTER expression. */
  readonly filterExpression: string;
  readonly throttled?: boolean;
  readonly publishInterval?: number;
  /** Default true. */
  readonly includeTime?: boolean;
  readonly enableTimeReasonabilityCheck?: boolean;
  readonly lagTime?: number;
  readonly leadTime?: number;
  readonly useLocalClockAsRealTime?: boolean;
  /** Default -1 (as fast as possible). */
  readonly processingInterval?: number;
  readonly useMillisecondResolution?: boolean;
  readonly requestNaNValueFilter?: boolean;
  readonly startTimeConstraint?: string;
  readonly stopTimeConstraint?: string;
  readonly timeConstraintParameters?: string;
  /** Extra free parameters appended as-is. */
  readonly extra?: Readonly<Record<string, string>>;
}

export interface SubscribeStringOptions {
  /** UDP data channel port; adds `dataChannel={localport=N}`. */
  readonly udpPort?: number;
  readonly assemblyInfo?: { readonly source: string; readonly version: string; readonly updatedOn: string };
}

/** The typed connection-string builder for Subscribe. */
export function buildSubscribeConnectionString(
  settings: SubscriptionSettings,
  options: SubscribeStringOptions = {},
): string {
  const entries: [string, string | number | boolean][] = [
    ["includeTime", settings.includeTime ?? true],
    ["throttled", settings.throttled ?? false],
    ["publishInterval", settings.publishInterval ?? 1],
    ["enableTimeReasonabilityCheck", settings.enableTimeReasonabilityCheck ?? false],
    ["lagTime", settings.lagTime ?? 10],
    ["leadTime", settings.leadTime ?? 5],
    ["useLocalClockAsRealTime", settings.useLocalClockAsRealTime ?? false],
    ["processingInterval", settings.processingInterval ?? -1],
    ["useMillisecondResolution", settings.useMillisecondResolution ?? false],
    ["requestNaNValueFilter", settings.requestNaNValueFilter ?? false],
  ];
  if (options.assemblyInfo) {
    const a = options.assemblyInfo;
    entries.push(["assemblyInfo", `source=${a.source};version=${a.version};updatedOn=${a.updatedOn}`]);
  }
  entries.push(["filterExpression", settings.filterExpression]);
  if (options.udpPort !== undefined) entries.push(["dataChannel", `localport=${options.udpPort}`]);
  if (settings.startTimeConstraint) entries.push(["startTimeConstraint", settings.startTimeConstraint]);
  if (settings.stopTimeConstraint) entries.push(["stopTimeConstraint", settings.stopTimeConstraint]);
  if (settings.timeConstraintParameters)
    entries.push(["timeConstraintParameters", settings.timeConstraintParameters]);
  for (const [key, value] of Object.entries(settings.extra ?? {})) entries.push([key, value]);
  return formatConnectionString(entries);
}

/** Reads a boolean connection-string value (`true`, `1`, `yes` are true). */
export function parseBoolean(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  return /^(true|1|yes|on)$/i.test(value.trim());
}
