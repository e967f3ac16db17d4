/**
 * The S2CS: the gRPC control server of a facility. It serves `scistream.Control` (the reference's
 * wire names) and `scistream.SciStreamControl` (the seed's names) with the same handlers, keeps a
 * registry of sessions with an explicit state machine, and drives the S2DS.
 */
import * as grpc from "@grpc/grpc-js";
import { type Authenticator, type Principal, tokenFromAuthorization } from "../auth.js";
import {
  BadFormatError,
  ConfigError,
  DuplicateUidError,
  ERROR_CODE_TRAILER,
  ForbiddenError,
  InvalidUidError,
  NoResourceError,
  RateLimitError,
  SciStreamError,
  ServerError,
  TimeoutError,
  UnavailableError,
} from "../errors.js";
import {
  type AppResponse,
  type ControlServer,
  ControlService,
  type Hello,
  type Release,
  type Request as ReqMessage,
  type Response as RespMessage,
  type SciStreamControlServer,
  SciStreamControlService,
  type UpdateTargets,
} from "../gen/scistream.js";
import { type Logger, redactUid, silentLogger } from "../log.js";
import { MetricsRegistry } from "../metrics.js";
import type { ChannelTarget } from "../s2ds/channel.js";
import { formatHostPort, parseHostPort, S2ds, type S2dsOptions, type S2dsSession } from "../s2ds/s2ds.js";
import { validateUid } from "../uid.js";
import { KeyedRateLimiter, type RateLimitOptions } from "./rate-limiter.js";

/** Session states (the seed's Appendix A.2, made explicit). */
export type SessionState = "PENDING_HELLO" | "READY" | "ACTIVE" | "RELEASED" | "EXPIRED";
export type Role = "PROD" | "CONS";

export interface SessionInfo {
  readonly uid: string;
  readonly role: Role;
  readonly state: SessionState;
  readonly owner: string;
  readonly numConn: number;
  /** Requested rate as sent (units of `rateUnitBytesPerSecond`). */
  readonly rate: number;
  readonly listeners: readonly string[];
  readonly prodListeners: readonly string[];
  readonly createdAt: Date;
}

export interface S2csTlsOptions {
  /** PEM certificate chain of the server. */
  readonly cert: string | Buffer;
  /** PEM private key. */
  readonly key: string | Buffer;
  /** PEM CA bundle for client certificates; set with `requireClientCert` for mutual TLS. */
  readonly clientCa?: string | Buffer;
  readonly requireClientCert?: boolean;
}

export interface S2csOptions {
  /** Bind address of the gRPC server (default 127.0.0.1). */
  readonly host?: string;
  /** Control port (default 0 = ephemeral; the reference uses 5000). */
  readonly port?: number;
  /** Control-channel TLS. Required unless `insecure` is set. */
  readonly tls?: S2csTlsOptions;
  /** Plaintext gRPC (the reference's `--ssl=False`). Explicit, logged as a warning. */
  readonly insecure?: boolean;
  /** Token validation. Required: pass `noAuth()` explicitly for development. */
  readonly auth: Authenticator;
  /** The data server, or options to create one (owned and closed by the S2CS). */
  readonly s2ds?: S2ds | S2dsOptions;
  /** `req` blocks until the session's first hello, like the reference (default true). */
  readonly reqWaitsForHello?: boolean;
  /** How long a blocked `req` waits for the hello (default 180 s, the reference's timeout). */
  readonly helloTimeoutMs?: number;
  /** A hello that arrives before its req waits this long for it (default 10 s). */
  readonly earlyHelloGraceMs?: number;
  /** A session that never becomes ACTIVE is expired after this (default 10 min). */
  readonly sessionTtlMs?: number;
  /** An ACTIVE session is expired after this; 0 = never (default 0). */
  readonly maxSessionLifetimeMs?: number;
  readonly maxSessions?: number;
  readonly maxNumConn?: number;
  /** Bytes per second for one unit of the `rate` field (default 125000: rate in Mbit/s); 0 ignores `rate`. */
  readonly rateUnitBytesPerSecond?: number;
  /** Control-plane rate limit per authenticated subject (default 50/s, burst 100). */
  readonly rateLimit?: RateLimitOptions | false;
  /** Control-plane rate limit per peer address before authentication (default 100/s, burst 200). */
  readonly peerRateLimit?: RateLimitOptions | false;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
  /** Extra gRPC server options. */
  readonly grpcOptions?: grpc.ServerOptions;
}

