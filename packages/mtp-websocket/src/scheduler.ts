/**
 * The clock the MTP uses for retry back-off and keep-alive, injectable so tests can drive the
 * R-WS.19 schedule without waiting (see the README: "Testing with a fake clock").
 */
import { type ExponentialRetryParameters, exponentialRetryDelayMs } from "@x/usp-record/mtp";

export interface TimerHandle {
  cancel(): void;
}

export interface Scheduler {
  /** Runs `fn` once after `delayMs`. The handle must not keep the process alive after cancel. */
  schedule(delayMs: number, fn: () => void): TimerHandle;
}

/** The real clock (`setTimeout`). */
export const realScheduler: Scheduler = {
  schedule(delayMs, fn) {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * R-WS.19 to R-WS.21: retry n (1-based, capped at 10 by the formula) waits a random time in
 * [m·(k/1000)^(n−1), m·(k/1000)^n]; the count resets once a session is established.
 */
export class RetryBackoff {
  private count = 0;

  constructor(
    private readonly params: ExponentialRetryParameters,
    private readonly random: () => number = Math.random,
  ) {}

  /** TR-181 `CurrentRetryCount`. */
  get retryCount(): number {
    return this.count;
  }

  /** Counts one more failed attempt and returns how long to wait before the next one. */
  nextDelayMs(): number {
    this.count += 1;
    return exponentialRetryDelayMs(this.count, this.params, this.random);
  }

  /** A session was established (R-WS.20). */
  reset(): void {
    this.count = 0;
  }
}
