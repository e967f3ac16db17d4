/**
 * A simulated link between two E2E engines, with a virtual clock: it drops, duplicates and reorders
 * Records as told, deterministically from a seed. Used by the `usp-record session-demo` command and by
 * the simulation tests, so that the mechanism can be watched without any network.
 */
import type { E2ESession, SessionEvent, SessionOutput } from "./engine.js";

/** Small deterministic PRNG (mulberry32) so failures reproduce from the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkProfile {
  readonly drop: number;
  readonly duplicate: number;
  readonly reorder: number;
  /** Base one-way delay, ms. */
  readonly delayMs: number;
}

interface InFlight {
  readonly at: number;
  readonly order: number;
  readonly to: "agent" | "controller";
  readonly bytes: Uint8Array;
}

/** A lossy, duplicating, reordering link between the two engines, with a virtual clock. */
export class SimulatedLink {
  now = 0;
  readonly delivered: { agent: Uint8Array[]; controller: Uint8Array[] } = { agent: [], controller: [] };
  readonly events: { agent: SessionEvent[]; controller: SessionEvent[] } = { agent: [], controller: [] };
  recordsSent = 0;
  /** Binary min-heap on (at, order). */
  #queue: InFlight[] = [];
  #order = 0;
  readonly #random: () => number;

  constructor(
    readonly agent: E2ESession,
    readonly controller: E2ESession,
    readonly profile: LinkProfile,
    random: () => number,
    readonly keepEvents = true,
  ) {
    this.#random = random;
  }

  /** Takes an engine's output: delivered Msgs recorded, Records put on the link. */
  absorb(from: "agent" | "controller", out: SessionOutput): void {
    const to = from === "agent" ? "controller" : "agent";
    for (const m of out.messages) this.delivered[from].push(m);
    if (this.keepEvents) this.events[from].push(...out.events);
    for (const bytes of out.records) {
      this.recordsSent++;
      if (this.#random() < this.profile.drop) continue;
      const copies = this.#random() < this.profile.duplicate ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const extra =
          this.#random() < this.profile.reorder ? this.profile.delayMs * (1 + this.#random() * 4) : 0;
        this.#push({ at: this.now + this.profile.delayMs + extra, order: this.#order++, to, bytes });
      }
    }
  }

  send(from: "agent" | "controller", msg: Uint8Array): void {
    this.absorb(from, this[from].send(msg, this.now));
  }

  static #before(a: InFlight, b: InFlight): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  #push(item: InFlight): void {
    const q = this.#queue;
    q.push(item);
    let i = q.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!SimulatedLink.#before(q[i]!, q[parent]!)) break;
      [q[i], q[parent]] = [q[parent]!, q[i]!];
      i = parent;
    }
  }

  #pop(): InFlight | undefined {
    const q = this.#queue;
    const top = q[0];
    const last = q.pop();
    if (q.length > 0 && last !== undefined) {
      q[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < q.length && SimulatedLink.#before(q[l]!, q[m]!)) m = l;
        if (r < q.length && SimulatedLink.#before(q[r]!, q[m]!)) m = r;
        if (m === i) break;
        [q[i], q[m]] = [q[m]!, q[i]!];
        i = m;
      }
    }
    return top;
  }

  /** Advances to the next event (arrival or engine deadline). Returns false when nothing is left. */
  step(): boolean {
    const next: InFlight | undefined = this.#queue[0];
    const deadlines = (["agent", "controller"] as const)
      .map((side) => ({ side, at: this[side].nextDeadline() }))
      .filter((d): d is { side: "agent" | "controller"; at: number } => d.at !== undefined);
    deadlines.sort((a, b) => a.at - b.at);
    const timer = deadlines[0];
    if (next === undefined && timer === undefined) return false;
    if (timer !== undefined && (next === undefined || timer.at < next.at)) {
      this.now = Math.max(this.now, timer.at);
      this.absorb(timer.side, this[timer.side].tick(this.now));
      return true;
    }
    this.#pop();
    this.now = Math.max(this.now, next!.at);
    this.absorb(next!.to, this[next!.to].receive(next!.bytes, this.now));
    return true;
  }

  get inFlight(): number {
    return this.#queue.length;
  }

  /** Runs until idle or `maxSteps`. */
  run(maxSteps = 1_000_000): void {
    for (let i = 0; i < maxSteps && this.step(); i++);
  }
}