interface Session {
  readonly uid: string;
  readonly role: Role;
  readonly numConn: number;
  readonly rate: number;
  readonly owner: string;
  readonly createdAt: Date;
  state: SessionState;
  readonly data: S2dsSession;
  prodListeners: string[];
  readonly helloWaiters: Set<(error?: Error) => void>;
  timer: NodeJS.Timeout | undefined;
}

interface Tombstone {
  readonly owner: string;
  readonly state: "RELEASED" | "EXPIRED";
}

type Handler<Req, Res> = (
  request: Req,
  principal: Principal,
  call: grpc.ServerUnaryCall<Req, Res>,
) => Promise<Res>;

const MAX_LISTENERS = 1024;

export class S2cs {
  private readonly server: grpc.Server;
  readonly s2ds: S2ds;
  private readonly ownsS2ds: boolean;
  private readonly sessions = new Map<string, Session>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly earlyHellos = new Map<string, Set<() => void>>();
  private readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  private readonly subjectLimiter: KeyedRateLimiter | undefined;
  private readonly peerLimiter: KeyedRateLimiter | undefined;
  private boundPort = 0;
  private closing = false;
  private pendingReqs = 0;

  constructor(private readonly options: S2csOptions) {
    if (options.tls === undefined && options.insecure !== true) {
      throw new ConfigError("S2CS needs TLS options (tls.cert, tls.key) or an explicit insecure: true");
    }
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? new MetricsRegistry();
    if (options.s2ds instanceof S2ds) {
      this.s2ds = options.s2ds;
      this.ownsS2ds = false;
    } else {
      const s2dsOptions = options.s2ds ?? {};
      this.s2ds = new S2ds({
        ...s2dsOptions,
        onWarning: (message) => {
          this.logger.log("warn", "s2ds.relaxed", { message });
          s2dsOptions.onWarning?.(message);
        },
      });
      this.ownsS2ds = true;
    }
    if (options.auth.name === "none") {
      this.logger.log("warn", "auth.disabled", {
        message:
          "S2CS authentication is DISABLED (development only): any caller can create and release sessions",
      });
      process.emitWarning("S2CS authentication is disabled (development only)", {
        code: "SCISTREAM_NO_AUTH",
      });
    }
    if (options.insecure === true) {
      this.logger.log("warn", "tls.disabled", {
        message: "S2CS control channel is plaintext gRPC (insecure)",
      });
    }
    this.subjectLimiter =
      options.rateLimit === false
        ? undefined
        : new KeyedRateLimiter(options.rateLimit ?? { perSecond: 50, burst: 100 });
    this.peerLimiter =
      options.peerRateLimit === false
        ? undefined
        : new KeyedRateLimiter(options.peerRateLimit ?? { perSecond: 100, burst: 200 });
    this.server = new grpc.Server({
      "grpc.max_receive_message_length": 64 * 1024,
      "grpc.max_send_message_length": 1024 * 1024,
      ...options.grpcOptions,
    });
    const handlers: ControlServer = {
      req: this.unary("req", (r: ReqMessage, p, c) => this.handleReq(r, p, c)),
      update: this.unary("update", (r: UpdateTargets, p) => this.handleUpdate(r, p)),
      release: this.unary("release", (r: Release, p) => this.handleRelease(r, p)),
      hello: this.unary("hello", (r: Hello, p, c) => this.handleHello(r, p, c)),
    };
    this.server.addService(ControlService, handlers);
    const alias: SciStreamControlServer = {
      requestStream: handlers.req,
      updateTargets: handlers.update,
      hello: handlers.hello,
      releaseStream: handlers.release,
    };
    this.server.addService(SciStreamControlService, alias);
    this.declareMetrics();
  }

