/**
 * A FIFO with O(1) shift. Array.prototype.shift moves every remaining element once an array is
 * large, and the send queue and the inbound Message queue hold hundreds of small Messages at a
 * time, so they advance a head index instead and compact only occasionally.
 */
export class Deque<T> implements Iterable<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The i-th item from the front (undefined when out of range). */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? this.#items[this.#head + i] : undefined;
  }

  /** The newest item. */
  last(): T | undefined {
    return this.length > 0 ? this.#items[this.#items.length - 1] : undefined;
  }

  shift(): T | undefined {
    const items = this.#items;
    if (this.#head >= items.length) return undefined;
    const item = items[this.#head];
    items[this.#head++] = undefined; // let it be collected
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns the i-th item from the front. */
  removeAt(i: number): T | undefined {
    if (i === 0) return this.shift();
    if (i < 0 || i >= this.length) return undefined;
    return this.#items.splice(this.#head + i, 1)[0];
  }

  indexOf(item: T): number {
    const at = this.#items.indexOf(item, this.#head);
    return at < 0 ? -1 : at - this.#head;
  }

  findIndex(predicate: (item: T) => boolean): number {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) if (predicate(items[i] as T)) return i - this.#head;
    return -1;
  }

  /** Empties the queue and returns what it held, oldest first. */
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) yield items[i] as T;
  }
}
