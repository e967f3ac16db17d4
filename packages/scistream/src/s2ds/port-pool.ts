/** The S2DS port pool: ports are handed out once and come back on release (the reference leaks them). */
import { ConfigError, NoResourceError } from "../errors.js";

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** Parses "5100-5200" (inclusive), or "0" for ephemeral ports chosen by the OS. */
export function parsePortRange(text: string): PortRange | "ephemeral" {
  if (text.trim() === "0" || text.trim() === "ephemeral") return "ephemeral";
  const match = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  if (match === null) throw new ConfigError(`port range "${text}" is not FROM-TO`);
  const from = Number(match[1]);
  const to = Number(match[2]);
  if (from < 1 || to > 65535 || from > to)
    throw new ConfigError(`port range "${text}" is out of 1-65535 or reversed`);
  return { from, to };
}

/**
 * A fixed range of ports, or ephemeral mode (every allocation is port 0 and only counted).
 * Allocation is round-robin from the last port handed out so a just-released port is not reused at once.
 */
export class PortPool {
  private readonly inUse = new Set<number>();
  private cursor: number;
  private ephemeralInUse = 0;
  constructor(readonly range: PortRange | "ephemeral") {
    this.cursor = range === "ephemeral" ? 0 : range.from;
  }
  get capacity(): number {
    return this.range === "ephemeral" ? Number.POSITIVE_INFINITY : this.range.to - this.range.from + 1;
  }
  get allocated(): number {
    return this.range === "ephemeral" ? this.ephemeralInUse : this.inUse.size;
  }
  get available(): number {
    return this.capacity - this.allocated;
  }
  /** Takes one port (0 in ephemeral mode). `skip` lists ports known to be busy on this host. */
  allocate(skip: ReadonlySet<number> = new Set()): number {
    const range = this.range;
    if (range === "ephemeral") {
      this.ephemeralInUse++;
      return 0;
    }
    const size = range.to - range.from + 1;
    for (let i = 0; i < size; i++) {
      const port = range.from + ((this.cursor - range.from + i) % size);
      if (!this.inUse.has(port) && !skip.has(port)) {
        this.inUse.add(port);
        this.cursor = port + 1 > range.to ? range.from : port + 1;
        return port;
      }
    }
    throw new NoResourceError(`port pool ${range.from}-${range.to} exhausted`);
  }
  /** Gives a port back. Returning a port twice or one never allocated is ignored. */
  release(port: number): void {
    if (this.range === "ephemeral") {
      if (this.ephemeralInUse > 0) this.ephemeralInUse--;
      return;
    }
    this.inUse.delete(port);
  }
  /** True when nothing is allocated. */
  get whole(): boolean {
    return this.allocated === 0;
  }
}
