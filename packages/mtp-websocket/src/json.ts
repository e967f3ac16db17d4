/** JSON view of a Record for logs and the CLI: bytes as hex, uint64 as decimal strings. */
import type { UspRecord } from "@x/usp-record";

function jsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex");
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonValue(v);
    return out;
  }
  return value;
}

/** A plain-JSON copy of a decoded Record (`Uint8Array` -> hex string, `bigint` -> string). */
export function recordToJson(record: UspRecord): Record<string, unknown> {
  return jsonValue(record) as Record<string, unknown>;
}
