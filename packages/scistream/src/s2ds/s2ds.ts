/** The S2DS: opens a session's parallel channels from the port pool and relays them. */

import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { ConfigError, ConnError } from "../errors.js";
import type { ChannelDirection, ChannelStats, ChannelTarget, ChannelTransport } from "./channel.js";
import { type ChannelHost, InProcessHost, WorkerPoolHost } from "./host.js";
import { PortPool, type PortRange } from "./port-pool.js";
import { CIPHER_PROFILES, type CipherProfileName } from "./profiles.js";

export interface S2dsOptions {
  /** Address the channel listeners bind to (default 127.0.0.1; the reference binds all interfaces). */
  readonly bindHost?: string;
  /** Address written into listener strings "ip:port" (default: bindHost). */
  readonly advertiseHost?: string;
  /** Port pool (default: ephemeral ports). */
  readonly portRange?: PortRange | "ephemeral";
  /**
   * Worker threads for channels; 0 runs them in this thread. Default: cores - 1, between 1 and 4
   * (one core stays with the control plane; on a 2-core host more relay threads than cores
   * measured slower).
   */
  readonly workers?: number;
  /** Keep a worker without channels this long for the next session (default 2000 ms; 0 = stop at once). */
  readonly workerIdleMs?: number;
  /** TLS-PSK cipher profile (default "secure"). */
  readonly profile?: CipherProfileName;
  /** "tcp" relays without TLS (like the reference's HaproxySubprocess); must be chosen explicitly. */
  readonly transport?: ChannelTransport;
  readonly handshakeTimeoutMs?: number;
  /** Destroy a relayed connection idle this long; 0 = never (default 0: streams may pause for long). */
  readonly idleTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly maxConnectionsPerChannel?: number;
  /** Called for every relaxation of the secure defaults (plain TCP, integrity-only profile). */
  readonly onWarning?: (message: string) => void;
}

export interface OpenSessionOptions {
  readonly uid: string;
  /** inbound = producer facility (TLS-PSK in, TCP to the producer app); outbound = consumer facility. */
  readonly direction: ChannelDirection;
  readonly numConn: number;
  /** Session-wide limit in bytes per second, split evenly over the channels; 0 = unlimited. */
  readonly rateBytesPerSecond?: number;
}

