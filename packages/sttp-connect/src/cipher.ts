/**
 * UDP payload encryption (gsfapi `EncryptPayload`): two AES-256-CBC key/IV pairs, sent in
 * UpdateCipherKeys over the (TLS) command channel; the DataPacket `CipherIndex` flag selects the pair.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { SttpDecodeError } from "./errors.js";

export interface CipherKeyPair {
  readonly key: Buffer;
  readonly iv: Buffer;
}

export interface CipherKeys {
  /** Index (0 even, 1 odd) of the pair the publisher uses now. */
  readonly activeIndex: 0 | 1;
  readonly pairs: readonly [CipherKeyPair, CipherKeyPair];
}

export function generateCipherKeyPair(): CipherKeyPair {
  return { key: randomBytes(32), iv: randomBytes(16) };
}

/** Payload of UpdateCipherKeys: `[activeIndex]` then even key, even IV, odd key, odd IV as `[uint32 len][bytes]`. */
export function encodeCipherKeys(keys: CipherKeys): Buffer {
  const parts: Buffer[] = [Buffer.from([keys.activeIndex])];
  for (const pair of keys.pairs) {
    for (const bytes of [pair.key, pair.iv]) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length, 0);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

export function decodeCipherKeys(payload: Uint8Array): CipherKeys {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buf.length < 1) throw new SttpDecodeError("empty UpdateCipherKeys payload");
  let o = 1;
  const read = (what: string, expected: number): Buffer => {
    if (o + 4 > buf.length) throw new SttpDecodeError(`UpdateCipherKeys truncated before ${what}`);
    const n = buf.readUInt32BE(o);
    o += 4;
    if (n !== expected)
      throw new SttpDecodeError(`UpdateCipherKeys ${what} has ${n} bytes, expected ${expected}`);
    if (o + n > buf.length) throw new SttpDecodeError(`UpdateCipherKeys truncated in ${what}`);
    const bytes = Buffer.from(buf.subarray(o, o + n));
    o += n;
    return bytes;
  };
  const even = { key: read("even key", 32), iv: read("even IV", 16) };
  const odd = { key: read("odd key", 32), iv: read("odd IV", 16) };
  return { activeIndex: buf[0] ? 1 : 0, pairs: [even, odd] };
}

export function encryptPayload(pair: CipherKeyPair, plain: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-cbc", pair.key, pair.iv);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

export function decryptPayload(pair: CipherKeyPair, encrypted: Uint8Array): Buffer {
  try {
    const decipher = createDecipheriv("aes-256-cbc", pair.key, pair.iv);
    return Buffer.concat([decipher.update(encrypted), decipher.final()]);
  } catch (cause) {
    throw new SttpDecodeError("failed to decrypt data packet", { cause });
  }
}