  private declareMetrics(): void {
    const m = this.metrics;
    for (const state of ["PENDING_HELLO", "READY", "ACTIVE"] as const) {
      m.declare("scistream_sessions", "Sessions by state", "gauge", { state });
    }
    m.addCollector(async () => {
      const counts: Record<string, number> = { PENDING_HELLO: 0, READY: 0, ACTIVE: 0 };
      for (const s of this.sessions.values()) counts[s.state] = (counts[s.state] ?? 0) + 1;
      for (const [state, n] of Object.entries(counts))
        m.set("scistream_sessions", "Sessions by state", n, { state });
      const pool = this.s2ds.pool;
      m.set("scistream_port_pool_allocated", "S2DS ports in use", pool.allocated);
      if (Number.isFinite(pool.capacity))
        m.set("scistream_port_pool_capacity", "S2DS port pool size", pool.capacity);
      m.set("scistream_s2ds_workers", "S2DS worker threads alive", this.s2ds.host.workerCount);
      const stats = await this.s2ds.stats();
      const owner = new Map<string, Session>();
      for (const s of this.sessions.values()) for (const id of s.data.channelIds) owner.set(id, s);
      for (const name of [
        "scistream_channel_bytes_in",
        "scistream_channel_bytes_out",
        "scistream_channel_throughput_bytes_per_second",
        "scistream_channel_connections_active",
        "scistream_channel_handshake_failures",
      ]) {
        m.reset(name);
      }
      for (const st of stats) {
        const s = owner.get(st.id);
        const labels = {
          session: s === undefined ? "?" : redactUid(s.uid),
          channel: st.id,
          role: s?.role ?? "?",
        };
        m.set("scistream_channel_bytes_in", "Bytes received from the connecting side", st.bytesIn, labels);
        m.set("scistream_channel_bytes_out", "Bytes sent to the connecting side", st.bytesOut, labels);
        m.set("scistream_channel_throughput_bytes_per_second", "Mean throughput", st.bytesPerSecond, labels);
        m.set(
          "scistream_channel_connections_active",
          "Relayed connections open",
          st.connectionsActive,
          labels,
        );
        for (const [reason, n] of Object.entries(st.handshakeFailures)) {
          m.set("scistream_channel_handshake_failures", "TLS-PSK handshake failures", n, {
            ...labels,
            reason,
          });
        }
      }
    });
  }

  /** Starts listening and returns the bound port. */
  async listen(): Promise<number> {
    const host = this.options.host ?? "127.0.0.1";
    const port = this.options.port ?? 0;
    const tls = this.options.tls;
    const creds =
      tls === undefined
        ? grpc.ServerCredentials.createInsecure()
        : grpc.ServerCredentials.createSsl(
            tls.clientCa === undefined ? null : Buffer.from(tls.clientCa),
            [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }],
            tls.requireClientCert === true,
          );
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(formatHostPort(host, port), creds, (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    });
    this.logger.log("info", "s2cs.listening", { host, port: this.boundPort, tls: tls !== undefined });
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** "host:port" of the control server. */
  get address(): string {
    return formatHostPort(this.options.host ?? "127.0.0.1", this.boundPort);
  }

