import { createHash } from "node:crypto";
import type { EventEmitter } from "node:events";
import {
  type Measurement,
  type MeasurementDefinition,
  type Publisher,
  type Subscriber,
  ticksFromUnixMs,
} from "../src/index.js";

/** Deterministic definitions PPA:1..n. */
export function definitions(n: number, source = "PPA"): MeasurementDefinition[] {
  return Array.from({ length: n }, (_, i) => {
    const h = createHash("sha256")
      .update(`${source}:${i + 1}`)
      .digest("hex");
    return {
      signalId: `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`,
      source,
      id: i + 1,
      pointTag: `TAG:${source}${i + 1}`,
    };
  });
}

export const BASE_TICKS = ticksFromUnixMs(Date.UTC(2026, 0, 1));

/** Frame k of a deterministic measurement stream. */
export function frame(defs: readonly MeasurementDefinition[], k: number): Measurement[] {
  return defs.map((d, i) => ({
    signalId: d.signalId,
    value: k * 1.5 + i / 8,
    timestamp: BASE_TICKS + BigInt(k) * 333_333n,
    flags: k % 7 === 0 ? 0x00000004 : 0,
  }));
}

export function expectedValue(
  defs: readonly MeasurementDefinition[],
  m: Measurement,
): { value: number; flags: number } | undefined {
  const i = defs.findIndex((d) => d.signalId === m.signalId);
  if (i < 0) return undefined;
  const k = Number((m.timestamp - BASE_TICKS) / 333_333n);
  return { value: Math.fround(k * 1.5 + i / 8), flags: k % 7 === 0 ? 0x00000004 : 0 };
}

/** Resolves on the first `event` whose arguments satisfy `predicate`; rejects after `timeoutMs`. */
export function waitForEvent<T extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  predicate: (...args: T) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`timed out waiting for "${event}"`));
    }, timeoutMs);
    const listener = (...args: unknown[]) => {
      if (predicate(...(args as T))) {
        clearTimeout(timer);
        emitter.removeListener(event, listener);
        resolve(args as T);
      }
    };
    emitter.on(event, listener);
  });
}

/**
 * Publishes frames every 10 ms until the subscriber has received `target` measurements; resolves with
 * everything received. Bounded by `timeoutMs`.
 */
export async function pump(
  publisher: Publisher,
  subscriber: Subscriber,
  defs: readonly MeasurementDefinition[],
  target: number,
  timeoutMs = 20_000,
): Promise<Measurement[]> {
  const received: Measurement[] = [];
  const onData = (ms: Measurement[]) => received.push(...ms);
  subscriber.on("measurements", onData);
  const deadline = Date.now() + timeoutMs;
  let k = 0;
  try {
    while (received.length < target) {
      if (Date.now() > deadline)
        throw new Error(`received only ${received.length} of ${target} measurements`);
      publisher.publish(frame(defs, k++));
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    subscriber.removeListener("measurements", onData);
  }
  return received;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
