/**
 * The TR-181 / TR-369 reconnect back-off formulas, shared by every MTP and by the E2E session.
 * All inputs in seconds as TR-181 names them; the result is milliseconds.
 */

export interface ExponentialRetryParameters {
  /** m (WebSocket SessionRetryMinimumWaitInterval, MQTT ConnectRetryTime, E2E SessionRetryMinimumWaitInterval), seconds. */
  readonly minimumWaitInterval: number;
  /** k, per mille (TR-181 IntervalMultiplier, 1000..65535). */
  readonly intervalMultiplier: number;
  /** Optional clamp (MQTT ConnectRetryMaxInterval, STOMP ServerRetryMaxInterval), seconds. */
  readonly maxInterval?: number | undefined;
}

export const RETRY_COUNT_CAP = 10;

/**
 * WebSocket (R-WS.19), MQTT (R-MQTT.10) and E2E retry: attempt n (1-based, capped at 10)
 * waits a random time in [m·(k/1000)^(n−1), m·(k/1000)^n], clamped to maxInterval.
 */
export function exponentialRetryDelayMs(
  attempt: number,
  params: ExponentialRetryParameters,
  random: () => number = Math.random,
): number {
  const n = Math.min(Math.max(1, Math.floor(attempt)), RETRY_COUNT_CAP);
  const factor = params.intervalMultiplier / 1000;
  let low = params.minimumWaitInterval * factor ** (n - 1);
  let high = params.minimumWaitInterval * factor ** n;
  if (params.maxInterval !== undefined) {
    low = Math.min(low, params.maxInterval);
    high = Math.min(high, params.maxInterval);
  }
  return Math.round((low + (high - low) * random()) * 1000);
}

/** Bounds of the exponential interval, for tests and for showing the schedule. */
export function exponentialRetryWindowMs(
  attempt: number,
  params: ExponentialRetryParameters,
): readonly [number, number] {
  return [
    exponentialRetryDelayMs(attempt, params, () => 0),
    exponentialRetryDelayMs(attempt, params, () => 1),
  ];
}

export interface StompRetryParameters {
  /** I: ServerRetryInitialInterval, seconds (TR-181 default 60). */
  readonly initialInterval: number;
  /** k: ServerRetryIntervalMultiplier, per mille (default 2000). */
  readonly intervalMultiplier: number;
  /** ServerRetryMaxInterval, seconds (default 30720). */
  readonly maxInterval: number;
}

/** STOMP retry (R-STOMP.7/25): attempt n waits random in [0, I·(k/1000)^(n−1)], clamped; it starts at zero. */
export function stompRetryDelayMs(
  attempt: number,
  params: StompRetryParameters,
  random: () => number = Math.random,
): number {
  const n = Math.min(Math.max(1, Math.floor(attempt)), RETRY_COUNT_CAP);
  const high = Math.min(
    params.initialInterval * (params.intervalMultiplier / 1000) ** (n - 1),
    params.maxInterval,
  );
  return Math.round(high * random() * 1000);
}

/** TR-181 defaults, by binding. */
export const RETRY_DEFAULTS = {
  websocket: { minimumWaitInterval: 5, intervalMultiplier: 2000 },
  mqtt: { minimumWaitInterval: 5, intervalMultiplier: 2000, maxInterval: 30720 },
  stomp: { initialInterval: 60, intervalMultiplier: 2000, maxInterval: 30720 },
  e2e: { minimumWaitInterval: 5, intervalMultiplier: 2000 },
} as const;