  private unary<Req, Res>(method: string, handler: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      this.dispatch(method, handler, call).then(
        (response) => {
          this.metrics.inc("scistream_rpc_total", "Control RPCs by method and result", {
            method,
            code: "SUCCESS",
          });
          callback(null, response);
        },
        (err: unknown) => {
          const e = this.toSciStreamError(err, method);
          this.metrics.inc("scistream_rpc_total", "Control RPCs by method and result", {
            method,
            code: e.seedCode,
          });
          const trailer = new grpc.Metadata();
          trailer.set(ERROR_CODE_TRAILER, e.seedCode);
          if (e instanceof RateLimitError) trailer.set("retry-after-ms", String(e.retryAfterMs));
          callback({ code: e.grpcStatus, details: `${e.seedCode}: ${e.message}`, metadata: trailer });
        },
      );
    };
  }

  private toSciStreamError(err: unknown, method: string): SciStreamError {
    if (err instanceof SciStreamError) {
      this.logger.log(err.grpcStatus === grpc.status.INTERNAL ? "error" : "info", "rpc.failed", {
        method,
        code: err.seedCode,
        message: err.message,
      });
      return err;
    }
    this.logger.log("error", "rpc.internal", { method, message: (err as Error)?.message });
    return new ServerError("Internal server error", { cause: err });
  }

  private async dispatch<Req, Res>(
    method: string,
    handler: Handler<Req, Res>,
    call: grpc.ServerUnaryCall<Req, Res>,
  ): Promise<Res> {
    if (this.closing) throw new UnavailableError("S2CS is shutting down");
    this.peerLimiter?.take(peerHost(call.getPeer()));
    const raw = call.metadata.get("authorization")[0];
    const token = tokenFromAuthorization(typeof raw === "string" ? raw : raw?.toString("utf8"));
    let principal: Principal;
    try {
      principal = await this.options.auth.authenticate(token);
    } catch (err) {
      this.metrics.inc("scistream_auth_failures_total", "Rejected tokens", { method });
      throw err;
    }
    this.subjectLimiter?.take(principal.subject);
    return handler(call.request, principal, call);
  }

  private parseRole(role: string): Role {
    if (role === "PROD" || role === "CONS") return role;
    throw new BadFormatError(`role must be PROD or CONS, got "${role.slice(0, 16)}"`);
  }

  private parseEndpoints(list: readonly string[], what: string): ChannelTarget[] {
    if (list.length > MAX_LISTENERS) throw new BadFormatError(`too many ${what}`);
    try {
      return list.map((l) => parseHostPort(l));
    } catch (err) {
      throw new BadFormatError(`${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  private lookup(uid: string, principal: Principal | undefined): Session {
    validateUid(uid, 1);
    const session = this.sessions.get(uid);
    if (session === undefined) throw new InvalidUidError(`entry not found for uid ${redactUid(uid)}`);
    if (principal !== undefined && session.owner !== principal.subject) {
      throw new ForbiddenError("uid belongs to another principal");
    }
    return session;
  }

  private async handleReq(
    request: ReqMessage,
    principal: Principal,
    call: grpc.ServerUnaryCall<ReqMessage, RespMessage>,
  ): Promise<RespMessage> {
    validateUid(request.uid);
    const role = this.parseRole(request.role);
    const maxNumConn = this.options.maxNumConn ?? 64;
    if (!Number.isInteger(request.numConn) || request.numConn < 1 || request.numConn > maxNumConn) {
      throw new BadFormatError(`num_conn must be 1..${maxNumConn}`);
    }
    if (request.rate < 0) throw new BadFormatError("rate must not be negative");
    if (this.sessions.has(request.uid) || this.tombstones.has(request.uid)) {
      throw new DuplicateUidError(`Entry already found for uid ${redactUid(request.uid)}`);
    }
    if (this.sessions.size >= (this.options.maxSessions ?? 1000))
      throw new NoResourceError("session limit reached");
    const unit = this.options.rateUnitBytesPerSecond ?? 125_000;
    const data = await this.s2ds.openSession({
      uid: request.uid,
      direction: role === "PROD" ? "inbound" : "outbound",
      numConn: request.numConn,
      rateBytesPerSecond: unit > 0 ? request.rate * unit : 0,
    });
    if (this.sessions.has(request.uid) || this.closing) {
      // A concurrent req for the same uid won the race while ports were being bound.
      await data.close();
      throw new DuplicateUidError(`Entry already found for uid ${redactUid(request.uid)}`);
    }
    const session: Session = {
      uid: request.uid,
      role,
      numConn: request.numConn,
      rate: request.rate,
      owner: principal.subject,
      createdAt: new Date(),
      state: "PENDING_HELLO",
      data,
      prodListeners: [],
      helloWaiters: new Set(),
      timer: undefined,
    };
    this.sessions.set(session.uid, session);
    this.arm(session, this.options.sessionTtlMs ?? 600_000);
    this.logger.log("info", "session.created", {
      uid: redactUid(session.uid),
      role,
      numConn: session.numConn,
      owner: principal.subject,
    });
    const early = this.earlyHellos.get(session.uid);
    if (early !== undefined) for (const wake of early) wake();

    if (this.options.reqWaitsForHello !== false && session.state === "PENDING_HELLO") {
      await this.waitForHello(session, call);
    }
    return { listeners: [...data.listeners], prodListeners: [...session.prodListeners] };
  }

  private waitForHello(session: Session, call: grpc.ServerUnaryCall<ReqMessage, RespMessage>): Promise<void> {
    if (this.pendingReqs >= (this.options.maxSessions ?? 1000)) {
      return Promise.reject(new NoResourceError("too many requests waiting for hello"));
    }
    this.pendingReqs++;
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(
        () => done(new TimeoutError("no hello received for uid before the timeout")),
        this.options.helloTimeoutMs ?? 180_000,
      );
      const onCancel = () => done(new TimeoutError("request cancelled by the client"));
      const done = (error?: Error) => {
        clearTimeout(timeout);
        call.off("cancelled", onCancel);
        session.helloWaiters.delete(done);
        this.pendingReqs--;
        if (error === undefined) resolve();
        else reject(error);
      };
      call.on("cancelled", onCancel);
      session.helloWaiters.add(done);
    });
  }

  private arm(session: Session, ms: number): void {
    if (session.timer !== undefined) clearTimeout(session.timer);
    session.timer = undefined;
    if (ms <= 0) return;
    session.timer = setTimeout(() => {
      session.timer = undefined;
      void this.finish(session, "EXPIRED");
    }, ms);
    session.timer.unref();
  }

  private async handleHello(
    request: Hello,
    _principal: Principal,
    call: grpc.ServerUnaryCall<Hello, AppResponse>,
  ): Promise<AppResponse> {
    validateUid(request.uid, 1);
    const role = this.parseRole(request.role === "" ? "PROD" : request.role);
    const prodListeners = this.parseEndpoints(request.prodListeners, "prod_listeners");
    let session = this.sessions.get(request.uid);
    if (session === undefined && !this.tombstones.has(request.uid)) {
      session = await this.waitForReq(request.uid, call);
    }
    if (session === undefined) throw new InvalidUidError(`hello request invalid, entry not found for uid`);
    // The UID is the capability here: application controllers may hold another token than the S2UC.
    if (session.state === "PENDING_HELLO") session.state = "READY";
    if (role === "PROD") {
      session.prodListeners = prodListeners.map((t) => formatHostPort(t.host, t.port));
    }
    for (const wake of [...session.helloWaiters]) wake();
    this.logger.log("info", "session.hello", { uid: redactUid(session.uid), role });
    if (role === "PROD") return { message: "Sending Prod listeners...", listeners: [] };
    return { message: "Sending listeners...", listeners: [...session.data.listeners] };
  }

  /** A hello before its req: wait a short grace period for the req to arrive. */
  private waitForReq(
    uid: string,
    call: grpc.ServerUnaryCall<Hello, AppResponse>,
  ): Promise<Session | undefined> {
    const grace = this.options.earlyHelloGraceMs ?? 10_000;
    if (grace <= 0 || this.earlyHellos.size >= 1000) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let waiters = this.earlyHellos.get(uid);
      if (waiters === undefined) {
        waiters = new Set();
        this.earlyHellos.set(uid, waiters);
      }
      const set = waiters;
      const done = () => {
        clearTimeout(timer);
        call.off("cancelled", done);
        set.delete(done);
        if (set.size === 0) this.earlyHellos.delete(uid);
        resolve(this.sessions.get(uid));
      };
      const timer = setTimeout(done, grace);
      call.on("cancelled", done);
      set.add(done);
    });
  }

  private async handleUpdate(request: UpdateTargets, principal: Principal): Promise<RespMessage> {
    const session = this.lookup(request.uid, principal);
    const targets = this.parseEndpoints(request.remoteListeners, "remote_listeners");
    if (targets.length === 0) throw new BadFormatError("remote_listeners is empty");
    const expanded = await session.data.setTargets(targets);
    if (session.state === "RELEASED" || session.state === "EXPIRED") {
      throw new InvalidUidError("session was released during update");
    }
    session.state = "ACTIVE";
    this.arm(session, this.options.maxSessionLifetimeMs ?? 0);
    this.logger.log("info", "session.active", { uid: redactUid(session.uid), targets: expanded.length });
    return {
      listeners: [...session.data.listeners],
      prodListeners: expanded.map((t) => formatHostPort(t.host, t.port)),
    };
  }

  private async handleRelease(request: Release, principal: Principal): Promise<RespMessage> {
    validateUid(request.uid, 1);
    const tomb = this.tombstones.get(request.uid);
    if (tomb !== undefined && !this.sessions.has(request.uid)) {
      if (tomb.owner !== principal.subject) throw new ForbiddenError("uid belongs to another principal");
      return { listeners: [], prodListeners: [] }; // idempotent
    }
    const session = this.lookup(request.uid, principal);
    await this.finish(session, "RELEASED");
    return { listeners: [], prodListeners: [] };
  }

  /** Moves a session to RELEASED or EXPIRED and frees its channels and ports. */
  private async finish(session: Session, state: "RELEASED" | "EXPIRED"): Promise<void> {
    if (this.sessions.get(session.uid) !== session) return;
    this.sessions.delete(session.uid);
    session.state = state;
    if (session.timer !== undefined) clearTimeout(session.timer);
    session.timer = undefined;
    this.tombstones.set(session.uid, { owner: session.owner, state });
    if (this.tombstones.size > 10_000) this.tombstones.delete(this.tombstones.keys().next().value as string);
    const error = new InvalidUidError(`session ${state === "EXPIRED" ? "expired" : "released"}`);
    for (const wake of [...session.helloWaiters]) wake(error);
    await session.data.close();
    this.metrics.inc("scistream_sessions_finished_total", "Sessions ended", { state });
    this.logger.log("info", state === "EXPIRED" ? "session.expired" : "session.released", {
      uid: redactUid(session.uid),
    });
  }

  /** A snapshot of the live sessions (UIDs in full: this is the operator's view). */
  listSessions(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      uid: s.uid,
      role: s.role,
      state: s.state,
      owner: s.owner,
      numConn: s.numConn,
      rate: s.rate,
      listeners: [...s.data.listeners],
      prodListeners: [...s.prodListeners],
      createdAt: s.createdAt,
    }));
  }

  /** State of a UID, including finished ones still remembered. */
  sessionState(uid: string): SessionState | undefined {
    return this.sessions.get(uid)?.state ?? this.tombstones.get(uid)?.state;
  }

  /** Per-channel bytes and throughput of one session. */
  async sessionStats(uid: string) {
    const s = this.sessions.get(uid);
    return s === undefined ? [] : s.data.stats();
  }

  /** Prometheus text exposition. */
  renderMetrics(): Promise<string> {
    return this.metrics.render();
  }

  /** Stops the gRPC server, releases every session and closes the S2DS. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const waiters of this.earlyHellos.values()) for (const wake of [...waiters]) wake();
    await Promise.all([...this.sessions.values()].map((s) => this.finish(s, "RELEASED")));
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    if (this.ownsS2ds) await this.s2ds.close();
  }
}

function peerHost(peer: string): string {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(peer);
  if (v6 !== null) return v6[1]!;
  const i = peer.lastIndexOf(":");
  return i > 0 ? peer.slice(0, i) : peer;
}
