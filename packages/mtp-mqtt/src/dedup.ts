/**
 * Receive-side de-duplication. USP over MQTT QoS 1 is at-least-once: a broker restart, a
 * resumed session or overlapping subscriptions can deliver the same Record twice. USP allows
 * that, and a receiver is expected to discard the copies; we remember the last `capacity`
 * distinct Records (most recently seen last) and drop byte-identical repeats.
 */
import { hash } from "node:crypto";

/**
 * Records up to this size are keyed by their bytes themselves (a one-byte string: exact, and
 * several times cheaper than a digest); larger ones by a SHA-1 digest, so the window holds at
 * most `capacity` × this many bytes of keys.
 */
const EXACT_KEY_MAX_BYTES = 512;
/** Digest keys start with a character no latin1 (exact) key can contain, so the two never meet. */
const DIGEST_KEY_PREFIX = "\u0100";

function keyOf(bytes: Uint8Array): string {
  if (bytes.byteLength <= EXACT_KEY_MAX_BYTES) {
    const buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return buf.toString("latin1");
  }
  return DIGEST_KEY_PREFIX + hash("sha1", bytes, "base64");
}

export class RecordDeduplicator {
  readonly #capacity: number;
  /** key -> stamp of its latest sighting. */
  readonly #seen = new Map<string, number>();
  /**
   * Sightings oldest first (keys and stamps from `#head` on); an entry whose stamp is no longer
   * the key's latest is stale and skipped. Evicting from the front is O(1), where taking the
   * first entry of a Set with many deletions behind it is not.
   */
  #keys: string[] = [];
  #stamps: number[] = [];
  #head = 0;
  #stamp = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError("dedup capacity must be an integer >= 0");
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** True the first time `bytes` is seen within the window; false for a repeat. */
  firstTime(bytes: Uint8Array): boolean {
    if (this.#capacity === 0) return true;
    const key = keyOf(bytes);
    const stamp = ++this.#stamp;
    const repeat = this.#seen.has(key);
    // a repeat refreshes its position, so a burst of repeats keeps it in the window
    this.#seen.set(key, stamp);
    this.#keys.push(key);
    this.#stamps.push(stamp);
    if (repeat) {
      this.#compact();
      return false;
    }
    while (this.#seen.size > this.#capacity) {
      const oldest = this.#keys[this.#head] as string;
      const oldestStamp = this.#stamps[this.#head] as number;
      this.#head++;
      if (this.#seen.get(oldest) === oldestStamp) this.#seen.delete(oldest);
    }
    this.#compact();
    return true;
  }

  clear(): void {
    this.#seen.clear();
    this.#keys = [];
    this.#stamps = [];
    this.#head = 0;
  }

  /** Drop the consumed front of the queue once it is large, and stale entries if repeats pile up. */
  #compact(): void {
    if (this.#head >= 1024 && this.#head * 2 >= this.#keys.length) {
      this.#keys = this.#keys.slice(this.#head);
      this.#stamps = this.#stamps.slice(this.#head);
      this.#head = 0;
    }
    if (this.#keys.length - this.#head > 2 * this.#capacity + 1024) {
      // many repeats: keep only each key's latest sighting (the order is unchanged)
      const keys: string[] = [];
      const stamps: number[] = [];
      for (let i = this.#head; i < this.#keys.length; i++) {
        const key = this.#keys[i] as string;
        const stamp = this.#stamps[i] as number;
        if (this.#seen.get(key) === stamp) {
          keys.push(key);
          stamps.push(stamp);
        }
      }
      this.#keys = keys;
      this.#stamps = stamps;
      this.#head = 0;
    }
  }
}
