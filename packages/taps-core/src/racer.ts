/**
 * Candidate gathering and racing (RFC 8305, RFC 9623 §4): both address families of every
 * hostname are resolved in parallel; IPv6 goes first, IPv4 waits for the AAAA answer or the
 * resolution delay; families alternate; attempts start `attemptDelay` apart (or at once when the
 * previous one failed); earlier attempts stay alive; the first to connect wins and the others are
 * closed. Several Remote Endpoints are raced in the order given.
 *
 * Node's own `autoSelectFamily` is not used: it closes each attempt when the next starts.
 */
import type { EndpointSnapshot } from "./endpoint.js";
import { InitiateError, TapsError } from "./errors.js";
import { type Resolver, servicePort } from "./resolver.js";
import type { StackName } from "./selection.js";
import { type Candidate, candidateLabel, type Transport } from "./transport.js";

export interface RaceTimelineEntry {
  /** Milliseconds since the race started. */
  readonly t: number;
  readonly event:
    | "resolve"
    | "resolved"
    | "resolve-failed"
    | "attempt"
    | "attempt-failed"
    | "won"
    | "cancelled"
    | "timeout";
  readonly candidate?: string;
  readonly detail?: string;
}

export interface RaceOptions {
  readonly stack: StackName;
  readonly remotes: readonly EndpointSnapshot[];
  readonly resolver: Resolver;
  /** RFC 8305 Connection Attempt Delay (default 250 ms, at least 10). */
  readonly attemptDelay: number;
  /** RFC 8305 Resolution Delay (default 50 ms). */
  readonly resolutionDelay: number;
  readonly localAddressFor?: (family: 4 | 6) => string | undefined;
  readonly localPort?: number | undefined;
  /** One connect attempt; injectable for tests (the default is transport.attempt). */
  readonly attempt: (candidate: Candidate, signal: AbortSignal) => Promise<Transport>;
  readonly signal: AbortSignal;
  readonly onTimeline?: (entry: RaceTimelineEntry) => void;
}

export interface RaceResult {
  readonly transport: Transport;
  readonly candidate: Candidate;
  readonly timeline: readonly RaceTimelineEntry[];
}

interface RemoteState {
  readonly index: number;
  readonly port: number;
  readonly hostname: string | undefined;
  v6: string[];
  v4: string[];
  v6Pending: boolean;
  v4Pending: boolean;
  /** IPv4 answers may be used (AAAA answered or the resolution delay passed). */
  v4Released: boolean;
  paths: string[];
  errors: unknown[];
}

interface Active {
  readonly candidate: Candidate;
  readonly controller: AbortController;
}

export function race(options: RaceOptions): Promise<RaceResult> {
  return new Racer(options).run();
}

class Racer {
  readonly #o: RaceOptions;
  readonly #start = performance.now();
  readonly #timeline: RaceTimelineEntry[] = [];
  readonly #remotes: RemoteState[] = [];
  readonly #active = new Set<Active>();
  readonly #failures: { candidate: Candidate; error: unknown }[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #lastFamily: 4 | 6 | 0 = 4;
  #nextAllowedAt = 0;
  #launches = 0;
  #done = false;
  #resolve!: (r: RaceResult) => void;
  #reject!: (e: unknown) => void;

  constructor(options: RaceOptions) {
    this.#o = options;
  }

