/**
 * A receive buffer made of chunks. Bytes are only copied when a caller needs a contiguous view
 * that spans chunks, so a large message arriving in many reads is joined once, not per read.
 */
export class ByteQueue {
  #chunks: Buffer[] = [];
  #head = 0; // offset into chunks[0]
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Bytes available without joining chunks. */
  get firstChunkLength(): number {
    const first = this.#chunks[0];
    return first ? first.length - this.#head : 0;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#chunks.push(buf);
    this.#length += buf.length;
  }

  /** A contiguous view of the first `n` bytes (n <= length). Joins chunks only when needed. */
  peek(n: number): Buffer {
    if (n > this.#length) throw new RangeError("peek past the end of the receive buffer");
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= n) return first.subarray(this.#head, this.#head + n);
    // Join just enough chunks to cover n bytes.
    const parts: Buffer[] = [first.subarray(this.#head)];
    let have = parts[0]!.length;
    let i = 1;
    while (have < n) {
      const c = this.#chunks[i++]!;
      parts.push(c);
      have += c.length;
    }
    const joined = Buffer.concat(parts, have);
    this.#chunks.splice(0, i, joined);
    this.#head = 0;
    return joined.subarray(0, n);
  }

  /**
   * The first `n` bytes (1 to 4, n <= length) as a big-endian unsigned integer, read across chunk
   * boundaries without joining them or creating a view (a length prefix is read once per Message).
   */
  readUIntBE(n: number): number {
    if (n > this.#length) throw new RangeError("read past the end of the receive buffer");
    let chunk = this.#chunks[0]!;
    let at = this.#head;
    let i = 0;
    let value = 0;
    for (let k = 0; k < n; k++) {
      while (at >= chunk.length) {
        chunk = this.#chunks[++i]!;
        at = 0;
      }
      value = value * 256 + chunk[at++]!;
    }
    return value;
  }

  /** Removes and returns the first `n` bytes. */
  shift(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && this.#head === 0 && first.length === n) {
      // Whole first chunk: hand it over without a view.
      this.#chunks.shift();
      this.#length -= n;
      return first;
    }
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  skip(n: number): void {
    if (n > this.#length) throw new RangeError("skip past the end of the receive buffer");
    this.#length -= n;
    while (n > 0) {
      const first = this.#chunks[0]!;
      const avail = first.length - this.#head;
      if (n < avail) {
        this.#head += n;
        return;
      }
      n -= avail;
      this.#chunks.shift();
      this.#head = 0;
    }
  }

  /** Index of `needle` at or after `from`, or -1. */
  indexOf(needle: Uint8Array, from: number): number {
    if (this.#length === 0) return -1;
    const all = this.peek(this.#length);
    return all.indexOf(needle, from);
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#length = 0;
  }
}

/**
 * The bytes of one received Message: a single buffer in the common case (a whole Message
 * delivered at once), a ByteQueue only when it arrives in pieces.
 */
export class MessageBytes {
  #single: Buffer | undefined;
  #queue: ByteQueue | undefined;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  get firstChunkLength(): number {
    return this.#single ? this.#single.length : (this.#queue?.firstChunkLength ?? 0);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#length += buf.length;
    if (this.#queue) {
      this.#queue.push(buf);
    } else if (this.#single === undefined) {
      this.#single = buf;
    } else {
      this.#queue = new ByteQueue();
      this.#queue.push(this.#single);
      this.#queue.push(buf);
      this.#single = undefined;
    }
  }

  shift(n: number): Buffer {
    this.#length -= n;
    const single = this.#single;
    if (single !== undefined) {
      if (n === single.length) {
        this.#single = undefined;
        return single;
      }
      this.#single = single.subarray(n);
      return single.subarray(0, n);
    }
    if (this.#queue) return this.#queue.shift(n);
    return Buffer.alloc(0);
  }
}
