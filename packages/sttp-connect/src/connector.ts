/**
 * Auto-reconnect for whichever side dials: exponential back-off with jitter, a retry limit, a
 * cap, cancellation, and the rule that a *refused* connection does not reset the attempt counter.
 */
import { SttpAbortedError, SttpError, SttpRefusedError } from "./errors.js";

export interface ReconnectOptions {
  /** Reconnect after an established connection drops (default true). */
  readonly autoReconnect?: boolean;
  /** Retries after a failed attempt; -1 = forever (default -1). */
  readonly maxRetries?: number;
  /** Delay before the first retry, ms (default 1000). */
  readonly retryIntervalMs?: number;
  /** Upper bound of the delay, ms (default 30000). */
  readonly maxRetryIntervalMs?: number;
  /** Fraction of each delay removed at random (0–1, default 0.2) so that many peers do not retry in lock-step. */
  readonly jitter?: number;
  /** Random source in [0, 1) (tests inject a fixed one). */
  readonly random?: () => number;
}

export interface ResolvedReconnectOptions {
  readonly autoReconnect: boolean;
  readonly maxRetries: number;
  readonly retryIntervalMs: number;
  readonly maxRetryIntervalMs: number;
  readonly jitter: number;
  readonly random: () => number;
}

export function resolveReconnectOptions(options: ReconnectOptions = {}): ResolvedReconnectOptions {
  const jitter = options.jitter ?? 0.2;
  if (!(jitter >= 0 && jitter <= 1))
    throw new SttpError("ERR_STTP_CONFIG", "reconnect.jitter must be within 0..1");
  return {
    autoReconnect: options.autoReconnect ?? true,
    maxRetries: options.maxRetries ?? -1,
    retryIntervalMs: options.retryIntervalMs ?? 1000,
    maxRetryIntervalMs: options.maxRetryIntervalMs ?? 30_000,
    jitter,
    random: options.random ?? Math.random,
  };
}

/** Delay before retry number `retry` (1-based): interval · 2^min(retry − 1, 12), capped, minus jitter. */
export function retryDelayMs(retry: number, options: ResolvedReconnectOptions): number {
  const exponent = Math.min(Math.max(retry - 1, 0), 12);
  const base = Math.min(options.retryIntervalMs * 2 ** exponent, options.maxRetryIntervalMs);
  return Math.round(base * (1 - options.jitter * options.random()));
}

export interface ReconnectingEvent {
  /** Retry number (1-based) since the last successful connection. */
  readonly retry: number;
  readonly delayMs: number;
  readonly error: Error;
}

/** A connection the connector keeps up: `closed` settles when it ends (with the reason, if any). */
export interface ConnectedSession {
  readonly closed: Promise<Error | undefined>;
}

export interface ConnectorHooks<S extends ConnectedSession> {
  readonly connect: (signal: AbortSignal) => Promise<S>;
  readonly onReconnecting?: (event: ReconnectingEvent) => void;
  /** Called when retries are exhausted after a drop (the first connect rejects instead). */
  readonly onGiveUp?: (error: Error) => void;
}

export class Connector<S extends ConnectedSession> {
  readonly #options: ResolvedReconnectOptions;
  readonly #hooks: ConnectorHooks<S>;
  readonly #abort = new AbortController();
  #retries = 0;
  #lastRefused = false;
  #wake: (() => void) | undefined;

  constructor(options: ResolvedReconnectOptions, hooks: ConnectorHooks<S>) {
    this.#options = options;
    this.#hooks = hooks;
  }

  get cancelled(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Current retry counter (0 after a successful connection that was not refused). */
  get retries(): number {
    return this.#retries;
  }

  /** Connects, retrying per the options; resolves with the first session. Later drops reconnect in the background. */
  async start(signal?: AbortSignal): Promise<S> {
    if (signal) {
      if (signal.aborted) this.cancel();
      else signal.addEventListener("abort", () => this.cancel(), { once: true });
    }
    const session = await this.#connectWithRetries();
    this.#watch(session);
    return session;
  }

  cancel(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort();
    this.#wake?.();
  }

  #watch(session: S): void {
    void session.closed.then(async (reason) => {
      if (this.cancelled || !this.#options.autoReconnect) return;
      if (!this.#lastRefused) this.#retries = 0;
      try {
        // A dropped connection waits one interval before redialling (never a tight loop).
        const next = await this.#connectWithRetries(
          reason ?? new SttpError("ERR_STTP_CLOSED", "connection closed"),
        );
        this.#watch(next);
      } catch (error) {
        if (!this.cancelled) this.#hooks.onGiveUp?.(error as Error);
      }
    });
  }

  async #connectWithRetries(previousError?: Error): Promise<S> {
    let lastError = previousError;
    if (lastError !== undefined) await this.#backoff(lastError);
    for (;;) {
      if (this.cancelled) throw new SttpAbortedError("connector cancelled");
      try {
        const session = await this.#hooks.connect(this.#abort.signal);
        this.#lastRefused = false;
        this.#retries = 0;
        return session;
      } catch (error) {
        if (this.cancelled) throw new SttpAbortedError("connector cancelled", { cause: error });
        lastError = error as Error;
        this.#lastRefused = error instanceof SttpRefusedError;
        await this.#backoff(lastError);
      }
    }
  }

  async #backoff(error: Error): Promise<void> {
    const max = this.#options.maxRetries;
    if (max >= 0 && this.#retries >= max) throw error;
    this.#retries++;
    const delayMs = retryDelayMs(this.#retries, this.#options);
    const sleep = new Promise<void>((resolve) => {
      const timer = setTimeout(done, delayMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    // The listener may cancel synchronously: the wake-up hook exists already.
    this.#hooks.onReconnecting?.({ retry: this.#retries, delayMs, error });
    if (this.cancelled) this.#wake?.();
    await sleep;
    this.#wake = undefined;
  }
}