/** The channels of one session. */
export class S2dsSession {
  private closed = false;
  constructor(
    private readonly s2ds: S2ds,
    readonly uid: string,
    readonly direction: ChannelDirection,
    readonly channelIds: readonly string[],
    readonly ports: readonly number[],
    readonly poolPorts: readonly number[],
    readonly listeners: readonly string[],
  ) {}
  /** Points channel i at targets[i % targets.length] (the reference's round-robin expansion). */
  async setTargets(targets: readonly ChannelTarget[]): Promise<ChannelTarget[]> {
    if (targets.length === 0) throw new ConfigError("no targets");
    const expanded = this.channelIds.map((_, i) => targets[i % targets.length]!);
    await Promise.all(this.channelIds.map((id, i) => this.s2ds.host.setTarget(id, expanded[i]!)));
    return expanded;
  }
  async stats(): Promise<ChannelStats[]> {
    const ids = new Set(this.channelIds);
    return (await this.s2ds.host.stats()).filter((s) => ids.has(s.id));
  }
  get isClosed(): boolean {
    return this.closed;
  }
  /** Closes the channels and returns the ports. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.s2ds.closeChannels(this.channelIds, this.poolPorts);
  }
}

export class S2ds {
  readonly host: ChannelHost;
  readonly pool: PortPool;
  readonly bindHost: string;
  readonly advertiseHost: string;
  readonly profile: CipherProfileName;
  readonly transport: ChannelTransport;
  private readonly sessions = new Set<S2dsSession>();
  private readonly options: S2dsOptions;

  constructor(options: S2dsOptions = {}) {
    this.options = options;
    this.bindHost = options.bindHost ?? "127.0.0.1";
    this.advertiseHost = options.advertiseHost ?? this.bindHost;
    this.pool = new PortPool(options.portRange ?? "ephemeral");
    this.profile = options.profile ?? "secure";
    if (!(this.profile in CIPHER_PROFILES)) throw new ConfigError(`unknown cipher profile ${this.profile}`);
    this.transport = options.transport ?? "tls-psk";
    const workers = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    this.host = workers > 0 ? new WorkerPoolHost(workers, options.workerIdleMs ?? 2000) : new InProcessHost();
    if (this.transport === "tcp") {
      options.onWarning?.(
        "S2DS transport is plain TCP: the data plane has no authentication and no encryption",
      );
    } else if (CIPHER_PROFILES[this.profile].integrityOnly) {
      options.onWarning?.(
        `S2DS cipher profile ${this.profile} gives integrity and PSK authentication but no confidentiality`,
      );
    }
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Binds `numConn` listeners (retrying busy pool ports) and returns the session. */
  async openSession(options: OpenSessionOptions): Promise<S2dsSession> {
    const { uid, direction, numConn } = options;
    const rate = options.rateBytesPerSecond ?? 0;
    const perChannelRate = rate > 0 ? Math.max(1, Math.floor(rate / numConn)) : 0;
    const ids: string[] = [];
    const ports: number[] = [];
    const poolPorts: number[] = [];
    const busy = new Set<number>();
    const tag = randomBytes(6).toString("hex");
    try {
      for (let i = 0; i < numConn; i++) {
        const id = `${tag}-${i}`;
        for (;;) {
          const poolPort = this.pool.allocate(busy);
          try {
            const port = await this.host.open({
              id,
              direction,
              transport: this.transport,
              profile: this.profile,
              uid,
              bindHost: this.bindHost,
              port: poolPort,
              rateBytesPerSecond: perChannelRate,
              handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? 10_000,
              idleTimeoutMs: this.options.idleTimeoutMs ?? 0,
              connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
              maxConnections: this.options.maxConnectionsPerChannel ?? 64,
            });
            ids.push(id);
            ports.push(port);
            poolPorts.push(poolPort);
            break;
          } catch (err) {
            this.pool.release(poolPort);
            // A pool port taken by another process on this host: skip it and try the next one.
            if (err instanceof ConnError && err.syscallCode === "EADDRINUSE" && poolPort !== 0) {
              busy.add(poolPort);
              continue;
            }
            throw err;
          }
        }
      }
    } catch (err) {
      await this.closeChannels(ids, poolPorts);
      throw err;
    }
    const listeners = ports.map((p) => formatHostPort(this.advertiseHost, p));
    const session = new S2dsSession(this, uid, direction, ids, ports, poolPorts, listeners);
    this.sessions.add(session);
    return session;
  }

  /** @internal */
  async closeChannels(ids: readonly string[], poolPorts: readonly number[]): Promise<void> {
    await Promise.all(ids.map((id) => this.host.close(id).catch(() => {})));
    for (const p of poolPorts) this.pool.release(p);
    for (const s of this.sessions) if (s.channelIds === ids) this.sessions.delete(s);
  }

  async stats(): Promise<ChannelStats[]> {
    return this.host.stats();
  }

  /** Closes every session and worker. */
  async close(): Promise<void> {
    await Promise.all([...this.sessions].map((s) => s.close()));
    await this.host.shutdown();
  }
}

/** "host:port", with brackets for IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses "host:port" / "[v6]:port"; throws on anything else. */
export function parseHostPort(text: string): ChannelTarget {
  const match =
    /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([A-Za-z0-9._-]{1,253}):(\d{1,5})$/.exec(text);
  if (match === null) throw new ConfigError(`endpoint "${text}" is not host:port`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new ConfigError(`endpoint "${text}" has port out of range`);
  return { host: match[1]!, port };
}
