/** Token-bucket rate limiting of a byte stream (the session's `rate` field). */
import { Transform, type TransformCallback } from "node:stream";

/** A token bucket shared by both directions of one channel. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly bytesPerSecond: number,
    readonly burstBytes: number = Math.max(64 * 1024, Math.floor(bytesPerSecond / 10)),
  ) {
    this.tokens = burstBytes;
    this.last = performance.now();
  }
  /** Takes `n` bytes' worth of tokens and returns how long (ms) the caller must wait before sending. */
  take(n: number): number {
    const now = performance.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.bytesPerSecond;
  }
}

/** Delays chunks so the flow stays within the bucket; back-pressure propagates as usual. */
export class ThrottleStream extends Transform {
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly bucket: TokenBucket) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    const wait = this.bucket.take(chunk.length);
    if (wait <= 0) {
      callback(null, chunk);
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      callback(null, chunk);
    }, Math.ceil(wait));
  }
  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    callback(error);
  }
}
