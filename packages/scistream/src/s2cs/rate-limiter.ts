/** Per-key token buckets for the control plane (requests per second per caller). */
import { RateLimitError } from "../errors.js";

export interface RateLimitOptions {
  /** Sustained calls per second per key. */
  readonly perSecond: number;
  /** Calls allowed in a burst. */
  readonly burst: number;
  /** Keys remembered at most (oldest are forgotten first). */
  readonly maxKeys?: number;
}

export class KeyedRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  constructor(private readonly options: RateLimitOptions) {}
  /** Takes one call for `key` or throws RateLimitError with a retry hint. */
  take(key: string, now = performance.now()): void {
    const { perSecond, burst } = this.options;
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: burst, last: now };
      this.buckets.set(key, b);
      const max = this.options.maxKeys ?? 10_000;
      if (this.buckets.size > max) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.last) * perSecond) / 1000);
    b.last = now;
    if (b.tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - b.tokens) * 1000) / perSecond);
      throw new RateLimitError(`Rate limit exceeded; retry after ${retryAfterMs} ms`, retryAfterMs);
    }
    b.tokens -= 1;
  }
}
