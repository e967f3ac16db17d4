/**
 * Leak detection through `process.getActiveResourcesInfo()`: counts of live handles and timers by
 * type, compared before and after a whole MTP lifecycle. Only the types an MTP can leak are
 * compared, so vitest's own bookkeeping (its IPC pipe, its per-test timers) does not count.
 */
import { createHook } from "node:async_hooks";

/** Resource types an MTP must give back: sockets, servers, TLS, timers, child processes, pipes. */
export const LEAK_TYPES: readonly string[] = [
  "TCPSocketWrap",
  "TCPServerWrap",
  "TCPWrap",
  "TLSWrap",
  "PipeWrap",
  "ProcessWrap",
  "UDPWrap",
  "Timeout",
];

export type ResourceCounts = Readonly<Record<string, number>>;

export function activeResourceCounts(types: readonly string[] = LEAK_TYPES): ResourceCounts {
  const counts: Record<string, number> = {};
  for (const t of types) counts[t] = 0;
  for (const name of process.getActiveResourcesInfo()) {
    if (name in counts) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** Types whose count grew from `before` to `after` (beyond `tolerance` for timers). */
export function resourceGrowth(
  before: ResourceCounts,
  after: ResourceCounts,
  timerTolerance = 0,
): Record<string, { before: number; after: number }> {
  const grown: Record<string, { before: number; after: number }> = {};
  for (const [type, count] of Object.entries(after)) {
    const was = before[type] ?? 0;
    const allowed = type === "Timeout" ? was + timerTolerance : was;
    if (count > allowed) grown[type] = { before: was, after: count };
  }
  return grown;
}

/**
 * Polls until no tracked resource type exceeds its baseline, or `timeoutMs` passes (sockets and
 * child processes close asynchronously). Returns the growth still present (empty = no leak).
 */
export async function settleResources(
  before: ResourceCounts,
  options: { timeoutMs?: number; timerTolerance?: number } = {},
): Promise<Record<string, { before: number; after: number }>> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    const growth = resourceGrowth(before, activeResourceCounts(Object.keys(before)), options.timerTolerance);
    if (Object.keys(growth).length === 0 || Date.now() >= deadline) return growth;
    await new Promise<void>((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * async_hooks resource types an MTP can leak. TLSWRAP is left out on purpose: its destroy hook
 * runs only when the object is garbage-collected; the TCPWRAP under it is tracked instead.
 */
export const TRACKED_ASYNC_TYPES: readonly string[] = [
  "TCPWRAP",
  "TCPSERVERWRAP",
  "PIPEWRAP",
  "PIPESERVERWRAP",
  "PROCESSWRAP",
  "UDPWRAP",
  "Timeout",
];

export interface LeakedResource {
  readonly type: string;
  readonly asyncId: number;
}

export interface ResourceTracker {
  /** Resources created since the tracker started and still alive (timers: only those still ref'ed). */
  alive(): LeakedResource[];
  /** Polls `alive()` until it is empty or `timeoutMs` passes; returns what is left. */
  settle(timeoutMs?: number): Promise<LeakedResource[]>;
  stop(): void;
}

/**
 * Tracks every socket, server, pipe, child process and timer created from now on, through
 * `async_hooks`, so a leak is seen even when unrelated timers (vitest's own) come and go meanwhile.
 */
export function trackResources(types: readonly string[] = TRACKED_ASYNC_TYPES): ResourceTracker {
  const live = new Map<number, { type: string; resource: WeakRef<object> }>();
  const wanted = new Set(types);
  const hook = createHook({
    init(asyncId, type, _triggerAsyncId, resource) {
      if (wanted.has(type)) live.set(asyncId, { type, resource: new WeakRef(resource) });
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  const alive = (): LeakedResource[] => {
    const out: LeakedResource[] = [];
    for (const [asyncId, { type, resource }] of live) {
      const r = resource.deref() as { hasRef?: () => boolean; _destroyed?: boolean } | undefined;
      if (r === undefined) continue;
      if (type === "Timeout" && (r._destroyed === true || (typeof r.hasRef === "function" && !r.hasRef())))
        continue;
      out.push({ type, asyncId });
    }
    return out;
  };
  return {
    alive,
    async settle(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const left = alive();
        if (left.length === 0 || Date.now() >= deadline) return left;
        await new Promise<void>((resolve) => setTimeout(resolve, 50));
      }
    },
    stop() {
      hook.disable();
      live.clear();
    },
  };
}
