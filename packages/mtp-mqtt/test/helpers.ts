/** Shared fixtures: unique Endpoint IDs/topics, Record builders, and waiting for events. */
import { encodeRecord, noSessionContextRecord, type UspRecord } from "@x/usp-record";
import type { ReceivedRecord } from "@x/usp-record/mtp";
import { createMqttMtp, type MqttMtp, type MqttMtpOptions } from "../src/index.js";

let counter = 0;
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** A fresh agent/controller identity with its own topics (no `%`, no `/reply-to=` inside). */
export function identities(): {
  agentId: string;
  controllerId: string;
  agentTopic: string;
  controllerTopic: string;
} {
  counter++;
  const agentId = `proto::agent-${run}-${counter}`;
  const controllerId = `proto::controller-${run}-${counter}`;
  return {
    agentId,
    controllerId,
    agentTopic: `usp/agent/${agentId}`,
    controllerTopic: `usp/controller/${controllerId}`,
  };
}

/** A NoSessionContext Record carrying `text` as its payload. */
export function recordBytes(toId: string, fromId: string, text: string): Uint8Array {
  return encodeRecord(noSessionContextRecord({ toId, fromId, payload: new TextEncoder().encode(text) }));
}

export function payloadText(record: UspRecord): string {
  const rt = record.recordType;
  if (rt?.$case !== "noSessionContext") return `<${rt?.$case}>`;
  return new TextDecoder().decode(rt.value.payload);
}

/** Tracks every MTP a test creates so afterEach can close them all. */
export class MtpPool {
  readonly #all: MqttMtp[] = [];

  create(options: MqttMtpOptions): MqttMtp {
    const mtp = createMqttMtp(options);
    mtp.on("error", () => {});
    this.#all.push(mtp);
    return mtp;
  }

  async closeAll(): Promise<void> {
    const all = this.#all.splice(0);
    await Promise.all(all.map((m) => m.close({ abrupt: true })));
  }
}

/** Resolve with the next Record on `mtp` that matches. */
export function nextRecord(
  mtp: MqttMtp,
  predicate: (r: ReceivedRecord) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<ReceivedRecord> {
  return new Promise((resolve, reject) => {
    const onRecord = (r: ReceivedRecord): void => {
      if (!predicate(r)) return;
      clearTimeout(timer);
      mtp.off("record", onRecord);
      resolve(r);
    };
    const timer = setTimeout(() => {
      mtp.off("record", onRecord);
      reject(new Error(`no matching Record within ${timeoutMs} ms`));
    }, timeoutMs);
    mtp.on("record", onRecord);
  });
}

/** Resolve with the next event of `name` that matches. */
export function nextEvent<T extends unknown[]>(
  mtp: MqttMtp,
  name: "error" | "retry" | "session" | "state" | "peerConnected" | "peerDisconnected" | "duplicate",
  predicate: (...args: T) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      if (!predicate(...(args as T))) return;
      clearTimeout(timer);
      mtp.off(name, listener as never);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      mtp.off(name, listener as never);
      reject(new Error(`no matching "${name}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    mtp.on(name, listener as never);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
