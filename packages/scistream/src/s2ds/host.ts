/**
 * Where channels run: in the calling thread, or spread over a pool of worker threads so that
 * `num_conn` parallel channels use several cores (one Node thread tops out at one core of TLS).
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { ConnError, ServerError } from "../errors.js";
import { ChannelRelay, type ChannelSpec, type ChannelStats, type ChannelTarget } from "./channel.js";

export interface ChannelHost {
  open(spec: ChannelSpec): Promise<number>;
  setTarget(id: string, target: ChannelTarget): Promise<void>;
  close(id: string): Promise<void>;
  stats(): Promise<ChannelStats[]>;
  /** Closes every channel and terminates workers. */
  shutdown(): Promise<void>;
  /** Live worker threads (0 for the in-process host). */
  readonly workerCount: number;
  readonly channelCount: number;
}

/** Runs channels in the current thread. */
export class InProcessHost implements ChannelHost {
  private readonly channels = new Map<string, ChannelRelay>();
  readonly workerCount = 0;
  get channelCount(): number {
    return this.channels.size;
  }
  async open(spec: ChannelSpec): Promise<number> {
    const relay = new ChannelRelay(spec);
    try {
      const port = await relay.listen();
      this.channels.set(spec.id, relay);
      return port;
    } catch (err) {
      await relay.close();
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConnError(`channel listen failed: ${(err as Error).message}`, {
        cause: err,
        syscallCode: code,
      });
    }
  }
  async setTarget(id: string, target: ChannelTarget): Promise<void> {
    this.channels.get(id)?.setTarget(target);
  }
  async close(id: string): Promise<void> {
    const relay = this.channels.get(id);
    this.channels.delete(id);
    await relay?.close();
  }
  async stats(): Promise<ChannelStats[]> {
    return [...this.channels.values()].map((c) => c.stats());
  }
  async shutdown(): Promise<void> {
    await Promise.all([...this.channels.keys()].map((id) => this.close(id)));
  }
}

/** Messages to a worker. */
export type WorkerRequest =
  | { readonly op: "open"; readonly seq: number; readonly spec: ChannelSpec }
  | { readonly op: "target"; readonly seq: number; readonly id: string; readonly target: ChannelTarget }
  | { readonly op: "close"; readonly seq: number; readonly id: string }
  | { readonly op: "stats"; readonly seq: number };

/** Replies from a worker. */
export type WorkerReply =
  | { readonly seq: number; readonly ok: true; readonly port?: number; readonly stats?: ChannelStats[] }
  | { readonly seq: number; readonly ok: false; readonly error: string; readonly code?: string };

interface PooledWorker {
  readonly worker: Worker;
  readonly channels: Set<string>;
  readonly pending: Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>;
}

/** Locates the compiled worker entry (tests run from src/, the worker always runs from dist/). */
export function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith(".ts")
    ? here.replace(/[\\/]src[\\/]s2ds[\\/]host\.ts$/, "/dist/s2ds/worker.js")
    : here;
  const entry = js.replace(/host\.js$/, "worker.js");
  if (!existsSync(entry))
    throw new ServerError(`S2DS worker entry not found at ${entry}: build the package first`);
  return entry;
}

/**
 * A pool of up to `size` worker threads. A channel goes to the worker with the fewest channels.
 * Workers start on demand and are terminated as soon as they hold no channel, so an idle S2DS
 * keeps no threads.
 */
export class WorkerPoolHost implements ChannelHost {
  private readonly workers: PooledWorker[] = [];
  private readonly placement = new Map<string, PooledWorker>();
  private seq = 0;
  private readonly entry: string;
  private readonly idleTimers = new Map<PooledWorker, NodeJS.Timeout>();
  /**
   * @param size maximum worker threads
   * @param idleMs how long a worker without channels is kept for the next session (starting a
   *   thread costs tens of milliseconds); 0 terminates it at once
   */
  constructor(
    readonly size: number,
    readonly idleMs = 2000,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError("worker pool size must be a positive integer");
    this.entry = workerEntry();
  }
  get workerCount(): number {
    return this.workers.length;
  }
  get channelCount(): number {
    return this.placement.size;
  }

