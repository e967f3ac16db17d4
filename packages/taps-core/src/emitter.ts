/**
 * A typed event emitter that delivers events asynchronously and strictly in order, never emits
 * Node's special `'error'` event (an unhandled TAPS error event must not crash the process), and
 * accepts RFC 9622 event names as aliases of the -06 names.
 */
import { EventEmitter } from "node:events";

const resolved = Promise.resolve();
const TASK = Symbol("task");
const CALL = Symbol("call");
const EVENT1 = Symbol("event/1");
const EVENT2 = Symbol("event/2");

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
  /** One bound flush for every scheduling (no closure per microtask). */
  readonly #flushNow = (): void => this.#flush();

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
      microtask(this.#flushNow);
    }
  }

  /**
   * post() for one- and two-argument events without an argument array: Sent and Received are
   * posted once per Message. Same ordering and terminal rules as post().
   */
  protected post1<K extends keyof E & string>(event: K, a: E[K][0]): void {
    if (this.#terminal) return;
    this.#queue.push(EVENT1, event, a);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(this.#flushNow);
    }
  }
  protected post2<K extends keyof E & string>(event: K, a: E[K][0], b: E[K][1]): void {
    if (this.#terminal) return;
    this.#queue.push(EVENT2, event, a, b);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(this.#flushNow);
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
      microtask(this.#flushNow);
    }
  }

  /**
   * `postTask(() => fn(arg))` without a closure per call: the hot paths settle one promise per
   * Message (Sent, Received), so this saves an allocation each time. Same ordering as postTask.
   */
  protected postCall<T>(fn: (arg: T) => void, arg: T): void {
    if (this.#terminal && this.#queue.length === 0) {
      queueMicrotask(() => fn(arg));
      return;
    }
    this.#queue.push(CALL, fn, arg);
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(this.#flushNow);
    }
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    // Entries are variable length: name + args, EVENT1 + name + arg, EVENT2 + name + 2 args,
    // TASK + fn, or CALL + fn + arg.
    for (let i = 0; i < queue.length; ) {
      const event = queue[i];
      try {
        if (event === TASK) {
          const fn = queue[i + 1] as () => void;
          i += 2;
          fn();
        } else if (event === EVENT1) {
          const name = queue[i + 1] as string;
          const a = queue[i + 2];
          i += 3;
          this.#ee.emit(name, a);
        } else if (event === EVENT2) {
          const name = queue[i + 1] as string;
          const a = queue[i + 2];
          const b = queue[i + 3];
          i += 4;
          this.#ee.emit(name, a, b);
        } else if (event === CALL) {
          const fn = queue[i + 1] as (arg: unknown) => void;
          const arg = queue[i + 2];
          i += 3;
          fn(arg);
        } else {
          const args = queue[i + 1] as unknown[];
          i += 2;
          emitArgs(this.#ee, event as string, args);
        }
      } catch (error) {
        // A throwing listener must not stop later events; surface it like an uncaught exception would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** emit() without spreading an array for the common short argument lists. */
function emitArgs(ee: EventEmitter, event: string, args: unknown[]): void {
  switch (args.length) {
    case 0:
      ee.emit(event);
      return;
    case 1:
      ee.emit(event, args[0]);
      return;
    case 2:
      ee.emit(event, args[0], args[1]);
      return;
    default:
      ee.emit(event, ...args);
  }
}
