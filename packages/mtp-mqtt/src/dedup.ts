/**
 * Receive-side de-duplication. USP over MQTT QoS 1 is at-least-once: a broker restart, a
 * resumed session or overlapping subscriptions can deliver the same Record twice. USP allows
 * that, and a receiver is expected to discard the copies; we remember a digest of the last
 * `capacity` Records and drop byte-identical repeats.
 */
import { hash } from "node:crypto";

export class RecordDeduplicator {
  readonly #capacity: number;
  readonly #seen = new Set<string>();

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
    // one-shot native digest (no Hash object per Record); SHA-1 is plenty to tell Records apart here
    const key = hash("sha1", bytes, "base64");
    if (this.#seen.has(key)) {
      // refresh its position so a burst of repeats keeps it in the window
      this.#seen.delete(key);
      this.#seen.add(key);
      return false;
    }
    this.#seen.add(key);
    if (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return true;
  }

  clear(): void {
    this.#seen.clear();
  }
}
