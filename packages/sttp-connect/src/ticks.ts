/** .NET ticks (100 ns since 0001-01-01) as used by STTP timestamps. Bits 62–63 carry leap-second flags. */
import { UNIX_BASE_OFFSET_TICKS } from "./constants.js";

export const TICKS_VALUE_MASK = 0x3fffffffffffffffn;

/** Ticks for a JavaScript Date / epoch milliseconds. */
export function ticksFromUnixMs(ms: number): bigint {
  return UNIX_BASE_OFFSET_TICKS + BigInt(Math.trunc(ms)) * 10000n;
}

/** Epoch milliseconds for ticks (leap-second flags ignored). */
export function ticksToUnixMs(ticks: bigint): number {
  return Number(((ticks & TICKS_VALUE_MASK) - UNIX_BASE_OFFSET_TICKS) / 10000n);
}

export function ticksNow(): bigint {
  return ticksFromUnixMs(Date.now());
}

export function ticksToIso(ticks: bigint): string {
  return new Date(ticksToUnixMs(ticks)).toISOString();
}