  run(): Promise<RaceResult> {
    const p = new Promise<RaceResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const { signal } = this.#o;
    if (signal.aborted) {
      this.#fail(signal.reason);
      return p;
    }
    signal.addEventListener("abort", () => this.#fail(signal.reason), { once: true });
    try {
      this.#gather();
    } catch (error) {
      this.#fail(error);
      return p;
    }
    this.#pump();
    return p;
  }

  #log(event: RaceTimelineEntry["event"], candidate?: Candidate, detail?: string): void {
    const entry: RaceTimelineEntry = {
      t: Math.round((performance.now() - this.#start) * 10) / 10,
      event,
      ...(candidate ? { candidate: candidateLabel(candidate) } : {}),
      ...(detail ? { detail } : {}),
    };
    this.#timeline.push(entry);
    this.#o.onTimeline?.(entry);
  }

  #timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #gather(): void {
    const { remotes, stack } = this.#o;
    if (remotes.length === 0) throw new InitiateError("no Remote Endpoint given", { reason: "invalid" });
    remotes.forEach((r, index) => {
      let port = r.port;
      if (port === undefined && r.service !== undefined) {
        port = servicePort(r.service);
        if (port === undefined)
          throw new InitiateError(`unknown service "${r.service}"`, {
            reason: "resolution",
            property: "service",
          });
      }
      if (stack !== "uds" && port === undefined)
        throw new InitiateError(`Remote Endpoint ${index} has no port or service`, { reason: "invalid" });
      const state: RemoteState = {
        index,
        port: port ?? 0,
        hostname: r.hostnames[0],
        v6: [...r.ipv6],
        v4: [...r.ipv4],
        v6Pending: false,
        v4Pending: false,
        v4Released: true,
        paths: r.path !== undefined ? [r.path] : [],
        errors: [],
      };
      this.#remotes.push(state);
      if (stack === "uds") {
        if (state.paths.length === 0)
          throw new InitiateError("a Unix socket stack needs a Remote Endpoint with a path", {
            reason: "invalid",
          });
        return;
      }
      for (const host of r.hostnames) this.#lookup(state, host);
    });
  }

  #lookup(state: RemoteState, host: string): void {
    const { resolver, resolutionDelay } = this.#o;
    state.v6Pending = true;
    state.v4Pending = true;
    state.v4Released = false;
    this.#log("resolve", undefined, host);
    resolver.lookup(host, 6).then(
      (addresses) => {
        state.v6Pending = false;
        state.v4Released = true; // AAAA answered: IPv4 may go as soon as it is its turn
        state.v6.push(...addresses.filter((a) => !state.v6.includes(a)));
        this.#log("resolved", undefined, `${host} AAAA ${addresses.join(" ") || "(none)"}`);
        this.#pump();
      },
      (error: unknown) => {
        state.v6Pending = false;
        state.v4Released = true;
        state.errors.push(error);
        this.#log("resolve-failed", undefined, `${host} AAAA ${(error as Error)?.message ?? String(error)}`);
        this.#pump();
      },
    );
    resolver.lookup(host, 4).then(
      (addresses) => {
        state.v4Pending = false;
        state.v4.push(...addresses.filter((a) => !state.v4.includes(a)));
        this.#log("resolved", undefined, `${host} A ${addresses.join(" ") || "(none)"}`);
        if (!state.v4Released) {
          // RFC 8305 §3: wait a little for AAAA before using A.
          this.#timer(resolutionDelay, () => {
            state.v4Released = true;
            this.#pump();
          });
        }
        this.#pump();
      },
      (error: unknown) => {
        state.v4Pending = false;
        state.errors.push(error);
        this.#log("resolve-failed", undefined, `${host} A ${(error as Error)?.message ?? String(error)}`);
        this.#pump();
      },
    );
  }

  /** The next candidate in order, or undefined if none is available now. */
  #take(): Candidate | undefined {
    const { stack } = this.#o;
    for (const r of this.#remotes) {
      const path = r.paths.shift();
      if (path !== undefined)
        return { stack, address: path, family: 0, port: 0, remoteIndex: r.index, hostname: undefined };
      const v4ok = r.v4Released && r.v4.length > 0;
      const v6ok = r.v6.length > 0;
      let family: 4 | 6 | undefined;
      if (v6ok && v4ok) family = this.#lastFamily === 6 ? 4 : 6;
      else if (v6ok) family = 6;
      else if (v4ok) family = 4;
      if (family !== undefined) {
        const address = (family === 6 ? r.v6 : r.v4).shift()!;
        return {
          stack,
          address,
          family,
          port: r.port,
          remoteIndex: r.index,
          hostname: r.hostname,
          localAddress: this.#o.localAddressFor?.(family),
          localPort: this.#o.localPort,
        };
      }
      // Remote endpoints are tried in order: while this one may still produce candidates, wait for it.
      if (r.v6Pending || r.v4Pending || (!r.v4Released && r.v4.length > 0)) return undefined;
    }
    return undefined;
  }

  #morePossible(): boolean {
    return this.#remotes.some(
      (r) => r.paths.length > 0 || r.v6.length > 0 || r.v4.length > 0 || r.v6Pending || r.v4Pending,
    );
  }

  #pump(): void {
    if (this.#done) return;
    const now = performance.now();
    if (this.#active.size === 0 || now >= this.#nextAllowedAt) {
      const c = this.#take();
      if (c) {
        this.#launch(c);
        return;
      }
    }
    if (this.#active.size === 0 && !this.#morePossible()) this.#exhausted();
  }

  #launch(candidate: Candidate): void {
    const { attemptDelay } = this.#o;
    const controller = new AbortController();
    const entry: Active = { candidate, controller };
    this.#active.add(entry);
    this.#lastFamily = candidate.family;
    this.#nextAllowedAt = performance.now() + attemptDelay;
    const launch = ++this.#launches;
    this.#log("attempt", candidate);
    // Timers may fire a fraction of a millisecond "early" by performance.now(): the timer itself
    // is the authority that the delay has passed.
    this.#timer(attemptDelay, () => {
      if (launch === this.#launches) this.#nextAllowedAt = 0;
      this.#pump();
    });
    let result: Promise<Transport>;
    try {
      result = this.#o.attempt(candidate, controller.signal);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (transport) => {
        this.#active.delete(entry);
        if (this.#done) {
          transport.destroy();
          return;
        }
        this.#win(candidate, transport);
      },
      (error: unknown) => {
        this.#active.delete(entry);
        if (this.#done) return;
        this.#failures.push({ candidate, error });
        this.#log(
          "attempt-failed",
          candidate,
          (error as { code?: string })?.code ?? (error as Error)?.message,
        );
        // RFC 8305 §5: the next attempt starts at once when one fails.
        this.#nextAllowedAt = 0;
        this.#pump();
      },
    );
  }

  #win(candidate: Candidate, transport: Transport): void {
    this.#done = true;
    this.#log("won", candidate);
    for (const a of this.#active) {
      this.#log("cancelled", a.candidate);
      a.controller.abort(new Error("lost the race"));
    }
    this.#active.clear();
    this.#clearTimers();
    this.#resolve({ transport, candidate, timeline: this.#timeline });
  }

  #exhausted(): void {
    const resolutionErrors = this.#remotes.flatMap((r) => r.errors);
    if (this.#failures.length === 0) {
      const cause = resolutionErrors[0];
      this.#fail(
        new InitiateError(
          `could not resolve the Remote Endpoint${cause ? `: ${(cause as Error).message ?? String(cause)}` : ""}`,
          { reason: "resolution", cause },
        ),
      );
      return;
    }
    const last = this.#failures[this.#failures.length - 1]!;
    if (last.error instanceof TapsError && this.#failures.length === 1) {
      this.#fail(last.error);
      return;
    }
    const codes = this.#failures.map(
      (f) =>
        `${candidateLabel(f.candidate)} ${(f.error as { code?: string })?.code ?? (f.error as Error)?.message}`,
    );
    const allRefused = this.#failures.every((f) => (f.error as { code?: string })?.code === "ECONNREFUSED");
    const security = this.#failures.find(
      (f) => f.error instanceof TapsError && f.error.reason === "security",
    );
    this.#fail(
      security
        ? security.error
        : new InitiateError(`no candidate could be connected (${codes.join("; ")})`, {
            reason: allRefused ? "refused" : "unreachable",
            cause: last.error,
          }),
    );
  }

  #fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    const timeout = error instanceof InitiateError && error.reason === "timeout";
    if (timeout) this.#log("timeout");
    for (const a of this.#active) {
      this.#log("cancelled", a.candidate);
      a.controller.abort(error);
    }
    this.#active.clear();
    this.#clearTimers();
    this.#reject(
      error instanceof TapsError
        ? error
        : new InitiateError(`establishment failed: ${(error as Error)?.message ?? String(error)}`, {
            reason: "unreachable",
            cause: error,
          }),
    );
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  get timeline(): readonly RaceTimelineEntry[] {
    return this.#timeline;
  }
}
