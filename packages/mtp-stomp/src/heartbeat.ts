/**
 * STOMP heart-beat negotiation (STOMP 1.2 "Heart-beating"; TR-369 R-STOMP.8-11).
 * We send `heart-beat:cx,cy`; the server answers `sx,sy`. We beat every max(cx, sy) when both are
 * non-zero and expect the server every max(sx, cy) when both are non-zero.
 */

export interface HeartbeatValues {
  /** Outgoing: the smallest interval at which the sender can beat, ms (0 = cannot). */
  readonly outgoingMs: number;
  /** Incoming: the interval at which the sender wants beats, ms (0 = does not want). */
  readonly incomingMs: number;
}

export interface NegotiatedHeartbeat {
  /** We must send something at least this often, ms (0 = never). */
  readonly sendEveryMs: number;
  /** The server sends something at least this often, ms (0 = no check). */
  readonly expectEveryMs: number;
}

/**
 * Parses a `heart-beat` header. Tolerates spaces around the numbers (TP-469 6.8 shows `15000, 10000`).
 * Returns undefined when the header is absent or invalid (treated as `0,0`).
 */
export function parseHeartbeat(header: string | undefined): HeartbeatValues | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*$/.exec(header);
  if (!match) return undefined;
  return { outgoingMs: Number(match[1]), incomingMs: Number(match[2]) };
}

export function formatHeartbeat(values: HeartbeatValues): string {
  return `${Math.max(0, Math.floor(values.outgoingMs))},${Math.max(0, Math.floor(values.incomingMs))}`;
}

export function negotiateHeartbeat(
  client: HeartbeatValues,
  server: HeartbeatValues | undefined,
): NegotiatedHeartbeat {
  const sx = server?.outgoingMs ?? 0;
  const sy = server?.incomingMs ?? 0;
  const cx = client.outgoingMs;
  const cy = client.incomingMs;
  return {
    sendEveryMs: cx > 0 && sy > 0 ? Math.max(cx, sy) : 0,
    expectEveryMs: sx > 0 && cy > 0 ? Math.max(sx, cy) : 0,
  };
}
