/**
 * E2E Session Context configuration, named as in TR-181
 * (`Device.LocalAgent.Controller.{i}.E2ESession.*`), with the TR-181 defaults.
 */
import { SessionError } from "./errors.js";

export type SessionMode = "Require" | "Allow" | "Forbid";

export interface E2ESessionParameters {
  /** Largest serialised Record in bytes; 0 = segmentation off, else at least 512. TR-181 default 0. */
  readonly MaxUSPRecordSize: number;
  /** -1 = unlimited, 0 = never retransmit (restart the context instead), 1..10. TR-181 default 0. */
  readonly MaxRetransmitTries: number;
  /** Seconds of inactivity after which a new context starts at the next interaction; 0 = never. Default 0. */
  readonly SessionExpiration: number;
  /** m of the session retry back-off, seconds (1..65535). Default 5. */
  readonly SessionRetryMinimumWaitInterval: number;
  /** k of the session retry back-off, per mille (1000..65535). Default 2000. */
  readonly SessionRetryIntervalMultiplier: number;
  /** Require / Allow / Forbid session context (TR-181 default Allow, as OB-USP-Agent). */
  readonly SessionMode: SessionMode;
}

export const TR181_DEFAULTS: E2ESessionParameters = Object.freeze({
  MaxUSPRecordSize: 0,
  MaxRetransmitTries: 0,
  SessionExpiration: 0,
  SessionRetryMinimumWaitInterval: 5,
  SessionRetryIntervalMultiplier: 2000,
  SessionMode: "Allow",
});

/** Engine limits that TR-181 does not name; every buffer the engine keeps is bounded by one of these. */
export interface E2EEngineLimits {
  /** Bytes of Records held out of order before the context restarts instead of growing (default 16 MiB). */
  readonly maxOutOfOrderBytes: number;
  /** Largest Msg reassembled, bytes (default 64 MiB). */
  readonly maxMsgSize: number;
  /** How long a gap or an unacknowledged tail may stay before the engine asks again or probes, ms (default 2000). */
  readonly retransmitTimeoutMs: number;
  /** How long an acknowledgement may wait for a Record to ride on, ms (default 50). */
  readonly ackDelayMs: number;
  /** Retired session ids remembered so late Records of an old context cannot resurrect it (default 16). */
  readonly retiredSessionMemory: number;
}

export const ENGINE_DEFAULTS: E2EEngineLimits = Object.freeze({
  maxOutOfOrderBytes: 16 * 1024 * 1024,
  maxMsgSize: 64 * 1024 * 1024,
  retransmitTimeoutMs: 2000,
  ackDelayMs: 50,
  retiredSessionMemory: 16,
});

function bad(name: string, message: string): never {
  throw new SessionError("ERR_E2E_CONFIG", `${name} ${message}`);
}

/** Fills defaults and checks every value against its TR-181 range. @throws {SessionError} ERR_E2E_CONFIG */
export function resolveParameters(input: Partial<E2ESessionParameters> = {}): E2ESessionParameters {
  const p = { ...TR181_DEFAULTS, ...input };
  const int = (name: keyof E2ESessionParameters, value: unknown) => {
    if (typeof value !== "number" || !Number.isInteger(value)) bad(name, "must be an integer");
  };
  int("MaxUSPRecordSize", p.MaxUSPRecordSize);
  if (p.MaxUSPRecordSize !== 0 && (p.MaxUSPRecordSize < 512 || p.MaxUSPRecordSize > 0xffffffff))
    bad("MaxUSPRecordSize", "must be 0 or between 512 and 4294967295");
  int("MaxRetransmitTries", p.MaxRetransmitTries);
  if (p.MaxRetransmitTries < -1 || p.MaxRetransmitTries > 10) bad("MaxRetransmitTries", "must be -1..10");
  int("SessionExpiration", p.SessionExpiration);
  if (p.SessionExpiration < 0) bad("SessionExpiration", "must be >= 0");
  int("SessionRetryMinimumWaitInterval", p.SessionRetryMinimumWaitInterval);
  if (p.SessionRetryMinimumWaitInterval < 1 || p.SessionRetryMinimumWaitInterval > 65535)
    bad("SessionRetryMinimumWaitInterval", "must be 1..65535");
  int("SessionRetryIntervalMultiplier", p.SessionRetryIntervalMultiplier);
  if (p.SessionRetryIntervalMultiplier < 1000 || p.SessionRetryIntervalMultiplier > 65535)
    bad("SessionRetryIntervalMultiplier", "must be 1000..65535");
  if (!["Require", "Allow", "Forbid"].includes(p.SessionMode))
    bad("SessionMode", "must be Require, Allow or Forbid");
  return Object.freeze(p);
}

export function resolveLimits(input: Partial<E2EEngineLimits> = {}): E2EEngineLimits {
  const l = { ...ENGINE_DEFAULTS, ...input };
  for (const [name, value] of Object.entries(l)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      bad(name, "must be a non-negative number");
  }
  return Object.freeze(l);
}
