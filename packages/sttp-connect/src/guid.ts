/** GUIDs on the wire: 16 bytes, RFC 4122 byte order by default (old .NET peers use the swapped .NET order). */
import { SttpDecodeError } from "./errors.js";

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(text: string): boolean {
  return GUID_PATTERN.test(text.replace(/^\{|\}$/g, ""));
}

/** Normalises a GUID string to lower case without braces; throws on malformed input. */
export function normalizeGuid(text: string): string {
  const bare = text.trim().replace(/^\{|\}$/g, "");
  if (!GUID_PATTERN.test(bare)) throw new SttpDecodeError(`not a GUID: ${JSON.stringify(text)}`);
  return bare.toLowerCase();
}

/** Writes a GUID at `offset`; `dotNetOrder` swaps the first three groups (Microsoft mixed-endian layout). */
export function writeGuid(target: Uint8Array, offset: number, guid: string, dotNetOrder = false): void {
  const hex = normalizeGuid(guid).replace(/-/g, "");
  for (let i = 0; i < 16; i++) target[offset + i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  if (dotNetOrder) swapGuidBytes(target, offset);
}

/** Reads a GUID at `offset`. */
export function readGuid(source: Uint8Array, offset: number, dotNetOrder = false): string {
  if (offset + 16 > source.length) throw new SttpDecodeError("truncated GUID");
  let b = source.subarray(offset, offset + 16);
  if (dotNetOrder) {
    b = Uint8Array.from(b);
    swapGuidBytes(b, 0);
  }
  const h = (i: number) => HEX[b[i] as number] as string;
  return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}

function swapGuidBytes(b: Uint8Array, o: number): void {
  const swap = (i: number, j: number) => {
    const t = b[o + i] as number;
    b[o + i] = b[o + j] as number;
    b[o + j] = t;
  };
  swap(0, 3);
  swap(1, 2);
  swap(4, 5);
  swap(6, 7);
}

export const EMPTY_GUID = "00000000-0000-0000-0000-000000000000";
