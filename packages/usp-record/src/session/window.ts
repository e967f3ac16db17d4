/**
 * A map from sequence_id to value for keys that arrive in ascending, contiguous order and leave from
 * the low end: the engine's buffer of sent, unacknowledged Records. A `Map<bigint, ...>` paid for
 * hashing a bigint on every set, get and delete (most of the per-Record bookkeeping when a Msg is
 * cut into thousands of small Records); here a key is an offset into an array.
 *
 * Any other pattern (a key that does not extend the window, or deletion in the middle) is still
 * correct: the window then moves its entries into a plain Map and behaves exactly like one.
 */
export class SequenceWindow<T> {
  /** Key of `#items[#head]`. */
  #base = 0n;
  #items: (T | undefined)[] = [];
  #head = 0;
  #fallback: Map<bigint, T> | undefined;

  get size(): number {
    return this.#fallback?.size ?? this.#items.length - this.#head;
  }

  #index(key: bigint): number {
    const offset = key - this.#base;
    if (offset < 0n || offset >= BigInt(this.#items.length - this.#head)) return -1;
    return this.#head + Number(offset);
  }

  get(key: bigint): T | undefined {
    if (this.#fallback !== undefined) return this.#fallback.get(key);
    const i = this.#index(key);
    return i < 0 ? undefined : this.#items[i];
  }

  has(key: bigint): boolean {
    if (this.#fallback !== undefined) return this.#fallback.has(key);
    return this.#index(key) >= 0;
  }

  set(key: bigint, value: T): void {
    if (this.#fallback !== undefined) {
      this.#fallback.set(key, value);
      return;
    }
    if (this.size === 0) {
      this.#items = [value];
      this.#head = 0;
      this.#base = key;
      return;
    }
    const i = this.#index(key);
    if (i >= 0) this.#items[i] = value;
    else if (key === this.#base + BigInt(this.#items.length - this.#head)) this.#items.push(value);
    else this.#toMap().set(key, value);
  }

  delete(key: bigint): boolean {
    if (this.#fallback !== undefined) return this.#fallback.delete(key);
    const i = this.#index(key);
    if (i < 0) return false;
    if (i !== this.#head) return this.#toMap().delete(key);
    this.#items[i] = undefined;
    this.#head++;
    this.#base++;
    if (this.#head === this.#items.length) this.clear();
    else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Drop the consumed prefix now and then, so the array does not grow without bound.
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return true;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#fallback = undefined;
  }

  #toMap(): Map<bigint, T> {
    const map = new Map<bigint, T>();
    for (let i = this.#head; i < this.#items.length; i++)
      map.set(this.#base + BigInt(i - this.#head), this.#items[i] as T);
    this.#items = [];
    this.#head = 0;
    this.#fallback = map;
    return map;
  }
}