  private spawn(): PooledWorker {
    const worker = new Worker(this.entry);
    const pooled: PooledWorker = { worker, channels: new Set(), pending: new Map() };
    worker.on("message", (reply: WorkerReply) => {
      const waiter = pooled.pending.get(reply.seq);
      pooled.pending.delete(reply.seq);
      waiter?.resolve(reply);
    });
    const fail = (err: Error) => {
      for (const waiter of pooled.pending.values()) waiter.reject(err);
      pooled.pending.clear();
      const index = this.workers.indexOf(pooled);
      if (index >= 0) this.workers.splice(index, 1);
      for (const id of pooled.channels) this.placement.delete(id);
    };
    worker.on("error", fail);
    worker.on("exit", () => fail(new ServerError("S2DS worker exited")));
    this.workers.push(pooled);
    return pooled;
  }

  private pick(): PooledWorker {
    let chosen: PooledWorker | undefined;
    if (this.workers.length < this.size) chosen = this.workers.find((w) => w.channels.size === 0);
    if (chosen === undefined && this.workers.length < this.size) chosen = this.spawn();
    if (chosen === undefined) {
      chosen = this.workers[0]!;
      for (const w of this.workers) if (w.channels.size < chosen.channels.size) chosen = w;
    }
    const timer = this.idleTimers.get(chosen);
    if (timer !== undefined) clearTimeout(timer);
    this.idleTimers.delete(chosen);
    return chosen;
  }

  private async call(pooled: PooledWorker, request: WorkerRequest): Promise<WorkerReply> {
    return new Promise<WorkerReply>((resolve, reject) => {
      pooled.pending.set(request.seq, { resolve, reject });
      pooled.worker.postMessage(request);
    });
  }

  async open(spec: ChannelSpec): Promise<number> {
    const pooled = this.pick();
    pooled.channels.add(spec.id);
    this.placement.set(spec.id, pooled);
    const reply = await this.call(pooled, { op: "open", seq: ++this.seq, spec });
    if (!reply.ok) {
      pooled.channels.delete(spec.id);
      this.placement.delete(spec.id);
      await this.reap(pooled);
      throw new ConnError(`channel listen failed: ${reply.error}`, { syscallCode: reply.code });
    }
    return reply.port ?? 0;
  }

  async setTarget(id: string, target: ChannelTarget): Promise<void> {
    const pooled = this.placement.get(id);
    if (pooled === undefined) return;
    await this.call(pooled, { op: "target", seq: ++this.seq, id, target });
  }

  async close(id: string): Promise<void> {
    const pooled = this.placement.get(id);
    if (pooled === undefined) return;
    this.placement.delete(id);
    try {
      await this.call(pooled, { op: "close", seq: ++this.seq, id });
    } finally {
      pooled.channels.delete(id);
      await this.reap(pooled);
    }
  }

  /** Terminates a worker that holds no channel, now or after the idle grace period. */
  private async reap(pooled: PooledWorker, now = this.idleMs <= 0): Promise<void> {
    if (pooled.channels.size > 0) return;
    if (!now) {
      if (this.idleTimers.has(pooled)) return;
      const timer = setTimeout(() => {
        this.idleTimers.delete(pooled);
        void this.reap(pooled, true);
      }, this.idleMs);
      timer.unref();
      this.idleTimers.set(pooled, timer);
      return;
    }
    const timer = this.idleTimers.get(pooled);
    if (timer !== undefined) clearTimeout(timer);
    this.idleTimers.delete(pooled);
    const index = this.workers.indexOf(pooled);
    if (index < 0) return;
    this.workers.splice(index, 1);
    await pooled.worker.terminate();
  }

  async stats(): Promise<ChannelStats[]> {
    const replies = await Promise.all(
      this.workers.map((w) => this.call(w, { op: "stats", seq: ++this.seq })),
    );
    return replies.flatMap((r) => (r.ok ? (r.stats ?? []) : []));
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.placement.keys()].map((id) => this.close(id).catch(() => {})));
    for (const timer of this.idleTimers.values()) clearTimeout(timer);
    this.idleTimers.clear();
    await Promise.all(this.workers.splice(0).map((w) => w.worker.terminate()));
  }
}
