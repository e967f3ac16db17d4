/**
 * A typed event emitter that delivers events asynchronously and strictly in order, never emits
 * Node's special `'error'` event (an unhandled TAPS error event must not crash the process), and
 * accepts RFC 9622 event names as aliases of the -06 names.
 */
import { EventEmitter } from "node:events";

const resolved = Promise.resolve();
const TASK = Symbol("task");

/**
 * A plain V8 microtask (cheaper than Node's queueMicrotask, which wraps every callback for async
 * context tracking). `fn` must not throw; callers catch their own errors.
 */
export function microtask(fn: () => void): void {
  void resolved.then(fn);
}

// biome-ignore lint/suspicious/noExplicitAny: listeners of heterogeneous events
type AnyListener = (...args: any[]) => void;

export class TapsEmitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #ee = new EventEmitter();
  readonly #aliases: Readonly<Record<string, string>>;
  /** Flat pairs: event name, then its arguments (no tuple per event). */
  #queue: unknown[] = [];
  #scheduled = false;
  #terminal = false;

  constructor(aliases: Readonly<Record<string, string>> = {}) {
    this.#aliases = aliases;
    this.#ee.setMaxListeners(0);
  }

  #name(event: string): string {
    return this.#aliases[event] ?? event;
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  on(event: string, listener: AnyListener): this;
  on(event: string, listener: AnyListener): this {
    this.#ee.on(this.#name(event), listener);
    return this;
  }
  addListener<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    return this.on(event, listener);
  }
  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  once(event: string, listener: AnyListener): this;
  once(event: string, listener: AnyListener): this {
    this.#ee.once(this.#name(event), listener);
    return this;
  }
  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  off(event: string, listener: AnyListener): this;
  off(event: string, listener: AnyListener): this {
    this.#ee.off(this.#name(event), listener);
    return this;
  }
  removeListener<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    return this.off(event, listener);
  }
  removeAllListeners(event?: keyof E & string): this {
    if (event === undefined) this.#ee.removeAllListeners();
    else this.#ee.removeAllListeners(this.#name(event));
    return this;
  }
  listenerCount(event: keyof E & string): number {
    return this.#ee.listenerCount(this.#name(event));
  }

  /** True once a terminal event was queued; nothing is delivered after it. */
  protected get terminated(): boolean {
    return this.#terminal;
  }

  /**
   * Queues an event. A terminal event (Closed, InitiateError, ConnectionError, Stopped) is the
   * last one ever delivered (-06 §12).
   */
  protected post<K extends keyof E & string>(event: K, args: E[K], terminal = false): void {
    if (this.#terminal) return;
    if (terminal) this.#terminal = true;
    this.#queue.push(event, args);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(() => this.#flush());
    }
  }

  /** Runs `fn` in event order (after the events queued before it). */
  protected postTask(fn: () => void): void {
    if (this.#terminal && this.#queue.length === 0) {
      queueMicrotask(fn);
      return;
    }
    this.#queue.push(TASK, fn);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length; i += 2) {
      const event = queue[i];
      const payload = queue[i + 1];
      try {
        if (event === TASK) (payload as () => void)();
        else this.#ee.emit(event as string, ...(payload as unknown[]));
      } catch (error) {
        // A throwing listener must not stop later events; surface it like an uncaught exception would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
