/**
 * Connection (-06 §6–§12): establishment, the send queue (priority, lifetime, final, batching),
 * Receive(minIncompleteLength, maxLength) with one event per call and back-pressure, Close,
 * Abort, properties, Clone. Events are delivered in order; nothing follows Closed,
 * InitiateError or ConnectionError.
 */
import { MessageBytes } from "./byte-queue.js";
import { Deque } from "./deque.js";
import { microtask, TapsEmitter } from "./emitter.js";
import { type EndpointSnapshot, interfaceAddresses, LocalEndpoint, RemoteEndpoint } from "./endpoint.js";
import {
  CloneError,
  ConnectionError,
  ExpiredError,
  InitiateError,
  PropertyError,
  ReceiveError,
  SendError,
  StateError,
  TapsError,
} from "./errors.js";
import { type Framer, FramerStack, instantiateFramer } from "./framer.js";
import { MessageContext } from "./message-context.js";
import { canonicalName, lookupProperty, type TransportProperties, VENDOR_PREFIX } from "./properties.js";
import { type RaceTimelineEntry, race } from "./racer.js";
import type { Resolver } from "./resolver.js";
import type { SecurityParameters } from "./security.js";
import { effectiveSelection, STACK_LABEL, type StackName } from "./selection.js";
import { attempt, type Candidate, type SecurityNotice, type Transport } from "./transport.js";

export type ConnectionState = "Establishing" | "Established" | "Closing" | "Closed";

export interface ReceivedMessage {
  readonly data: Uint8Array;
  readonly context: MessageContext;
  /** False for a ReceivedPartial that does not end the Message. */
  readonly endOfMessage: boolean;
  /** True when delivered as ReceivedPartial. */
  readonly partial: boolean;
}

export interface ConnectionEvents {
  ready: [];
  initiateError: [error: InitiateError];
  connectionError: [error: ConnectionError];
  closed: [];
  sent: [context: MessageContext];
  expired: [context: MessageContext, error: ExpiredError];
  sendError: [context: MessageContext, error: SendError];
  received: [data: Uint8Array, context: MessageContext];
  receivedPartial: [data: Uint8Array, context: MessageContext, endOfMessage: boolean];
  receiveError: [error: ReceiveError, context: MessageContext | undefined];
  softError: [error: Error];
  excessiveRetransmission: [];
  cloneError: [error: CloneError];
  /** Vendor event: one entry of the racing timeline while establishing. */
  establishing: [entry: RaceTimelineEntry];
  /** Vendor event: a security relaxation happened (e.g. the trust callback accepted an unverified peer). */
  securityNotice: [notice: SecurityNotice];
}

/** RFC 9622 names accepted by on/once/off. */
export const CONNECTION_EVENT_ALIASES: Readonly<Record<string, string>> = {
  establishmentError: "initiateError",
  Ready: "ready",
  InitiateError: "initiateError",
  ConnectionError: "connectionError",
  Closed: "closed",
  Sent: "sent",
  Expired: "expired",
  SendError: "sendError",
  Received: "received",
  ReceivedPartial: "receivedPartial",
  ReceiveError: "receiveError",
  SoftError: "softError",
  CloneError: "cloneError",
};

export interface EstablishmentOptions {
  readonly resolver: Resolver;
  readonly attemptDelay: number;
  readonly resolutionDelay: number;
  /** Bytes buffered ahead of Receive calls before reading pauses (back-pressure). */
  readonly receiveBufferLimit: number;
  /** How long Close waits for the peer to finish before tearing down. */
  readonly closeTimeout: number;
  /** Injectable connect attempt (tests); default: a real socket. */
  readonly attempt?:
    | ((
        candidate: Candidate,
        signal: AbortSignal,
        next: (c: Candidate, s: AbortSignal) => Promise<Transport>,
      ) => Promise<Transport>)
    | undefined;
}

/** Everything a Connection needs, frozen at Initiate/Listen time (-06 §6.1). */
export interface ConnectionConfig {
  readonly locals: readonly EndpointSnapshot[];
  readonly remotes: readonly EndpointSnapshot[];
  readonly properties: TransportProperties;
  readonly security: SecurityParameters | null;
  readonly framers: readonly Framer[];
  readonly stacks: readonly StackName[];
  readonly options: EstablishmentOptions;
}

/**
 * One queued Send. A class with a reject() method rather than per-Send closures: there is one of
 * these per Message, so the small-Message path allocates less.
 */
class SendEntry {
  constructor(
    readonly data: Uint8Array,
    readonly context: MessageContext,
    readonly endOfMessage: boolean,
    readonly seq: number,
    readonly priority: number,
    readonly final: boolean,
    readonly deadline: number,
    /** Settles the Send's promise with its context (called through postCall, no `this` needed). */
    readonly resolve: (ctx: MessageContext) => void,
    readonly rejectRaw: (error: TapsError) => void,
    readonly promise: Promise<MessageContext>,
    /** Initiate failed: only InitiateError is reported (-06 §7.8). */
    readonly silentOnInitiateFailure: boolean,
  ) {}

  reject(error: TapsError): void {
    this.promise.catch(noop); // a rejection nobody awaits must not crash the process
    this.rejectRaw(error);
  }
}

/** A Message being received: its bytes and its state in one object (one allocation per Message). */
class InboundMessage extends MessageBytes {
  complete = false;
  constructor(
    readonly context: MessageContext,
    public deliveredAny = false,
  ) {
    super();
  }
  get bytes(): MessageBytes {
    return this;
  }
}

interface ReceiveRequest {
  readonly min: number;
  readonly max: number;
  /** Called unbound (through postCall), so it must not rely on `this`. */
  readonly resolve: (m: ReceivedMessage) => void;
  reject(e: ReceiveError): void;
}

/** The request behind receive(): settles its promise. */
class PromiseReceive implements ReceiveRequest {
  readonly promise: Promise<ReceivedMessage>;
  resolve!: (m: ReceivedMessage) => void;
  #reject!: (e: ReceiveError) => void;

  constructor(
    readonly min: number,
    readonly max: number,
  ) {
    this.promise = new Promise<ReceivedMessage>(capture);
    this.resolve = captured.resolve as (m: ReceivedMessage) => void;
    this.#reject = captured.reject as (e: ReceiveError) => void;
    release();
  }

  reject(e: ReceiveError): void {
    this.promise.catch(noop); // a rejection nobody awaits must not crash the process
    this.#reject(e);
  }
}

const AsyncGeneratorPrototype: object = Object.getPrototypeOf(async function* () {}.prototype);

/** MessageStream states (plain numbers: a const enum does not survive isolated transpilation). */
const StreamState = { Start: 0, Yielded: 1, Busy: 2, Done: 3 } as const;
type StreamState = (typeof StreamState)[keyof typeof StreamState];

type StreamResult = IteratorResult<ReceivedMessage, unknown>;

interface StreamStep {
  readonly kind: "next" | "return" | "throw";
  readonly value: unknown;
  readonly resolve: (r: StreamResult) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * What messages() returns. It behaves like the async generator
 *
 *   for (;;) {
 *     if (finalDelivered || closed) return;
 *     try { yield this.receive(options); }
 *     catch (e) { if (e is a ReceiveError "final" or "closed") return; throw e; }
 *   }
 *
 * (one Receive per step, the same events in the same order, next/return/throw queued while a step
 * is in progress), but it is itself the Receive request: the Received event's task settles the
 * step's promise directly. A generator needs a receive() promise, an await and its own resumption
 * on top, i.e. several more promises and microtask hops for every Message.
 */
class MessageStream implements ReceiveRequest {
  min = 0;
  max = 0;
  readonly resolve: (m: ReceivedMessage) => void;
  #state: StreamState = StreamState.Start;
  #stepResolve: ((r: StreamResult) => void) | undefined;
  #stepReject: ((e: unknown) => void) | undefined;
  /** Requests made while a step is in progress, served in order (as an async generator does). */
  #waiting: StreamStep[] = [];

  constructor(
    private readonly options: { minIncompleteLength?: number; maxLength?: number },
    private readonly ended: () => boolean,
    private readonly start: (req: ReceiveRequest) => void,
  ) {
    this.resolve = (m) => this.#settle({ value: m, done: false }, undefined, StreamState.Yielded);
  }

  reject(e: ReceiveError): void {
    if (e instanceof ReceiveError && (e.reason === "final" || e.reason === "closed"))
      this.#settle({ value: undefined, done: true }, undefined, StreamState.Done);
    else this.#settle(undefined, e, StreamState.Done);
  }

  next(): Promise<StreamResult> {
    if (this.#state === StreamState.Done && this.#waiting.length === 0)
      return Promise.resolve({ value: undefined, done: true });
    const promise = new Promise<StreamResult>(capture);
    const resolve = captured.resolve as (r: StreamResult) => void;
    const reject = captured.reject as (e: unknown) => void;
    release();
    if (this.#state === StreamState.Busy)
      this.#waiting.push({ kind: "next", value: undefined, resolve, reject });
    else this.#run("next", undefined, resolve, reject);
    return promise;
  }

  return(value?: unknown): Promise<StreamResult> {
    return new Promise<StreamResult>((resolve, reject) => {
      if (this.#state === StreamState.Busy) this.#waiting.push({ kind: "return", value, resolve, reject });
      else this.#run("return", value, resolve, reject);
    });
  }

  throw(error?: unknown): Promise<StreamResult> {
    return new Promise<StreamResult>((resolve, reject) => {
      if (this.#state === StreamState.Busy)
        this.#waiting.push({ kind: "throw", value: error, resolve, reject });
      else this.#run("throw", error, resolve, reject);
    });
  }

  /** Runs one request while no step is in progress. */
  #run(
    kind: StreamStep["kind"],
    value: unknown,
    resolve: (r: StreamResult) => void,
    reject: (e: unknown) => void,
  ): void {
    const state = this.#state;
    if (kind === "return") {
      // A generator awaits the value given to return() (later requests wait), then completes.
      this.#state = StreamState.Busy;
      Promise.resolve(value).then(
        (v) => {
          this.#state = StreamState.Done;
          resolve({ value: v, done: true });
          this.#drain();
        },
        (error: unknown) => {
          this.#state = StreamState.Done;
          reject(error);
          this.#drain();
        },
      );
      return;
    }
    if (kind === "throw") {
      this.#state = StreamState.Done;
      // Thrown at the `yield`, the generator's catch ends quietly on final/closed ReceiveErrors.
      if (
        state === StreamState.Yielded &&
        value instanceof ReceiveError &&
        (value.reason === "final" || value.reason === "closed")
      )
        resolve({ value: undefined, done: true });
      else reject(value);
      return;
    }
    if (state === StreamState.Done || this.ended()) {
      this.#state = StreamState.Done;
      resolve({ value: undefined, done: true });
      return;
    }
    try {
      // Read the options at each step, as the generator passed the same object to every receive().
      this.min = this.options.minIncompleteLength ?? Number.POSITIVE_INFINITY;
      this.max = this.options.maxLength ?? Number.POSITIVE_INFINITY;
    } catch (error) {
      this.#state = StreamState.Done;
      reject(error);
      return;
    }
    this.#state = StreamState.Busy;
    this.#stepResolve = resolve;
    this.#stepReject = reject;
    this.start(this);
  }

  #settle(result: StreamResult | undefined, error: unknown, state: StreamState): void {
    const resolve = this.#stepResolve;
    const reject = this.#stepReject;
    if (!resolve || !reject) return; // not waiting for a Receive (cannot happen: one request at a time)
    this.#stepResolve = undefined;
    this.#stepReject = undefined;
    this.#state = state;
    if (result) resolve(result);
    else reject(error);
    this.#drain();
  }

  #drain(): void {
    while (this.#waiting.length > 0 && this.#state !== StreamState.Busy) {
      const step = this.#waiting.shift()!;
      this.#run(step.kind, step.value, step.resolve, step.reject);
    }
  }
}
Object.setPrototypeOf(MessageStream.prototype, AsyncGeneratorPrototype);

/** Connection properties shared by a Connection Group (all but conn-prio are entangled, -06 §6.4). */
class Group {
  readonly members = new Set<Connection>();
  readonly shared = new Map<string, unknown>();
}

let sequence = 0;
const noop = () => {};

/**
 * One shared promise executor: `new Promise(capture)` then read `captured`. The executor runs
 * synchronously inside the constructor, so the values belong to the promise just made; this saves
 * a closure (and its context) for each of the per-Message Send and Receive promises.
 */
const captured: { resolve: unknown; reject: unknown } = { resolve: undefined, reject: undefined };
function capture(resolve: unknown, reject: unknown): void {
  captured.resolve = resolve;
  captured.reject = reject;
}
/** Forget the last promise's settle functions (they would keep it and its reactions alive). */
function release(): void {
  captured.resolve = undefined;
  captured.reject = undefined;
}
function pendingTotal(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

export class Connection extends TapsEmitter<ConnectionEvents> {
  readonly #config: ConnectionConfig;
  readonly #properties: TransportProperties;
  #group: Group;
  #state: ConnectionState = "Establishing";
  #transport: Transport | undefined;
  #candidate: Candidate | undefined;
  #timeline: RaceTimelineEntry[] = [];
  #framers: FramerStack | undefined;
  readonly #abort = new AbortController();
  #timeoutTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;

  // send side
  #sendQueue = new Deque<SendEntry>();
  #ordered = true; // no entry has a non-default priority or final
  #congested = false;
  #framingBusy = false;
  #batchDepth = 0;
  #pumpScheduled = false;
  #collect: Uint8Array[] | undefined;
  #messageInProgress: MessageContext | undefined;
  #finalSent = false;
  #udpPartial = new Map<MessageContext, Uint8Array[]>();
  #inFlight = 0;
  /** Stream writes whose callback has not fired yet (writes coalesce behind them). */
  #writesPending = 0;
  /** Bytes in the send queue (small amounts coalesce behind a pending write; large ones stream). */
  #queuedBytes = 0;

  // receive side
  #inbound = new Deque<InboundMessage>();
  #buffered = 0;
  #receives: ReceiveRequest[] = [];
  #peerEnded = false;
  #paused = true;
  #finalDelivered = false;

  // close
  #closeRequested = false;
  #closedPromise: Promise<void> | undefined;
  #closedResolve: (() => void) | undefined;
  #readyPromise: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (e: InitiateError) => void;

  // Hot-path copies of properties (refreshed by #refreshCache).
  #defaultPriority = 100;
  #defaultLifetime = Number.POSITIVE_INFINITY;
  #direction = "Bidirectional";
  #perMsgReliability = "ignore";
  #defaultIdempotent = false;

  #refreshCache(): void {
    const p = this.#properties;
    this.#defaultPriority = p.get("msg-prio") as number;
    this.#defaultLifetime = p.get("msg-lifetime") as number;
    this.#direction = p.get("direction") as string;
    this.#perMsgReliability = p.get("per-msg-reliability") as string;
    this.#defaultIdempotent = p.get("idempotent") === true;
  }

  /** @internal Use Preconnection.initiate() / Listener. */
  constructor(config: ConnectionConfig, group?: Group) {
    super(CONNECTION_EVENT_ALIASES);
    this.#config = config;
    this.#properties = config.properties.clone();
    this.#refreshCache();
    this.#group = group ?? new Group();
    this.#group.members.add(this);
    this.#readyPromise = new Promise<void>((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.#readyPromise.catch(() => {});
  }

  // ------------------------------------------------------------------------------------------
  // Establishment

  /** Resolves on Ready; rejects with the InitiateError. Never an unhandled rejection. */
  get ready(): Promise<void> {
    return this.#readyPromise;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The protocol stack in use, e.g. "tcp", "tls/tcp", "udp", "unix" (undefined while establishing). */
  get protocolStack(): string | undefined {
    return this.#transport ? STACK_LABEL[this.#transport.stack] : undefined;
  }

  /**
   * Vendor: true when the TLS handshake resumed a cached session (the peer was verified when the
   * session was first established; see SecurityParameters' session cache), false for a full
   * handshake, undefined without TLS or while establishing.
   */
  get tlsResumed(): boolean | undefined {
    return this.#transport?.tls?.resumed;
  }

  /** The racing timeline of the establishment (empty for accepted connections). */
  get timeline(): readonly RaceTimelineEntry[] {
    return this.#timeline;
  }

  #remoteCache: RemoteEndpoint | undefined;
  #localCache: LocalEndpoint | undefined;

  get remoteEndpoint(): RemoteEndpoint | undefined {
    this.#remoteCache ??= this.#computeRemote();
    return this.#remoteCache;
  }

  #computeRemote(): RemoteEndpoint | undefined {
    const t = this.#transport;
    if (!t) return undefined;
    if (t.stack === "uds") return new RemoteEndpoint().withPath(this.#candidate?.address ?? "unix");
    return RemoteEndpoint.fromAddress(t.remoteAddress, t.remotePort);
  }

  get localEndpoint(): LocalEndpoint | undefined {
    this.#localCache ??= this.#computeLocal();
    return this.#localCache;
  }

  #computeLocal(): LocalEndpoint | undefined {
    const t = this.#transport;
    if (!t || t.stack === "uds") return undefined;
    return LocalEndpoint.fromAddress(t.localAddress, t.localPort);
  }

  /** @internal Active open. */
  initiate(timeout: number | undefined): void {
    if (timeout !== undefined && timeout >= 0 && Number.isFinite(timeout)) {
      this.#timeoutTimer = setTimeout(() => {
        this.#abort.abort(
          new InitiateError(`establishment timed out after ${timeout} ms`, { reason: "timeout" }),
        );
      }, timeout);
    }
    const { options, remotes, locals, security } = this.#config;
    const stack = this.#config.stacks[0]!;
    const local = locals[0];
    const bindAddresses = local
      ? [
          ...local.ipv4.map((a) => ({ family: 4, address: a })),
          ...local.ipv6.map((a) => ({ family: 6, address: a })),
          ...interfaceAddresses(local.interfaces),
        ]
      : [];
    const base = (c: Candidate, s: AbortSignal) =>
      attempt(c, { security, notice: (n) => this.post("securityNotice", [n]) }, s);
    race({
      stack,
      remotes,
      resolver: options.resolver,
      attemptDelay: Math.max(10, options.attemptDelay),
      resolutionDelay: options.resolutionDelay,
      localAddressFor: (family) => bindAddresses.find((b) => b.family === family)?.address,
      localPort: local?.port,
      attempt: options.attempt ? (c, s) => options.attempt!(c, s, base) : base,
      signal: this.#abort.signal,
      onTimeline: (entry) => {
        this.#timeline.push(entry);
        this.post("establishing", [entry]);
      },
    }).then(
      (result) => {
        clearTimeout(this.#timeoutTimer);
        if (this.#state !== "Establishing") {
          result.transport.destroy();
          return;
        }
        this.#candidate = result.candidate;
        this.#adopt(result.transport, "initiate");
      },
      (error: unknown) => {
        clearTimeout(this.#timeoutTimer);
        this.#failEstablishment(
          error instanceof InitiateError
            ? error
            : new InitiateError((error as Error)?.message ?? String(error), {
                reason: "unreachable",
                cause: error,
              }),
        );
      },
    );
  }

  /** @internal Fails before any attempt (selection errors found at Initiate). */
  failNow(error: InitiateError): void {
    queueMicrotask(() => this.#failEstablishment(error));
  }

  #failEstablishment(error: InitiateError): void {
    if (this.#state === "Closed") return;
    this.#state = "Closed";
    this.#group.members.delete(this);
    this.#readyReject(error);
    // Sends queued before Ready get no SendError of their own (-06 §7.8).
    for (const e of this.#sendQueue.drain()) e.reject(error as unknown as TapsError);
    this.#queuedBytes = 0;
    for (const r of this.#receives)
      r.reject(new ReceiveError("the connection was never established", { reason: "closed", cause: error }));
    this.#receives = [];
    this.post("initiateError", [error], true);
    this.#resolveClosed();
  }

  /**
   * @internal Takes over a connected transport. `mode` "initiate" emits Ready; "passive" is for
   * Listener/Rendezvous connections (their event is on the Listener/Preconnection).
   */
  adopt(transport: Transport, mode: "initiate" | "passive", onEstablished?: () => void): void {
    this.#adopt(transport, mode, onEstablished);
  }

  #adopt(transport: Transport, mode: "initiate" | "passive", onEstablished?: () => void): void {
    this.#transport = transport;
    this.#applyConnectionProperties();
    const framers = this.#config.framers;
    const finish = () => {
      if (this.#state !== "Establishing") return;
      this.#state = "Established";
      if (mode === "initiate") this.post("ready", []);
      this.#readyResolve();
      onEstablished?.();
      this.#flow();
      this.#schedulePump();
      this.#serveReceives();
    };
    transport.attach({
      data: (chunk, from) => this.#onData(chunk, from),
      end: () => this.#onPeerEnd(),
      close: (error) => this.#onTransportClose(error),
      drain: () => {
        this.#congested = false;
        this.#pumpSend();
      },
      softError: (error) => {
        if (this.#properties.get("soft-error-notify") !== "ignore" || transport.datagram)
          this.post("softError", [error]);
      },
    });
    if (framers.length > 0) {
      this.#framers = new FramerStack(framers.map(instantiateFramer), {
        writeToTransport: (data) => {
          if (this.#collect) this.#collect.push(data);
          else this.#transport?.write([data], () => {});
        },
        deliverToApplication: (ctx, data, eom) => this.#deliver(ctx, data, eom),
        framersReady: () => finish(),
        framerClosed: () => void this.close(),
        framerFailed: (error) => this.#framerFailed(error),
      });
      // Read while the framers handshake.
      transport.resume();
      this.#paused = false;
      this.#framers.start();
    } else finish();
  }

  #framerFailed(error: Error): void {
    if (this.#state === "Establishing") {
      this.#transport?.destroy();
      this.#failEstablishment(
        new InitiateError(`framer failed: ${error.message}`, { reason: "framing", cause: error }),
      );
      return;
    }
    const reason = error instanceof TapsError && error.reason ? error.reason : "framing";
    this.#terminate(new ConnectionError(`framing failed: ${error.message}`, { reason, cause: error }), true);
  }

  #applyConnectionProperties(): void {
    const t = this.#transport;
    if (!t) return;
    const profile = this.#get("conn-capacity-profile");
    if (profile === "Low Latency/Interactive" || profile === "Low Latency/Non-Interactive")
      t.setNoDelay(true);
    const keepAlive = this.#get("keep-alive-timeout") as number;
    if (
      this.#properties.get("keep-alive") === "require" ||
      this.#properties.get("keep-alive") === "prefer" ||
      keepAlive > 0
    )
      t.setKeepAlive(true, Math.max(keepAlive, 0));
  }

  // ------------------------------------------------------------------------------------------
  // Sending

  /**
   * Send (-06 §7). Resolves with the MessageContext on Sent; rejects with SendError or
   * ExpiredError. The matching event fires as well. Never an unhandled rejection.
   */
  send(data: Uint8Array | string, context?: MessageContext, endOfMessage = true): Promise<MessageContext> {
    return this.#send(data, context, endOfMessage, false);
  }

  /** @internal InitiateWithSend: a failure to establish is reported only as InitiateError. */
  sendFirst(data: Uint8Array | string, context?: MessageContext): Promise<MessageContext> {
    return this.#send(data, context, true, true);
  }

  #send(
    data: Uint8Array | string,
    context: MessageContext | undefined,
    endOfMessage: boolean,
    silent: boolean,
  ) {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const ctx = context ?? new MessageContext();
    ctx.freeze();
    const promise = new Promise<MessageContext>(capture);
    const resolve = captured.resolve as (c: MessageContext) => void;
    const rejectRaw = captured.reject as (e: TapsError) => void;
    release();
    if (!(bytes instanceof Uint8Array)) {
      this.#sendFailed(
        ctx,
        promise,
        rejectRaw,
        new SendError("messageData must be a Uint8Array or string", { reason: "invalid" }),
      );
      return promise;
    }
    const refusal = this.#checkSendable(ctx);
    if (refusal) {
      this.#sendFailed(ctx, promise, rejectRaw, refusal);
      return promise;
    }
    const plain = ctx.isEmpty;
    const priority = plain
      ? this.#defaultPriority
      : ((ctx.get("msg-prio") as number | undefined) ?? this.#defaultPriority);
    const final = plain ? false : ctx.get("final") === true;
    const lifetime = plain
      ? this.#defaultLifetime
      : ((ctx.get("msg-lifetime") as number | undefined) ?? this.#defaultLifetime);
    if (priority !== 100 || final) this.#ordered = false;
    const entry = new SendEntry(
      bytes,
      ctx,
      endOfMessage,
      sequence++,
      priority,
      final,
      Number.isFinite(lifetime) ? performance.now() + lifetime : Number.POSITIVE_INFINITY,
      resolve,
      rejectRaw,
      promise,
      silent,
    );
    this.#sendQueue.push(entry);
    this.#queuedBytes += bytes.length;
    if (Number.isFinite(lifetime)) {
      // Expire in place if the Message is still queued (e.g. the stack is congested) when its lifetime ends.
      setTimeout(() => {
        const at = this.#sendQueue.indexOf(entry);
        if (at < 0) return;
        this.#sendQueue.removeAt(at);
        this.#queuedBytes -= entry.data.length;
        const error = new ExpiredError("the Message's lifetime elapsed before it was sent", {
          reason: "timeout",
        });
        this.post("expired", [entry.context, error]);
        this.postTask(() => entry.reject(error));
      }, lifetime + 1).unref();
    }
    this.#schedulePump();
    return promise;
  }

  #checkSendable(ctx: MessageContext): SendError | undefined {
    if (this.#state === "Closed" || this.#state === "Closing" || this.#closeRequested)
      return new SendError("the connection is closing or closed", { reason: "closed" });
    if (this.#finalSent) return new SendError("a Message marked final was already sent", { reason: "final" });
    if (this.#direction === "Unidirectional receive")
      return new SendError("the connection is receive-only", { reason: "direction" });
    if (!ctx.isEmpty && ctx.get("msg-reliable") === false && this.#perMsgReliability === "ignore")
      return new SendError('msg-reliable=false needs "per-msg-reliability" (-06 §7.5.7)', {
        reason: "inconsistent-properties",
      });
    return undefined;
  }

  #sendFailed(
    ctx: MessageContext,
    promise: Promise<MessageContext>,
    reject: (e: TapsError) => void,
    error: SendError,
  ): void {
    this.post("sendError", [ctx, error]);
    this.postTask(() => {
      promise.catch(noop); // a rejection nobody awaits must not crash the process
      reject(error);
    });
  }

  /** -06 §7.7: Sends made inside `fn` are written together. */
  batch(fn: () => void | Promise<void>): Promise<void> {
    this.#batchDepth++;
    const done = () => {
      this.#batchDepth--;
      if (this.#batchDepth === 0) this.#schedulePump();
    };
    try {
      const r = fn();
      if (r instanceof Promise) return r.finally(done);
      done();
      return Promise.resolve();
    } catch (error) {
      done();
      return Promise.reject(error);
    }
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    microtask(() => {
      this.#pumpScheduled = false;
      try {
        this.#pumpSend();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    });
  }

  #nextEntry(): SendEntry | undefined {
    const q = this.#sendQueue;
    if (q.length === 0) return undefined;
    let index = 0;
    if (this.#messageInProgress) {
      index = q.findIndex((e) => e.context === this.#messageInProgress);
      if (index < 0) return undefined; // the rest of the message has not been handed over yet
    } else if (!this.#ordered) {
      // Lower msg-prio first (RFC 9622 direction, see README); final always last; FIFO within a level.
      let best = 0;
      for (let i = 1; i < q.length; i++) {
        const a = q.at(i)!;
        const b = q.at(best)!;
        const ka = a.final ? Number.POSITIVE_INFINITY : a.priority;
        const kb = b.final ? Number.POSITIVE_INFINITY : b.priority;
        if (ka < kb) best = i;
      }
      index = best;
    }
    const entry = q.removeAt(index);
    if (entry) this.#queuedBytes -= entry.data.length;
    if (q.length === 0) this.#ordered = true;
    return entry;
  }

  #pumpSend(): void {
    const t = this.#transport;
    if (!t || (this.#state !== "Established" && this.#state !== "Closing")) return;
    if (this.#batchDepth > 0 || this.#framingBusy) return;
    // While a stream write is still with the stack, later Messages wait and then leave together
    // (like Node's own writev batching); its callback pumps again.
    if (this.#writesPending > 0 && !t.datagram && this.#queuedBytes < 65536) return;
    let chunks: Uint8Array[] = [];
    let written: SendEntry[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (written.length === 0) return;
      const entries = written;
      written = [];
      const out = chunks;
      chunks = [];
      pendingBytes = 0;
      this.#inFlight += entries.length;
      if (out.length === 0) {
        // A framer buffered the piece (e.g. a partial Message): it is handed over, nothing to write yet.
        queueMicrotask(() => this.#onWritten(entries));
        return;
      }
      // Small framed Messages: one contiguous write is far cheaper than many small ones.
      const data = out.length > 1 && pendingTotal(out) <= 262144 ? [Buffer.concat(out)] : out;
      this.#writesPending++;
      const ok = t.write(data, (error) => {
        this.#writesPending--;
        this.#onWritten(entries, error);
        if (this.#writesPending === 0 && this.#sendQueue.length > 0) this.#pumpSend();
      });
      if (!ok) this.#congested = true;
    };
    while (!this.#congested) {
      const entry = this.#nextEntry();
      if (!entry) break;
      if (entry.deadline !== Number.POSITIVE_INFINITY && performance.now() > entry.deadline) {
        const error = new ExpiredError("the Message's lifetime elapsed before it was sent", {
          reason: "timeout",
        });
        this.post("expired", [entry.context, error]);
        this.postTask(() => entry.reject(error));
        continue;
      }
      let data = entry.data;
      if (t.datagram && !this.#framers) {
        const idempotent = entry.context.isEmpty ? undefined : entry.context.get("idempotent");
        if (idempotent === false || (!this.#defaultIdempotent && idempotent !== true)) {
          this.#entryFailed(
            entry,
            new SendError("UDP needs idempotent Messages (-06 §7.5.4)", {
              reason: "inconsistent-properties",
            }),
          );
          continue;
        }
        if (!entry.endOfMessage) {
          const pieces = this.#udpPartial.get(entry.context) ?? [];
          pieces.push(data);
          this.#udpPartial.set(entry.context, pieces);
          this.post1("sent", entry.context);
          this.postCall(entry.resolve, entry.context);
          continue;
        }
        const earlier = this.#udpPartial.get(entry.context);
        if (earlier) {
          this.#udpPartial.delete(entry.context);
          data = Buffer.concat([...earlier, data]);
        }
      }
      // A stream Message's pieces go straight into `chunks` (no array per Message); a datagram is
      // one write of its own, so it collects into `out`.
      let out: Uint8Array[] | undefined;
      const before = chunks.length;
      if (this.#framers) {
        this.#collect = t.datagram ? [] : chunks;
        let r: void | Promise<void>;
        try {
          r = this.#framers.frame(data, entry.context, entry.endOfMessage);
        } catch (error) {
          this.#collect = undefined;
          if (!t.datagram) chunks.length = before; // nothing of a refused Message is written
          this.#entryFailed(
            entry,
            new SendError((error as Error).message, {
              reason: (error as TapsError).reason ?? "framing",
              cause: error,
            }),
          );
          continue;
        }
        if (r instanceof Promise) {
          // Asynchronous framer: write what we have, wait for it, then continue. What the framer
          // produced so far (and may still add) is this Message's, written when it finishes.
          const collected = t.datagram ? this.#collect : chunks.splice(before);
          this.#collect = collected;
          this.#framingBusy = true;
          flush();
          r.then(
            () => {
              this.#collect = undefined;
              this.#framingBusy = false;
              this.#emitFramed(entry, collected);
              this.#pumpSend();
            },
            (error: unknown) => {
              this.#collect = undefined;
              this.#framingBusy = false;
              this.#entryFailed(
                entry,
                new SendError((error as Error).message, { reason: "framing", cause: error }),
              );
              this.#pumpSend();
            },
          );
          return;
        }
        if (t.datagram) out = this.#collect;
        this.#collect = undefined;
      } else if (t.datagram) out = [data];
      else chunks.push(data);
      if (t.datagram) {
        const dgram = out!;
        const size = dgram.reduce((n, c) => n + c.length, 0);
        if (size > t.maxMessageSize) {
          this.#entryFailed(
            entry,
            new SendError(`a ${size}-byte Message does not fit one datagram (max ${t.maxMessageSize})`, {
              reason: "message-too-large",
            }),
          );
          continue;
        }
        chunks = dgram;
        written = [entry];
        if (entry.final) this.#finalSent = true;
        flush();
        continue;
      }
      for (let i = before; i < chunks.length; i++) pendingBytes += chunks[i]!.length;
      written.push(entry);
      this.#messageInProgress = entry.endOfMessage ? undefined : entry.context;
      // Hand over at most ~64 KiB per write so congestion is noticed and later Messages stay reorderable.
      if (pendingBytes >= 65536) flush();
      if (entry.final && entry.endOfMessage) {
        this.#finalSent = true;
        flush();
        t.end();
        break;
      }
    }
    flush();
    this.#maybeFinishClose();
  }

  #emitFramed(entry: SendEntry, out: Uint8Array[]): void {
    const t = this.#transport;
    if (!t) return;
    this.#messageInProgress = entry.endOfMessage ? undefined : entry.context;
    this.#inFlight++;
    const ok = t.write(out.length > 0 ? out : [new Uint8Array(0)], (error) =>
      this.#onWritten([entry], error),
    );
    if (!ok) this.#congested = true;
    if (entry.final && entry.endOfMessage) {
      this.#finalSent = true;
      t.end();
    }
  }

  #onWritten(entries: SendEntry[], error?: Error | null): void {
    this.#inFlight -= entries.length;
    for (const e of entries) {
      if (error) {
        const failure = new SendError(`the protocol stack failed to send: ${error.message}`, {
          reason: (error as { code?: string }).code === "EMSGSIZE" ? "message-too-large" : "stack",
          cause: error,
        });
        this.post("sendError", [e.context, failure]);
        this.postTask(() => e.reject(failure));
      } else {
        this.post1("sent", e.context);
        this.postCall(e.resolve, e.context);
      }
    }
    this.#maybeFinishClose();
  }

  #entryFailed(entry: SendEntry, error: SendError): void {
    this.post("sendError", [entry.context, error]);
    this.postTask(() => entry.reject(error));
  }

  // ------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Receive (-06 §8.1): one call, one event (Received, ReceivedPartial or ReceiveError).
   * Defaults: minIncompleteLength and maxLength infinite.
   */
  receive(options: { minIncompleteLength?: number; maxLength?: number } = {}): Promise<ReceivedMessage> {
    const req = new PromiseReceive(
      options.minIncompleteLength ?? Number.POSITIVE_INFINITY,
      options.maxLength ?? Number.POSITIVE_INFINITY,
    );
    this.#receive(req);
    return req.promise;
  }

  /** One Receive call, settled through `req` (always asynchronously, in event order). */
  #receive(req: ReceiveRequest): void {
    const { min, max } = req;
    if (!(max >= 1) || !(min >= 0)) {
      const error = new ReceiveError("maxLength must be at least 1 and minIncompleteLength non-negative", {
        reason: "invalid",
      });
      this.post("receiveError", [error, undefined]);
      this.postTask(() => req.reject(error));
      return;
    }
    const direction = this.#direction;
    let refusal: ReceiveError | undefined;
    if (direction === "Unidirectional send")
      refusal = new ReceiveError("the connection is send-only", { reason: "direction" });
    else if (this.#state === "Closed" || this.#closeRequested)
      refusal = new ReceiveError("the connection is closing or closed", { reason: "closed" });
    else if (this.#finalDelivered)
      refusal = new ReceiveError("the final Message was already received", { reason: "final" });
    if (refusal) {
      const error = refusal;
      this.post("receiveError", [error, undefined]);
      this.postTask(() => req.reject(error));
      return;
    }
    this.#receives.push(req);
    if (this.#state === "Established" || this.#state === "Closing") {
      this.#serveReceives();
      this.#flow();
    }
  }

  /** Async iteration: each step is one Receive; ends when the peer finished or the connection closed. */
  messages(
    options: { minIncompleteLength?: number; maxLength?: number } = {},
  ): AsyncGenerator<ReceivedMessage> {
    return new MessageStream(
      options,
      () => this.#finalDelivered || this.#state === "Closed",
      (req) => this.#receive(req),
    ) as unknown as AsyncGenerator<ReceivedMessage>;
  }

  #onData(chunk: Buffer, from?: { address: string; port: number }): void {
    if (this.#closeRequested) return; // -06 §11: data after Close is not delivered
    const t = this.#transport!;
    if (this.#framers) {
      this.#framers.receive(chunk);
      return;
    }
    if (t.datagram) {
      const ctx = this.#newInboundContext(from);
      const msg = new InboundMessage(ctx);
      msg.push(chunk);
      msg.complete = true;
      this.#inbound.push(msg);
      this.#buffered += chunk.length;
      // UDP cannot push back: drop the oldest datagrams beyond the buffer limit.
      while (this.#buffered > this.#config.options.receiveBufferLimit && this.#inbound.length > 1) {
        const dropped = this.#inbound.shift()!;
        this.#buffered -= dropped.bytes.length;
      }
    } else {
      let msg = this.#inbound.last();
      if (!msg || msg.complete) {
        msg = new InboundMessage(this.#newInboundContext());
        this.#inbound.push(msg);
      }
      msg.bytes.push(chunk);
      this.#buffered += chunk.length;
    }
    this.#serveReceives();
    this.#flow();
  }

  #newInboundContext(from?: { address: string; port: number }): MessageContext {
    const ctx = new MessageContext();
    const t = this.#transport;
    ctx.remoteEndpoint =
      from && (from.address !== t?.remoteAddress || from.port !== t?.remotePort)
        ? RemoteEndpoint.fromAddress(from.address, from.port)
        : this.remoteEndpoint;
    ctx.localEndpoint = this.localEndpoint;
    ctx.replyTarget = this;
    return ctx;
  }

  /** From the framers: (part of) a Message. */
  #deliver(ctx: MessageContext, data: Uint8Array, eom: boolean): void {
    if (this.#closeRequested) return;
    ctx.remoteEndpoint ??= this.remoteEndpoint;
    ctx.localEndpoint ??= this.localEndpoint;
    ctx.replyTarget ??= this;
    let msg = this.#inbound.last();
    if (!msg || msg.complete || msg.context !== ctx) {
      msg = new InboundMessage(ctx);
      this.#inbound.push(msg);
    }
    msg.bytes.push(data);
    this.#buffered += data.length;
    if (eom) msg.complete = true;
    this.#serveReceives();
    this.#flow();
  }

  #onPeerEnd(): void {
    this.#peerEnded = true;
    if (this.#framers) {
      this.#framers.peerEnded();
      const last = this.#inbound.last();
      if (last?.complete) last.context.final = true;
    } else if (!this.#transport?.datagram) {
      let msg = this.#inbound.last();
      if (!msg || msg.complete) {
        // Stream with no pending bytes: the Message ends empty.
        msg = new InboundMessage(this.#newInboundContext(), this.#anyDelivered);
        this.#inbound.push(msg);
      }
      msg.complete = true;
      msg.context.final = true;
    }
    this.#serveReceives();
    this.#maybeFinishClose();
  }
  #anyDelivered = false;

  #serveReceives(): void {
    if (this.#state !== "Established" && this.#state !== "Closing") return;
    while (this.#receives.length > 0) {
      const msg = this.#inbound.at(0);
      if (!msg) break;
      const req = this.#receives[0]!;
      const length = msg.bytes.length;
      let take: number;
      let eom: boolean;
      if (msg.complete) {
        if (length <= req.max) {
          take = length;
          eom = true;
        } else {
          take = req.max;
          eom = false;
        }
      } else {
        // Raw byte streams deliver what they have; framed/datagram partials honour minIncompleteLength.
        const raw = !this.#framers && !this.#transport?.datagram;
        const threshold = raw ? (Number.isFinite(req.min) ? Math.max(1, req.min) : 1) : req.min;
        const memoryPressure = length >= this.#config.options.receiveBufferLimit;
        if (length === 0 || (length < threshold && !memoryPressure)) break;
        // A raw stream hands over what is contiguous (no copy); framed partials take what they need.
        const contiguous = msg.bytes.firstChunkLength;
        take = Math.min(raw && contiguous >= threshold ? contiguous : length, req.max);
        eom = false;
      }
      this.#receives.shift();
      const data = msg.bytes.shift(take);
      this.#buffered -= take;
      const partial = !eom || msg.deliveredAny;
      msg.deliveredAny = true;
      this.#anyDelivered = true;
      if (eom) this.#inbound.shift();
      const ctx = msg.context;
      if (eom && ctx.final) this.#finalDelivered = true;
      const result: ReceivedMessage = { data, context: ctx, endOfMessage: eom, partial };
      if (partial) this.post("receivedPartial", [data, ctx, eom]);
      else this.post2("received", data, ctx);
      this.postCall(req.resolve, result);
    }
    if (this.#peerEnded && this.#inbound.length === 0 && !this.#transport?.datagram) {
      this.#finalDelivered = true;
      const pending = this.#receives;
      this.#receives = [];
      for (const r of pending) {
        const error = new ReceiveError("the peer finished sending; no more Messages will arrive", {
          reason: "final",
        });
        this.post("receiveError", [error, undefined]);
        this.postTask(() => r.reject(error));
      }
    }
  }

  /** Back-pressure: read only while a Receive is pending or the buffer is below the limit. */
  #flow(): void {
    const t = this.#transport;
    if (!t || this.#state === "Closed") return;
    const wantMore =
      this.#closeRequested ||
      this.#receives.length > 0 ||
      this.#buffered < this.#config.options.receiveBufferLimit;
    if (wantMore && this.#paused) {
      this.#paused = false;
      t.resume();
    } else if (!wantMore && !this.#paused) {
      this.#paused = true;
      t.pause();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Termination

  /** Graceful close (-06 §11): queued Messages are sent, then FIN; Closed when the peer finishes too. */
  close(): Promise<void> {
    this.#closedPromise ??= new Promise<void>((resolve) => {
      this.#closedResolve = resolve;
    });
    if (this.#state === "Closed") {
      this.#resolveClosed();
      return this.#closedPromise;
    }
    if (this.#closeRequested) return this.#closedPromise;
    this.#closeRequested = true;
    if (this.#state === "Establishing") {
      this.#abort.abort(new InitiateError("closed before establishment", { reason: "closed" }));
      this.#state = "Closed";
      this.#readyReject(new InitiateError("closed before establishment", { reason: "closed" }));
      this.#failPending("closed");
      this.#group.members.delete(this);
      this.post("closed", [], true);
      this.postTask(() => this.#resolveClosed());
      return this.#closedPromise;
    }
    this.#state = "Closing";
    this.#failReceives("closed");
    this.#flow(); // keep reading (and discarding) until the peer finishes
    this.#closeTimer = setTimeout(() => {
      this.#transport?.destroy();
    }, this.#config.options.closeTimeout);
    this.#closeTimer.unref();
    this.#pumpSend();
    this.#maybeFinishClose();
    return this.#closedPromise;
  }

  #halfClosed = false;

  #maybeFinishClose(): void {
    if (!this.#closeRequested || this.#state !== "Closing") return;
    if (this.#sendQueue.length > 0 || this.#inFlight > 0 || this.#framingBusy) return;
    const t = this.#transport!;
    if (t.datagram) {
      t.destroy();
      return;
    }
    if (!this.#halfClosed) {
      this.#halfClosed = true;
      this.#framers?.stop();
      if (!this.#finalSent) t.end();
    }
  }

  /** Abort (-06 §11): reset, drop queued data. A local ConnectionError reports it (RFC 9622 §10). */
  abort(): void {
    if (this.#state === "Closed") return;
    if (this.#state === "Establishing") {
      this.#abort.abort(new InitiateError("aborted", { reason: "aborted" }));
      this.#failEstablishment(new InitiateError("aborted before establishment", { reason: "aborted" }));
      return;
    }
    this.#terminate(new ConnectionError("aborted locally", { reason: "aborted" }), true);
  }

  #failReceives(reason: "closed" | "aborted" | "reset" | "framing"): void {
    const pending = this.#receives;
    this.#receives = [];
    for (const r of pending) {
      const error = new ReceiveError(`receive cancelled: connection ${reason}`, { reason });
      this.post("receiveError", [error, undefined]);
      this.postTask(() => r.reject(error));
    }
  }

  #failPending(reason: "closed" | "aborted" | "reset" | "framing"): void {
    const sends = this.#sendQueue.drain();
    this.#queuedBytes = 0;
    for (const e of sends) this.#entryFailed(e, new SendError(`not sent: connection ${reason}`, { reason }));
    this.#failReceives(reason);
  }

  #terminate(error: ConnectionError, reset: boolean): void {
    if (this.#state === "Closed") return;
    this.#state = "Closed";
    clearTimeout(this.#closeTimer);
    this.#group.members.delete(this);
    this.#failPending(
      error.reason === "aborted" ? "aborted" : error.reason === "framing" ? "framing" : "reset",
    );
    if (reset) this.#transport?.reset();
    else this.#transport?.destroy();
    this.post("connectionError", [error], true);
    this.postTask(() => this.#resolveClosed());
  }

  #onTransportClose(error?: Error): void {
    clearTimeout(this.#closeTimer);
    if (this.#state === "Closed") return;
    if (error && !this.#closeRequested) {
      const code = (error as { code?: string }).code;
      this.#terminate(
        new ConnectionError(
          code === "ECONNRESET" ? "the peer aborted the connection" : `connection failed: ${error.message}`,
          {
            reason: code === "ECONNRESET" ? "reset" : "stack",
            cause: error,
          },
        ),
        false,
      );
      return;
    }
    if (this.#state === "Establishing") {
      this.#failEstablishment(
        new InitiateError("the transport closed during establishment", {
          reason: "unreachable",
          cause: error,
        }),
      );
      return;
    }
    // Remote or local close without error: deliver what is queued, then Closed.
    this.#state = "Closed";
    this.#group.members.delete(this);
    this.#framers?.stop();
    const sends = this.#sendQueue.drain();
    this.#queuedBytes = 0;
    for (const e of sends)
      this.#entryFailed(e, new SendError("not sent: connection closed", { reason: "closed" }));
    if (!this.#closeRequested) {
      this.#peerEnded = true;
      this.#state = "Closing"; // let queued complete Messages reach pending Receives
      this.#serveReceives();
      this.#state = "Closed";
    }
    this.#failReceives("closed");
    this.post("closed", [], true);
    this.postTask(() => this.#resolveClosed());
  }

  #resolveClosed(): void {
    this.#closedResolve?.();
  }

  // ------------------------------------------------------------------------------------------
  // Properties

  #get(name: string): unknown {
    const canonical = canonicalName(name);
    const r = lookupProperty(canonical);
    if (r?.kind === "connection" && canonical !== "conn-prio" && this.#group.shared.has(canonical))
      return this.#group.shared.get(canonical);
    return this.#properties.get(canonical);
  }

  /**
   * SetProperty (-06 §10). Read-only and selection properties throw a PropertyError at once;
   * protocol-specific properties of a protocol not in use are ignored.
   */
  setProperty(name: string, value: unknown): this {
    const canonical = canonicalName(name);
    if (canonical.startsWith(VENDOR_PREFIX))
      throw new PropertyError(`${canonical} is read-only`, { property: canonical });
    const r = lookupProperty(canonical)!;
    if (r.kind === "readonly") throw new PropertyError(`${r.name} is read-only`, { property: r.name });
    if (r.kind === "selection" && this.#state !== "Establishing")
      throw new PropertyError(`${r.name} is a selection property and cannot change after establishment`, {
        property: r.name,
      });
    if (
      canonical.startsWith("tcp.") &&
      this.#transport &&
      this.#transport.stack !== "tcp" &&
      this.#transport.stack !== "tls"
    )
      return this; // -06 §10: silently ignored on other stacks
    this.#properties.add(canonical, value);
    this.#refreshCache();
    if (r.kind === "connection" && canonical !== "conn-prio") {
      const v = this.#properties.get(canonical);
      this.#group.shared.set(canonical, v);
      for (const m of this.#group.members) if (m !== this) m.#properties.add(canonical, v);
      for (const m of this.#group.members) m.#applyConnectionProperties();
    } else this.#applyConnectionProperties();
    return this;
  }

  /** GetProperties (-06 §10); alias getTransportProperties (-06 §5.2). */
  getProperties(): ConnectionProperties {
    const values = new Map<string, unknown>();
    const t = this.#transport;
    const established = t !== undefined && this.#state !== "Establishing";
    for (const [k, v] of this.#properties.entries()) values.set(k, v);
    for (const [k, v] of this.#group.shared) if (k !== "conn-prio") values.set(k, v);
    if (established) {
      for (const [k, v] of Object.entries(
        effectiveSelection(t.stack, this.#config.framers.length > 0, this.#properties),
      ))
        values.set(k, v);
      values.set("send-msg-max-len", t.datagram ? t.maxMessageSize : -1);
      values.set("recv-msg-max-len", t.datagram ? t.maxMessageSize : -1);
      values.set("singular-transmission-msg-max-len", t.datagram ? t.maxMessageSize : -1);
      values.set(`${VENDOR_PREFIX}protocol-stack`, STACK_LABEL[t.stack]);
      values.set(`${VENDOR_PREFIX}local-address`, t.localAddress);
      values.set(`${VENDOR_PREFIX}local-port`, t.localPort);
      values.set(`${VENDOR_PREFIX}remote-address`, t.remoteAddress);
      values.set(`${VENDOR_PREFIX}remote-port`, t.remotePort);
      if (t.tls) {
        values.set(`${VENDOR_PREFIX}tls-protocol`, t.tls.protocol);
        values.set(`${VENDOR_PREFIX}alpn`, t.tls.alpnProtocol);
        values.set(`${VENDOR_PREFIX}peer-authorized`, t.tls.authorized);
        values.set(`${VENDOR_PREFIX}tls-resumed`, t.tls.resumed);
      }
    }
    values.set("zero-rtt-msg-max-len", 0);
    values.set("state", this.#state);
    const direction = this.#properties.get("direction");
    values.set(
      "can-send",
      this.#state === "Established" &&
        !this.#finalSent &&
        !this.#closeRequested &&
        direction !== "Unidirectional receive",
    );
    values.set(
      "can-receive",
      (this.#state === "Established" || this.#state === "Establishing") &&
        !this.#finalDelivered &&
        !this.#closeRequested &&
        direction !== "Unidirectional send",
    );
    return new ConnectionProperties(values, this.#properties);
  }
  getTransportProperties(): ConnectionProperties {
    return this.getProperties();
  }

  // ------------------------------------------------------------------------------------------
  // Connection Groups

  /**
   * Clone (-06 §6.4): a new Connection to the same remote, entangled with this one (shared
   * Connection properties except conn-prio). On Node this is a new transport connection.
   */
  clone(): Connection {
    const c = this.#candidate;
    if (this.#state !== "Established" || !c) {
      const error = new CloneError("only an established, initiated Connection can be cloned", {
        reason: "invalid",
      });
      this.post("cloneError", [error]);
      throw new StateError(error.message);
    }
    const remote = new RemoteEndpoint();
    if (c.stack === "uds") remote.withPath(c.address);
    else remote.withIPAddress(c.address).withPort(c.port);
    if (c.hostname) remote.withHostname(c.hostname);
    const config: ConnectionConfig = {
      ...this.#config,
      remotes: [remote.snapshot()],
      properties: this.#properties.clone(),
    };
    const clone = new Connection(config, this.#group);
    clone.initiate(undefined);
    clone.once("initiateError", (error) =>
      this.post("cloneError", [new CloneError(error.message, { cause: error })]),
    );
    return clone;
  }

  /** Connections entangled with this one (RFC 9622 GroupedConnections). */
  groupedConnections(): Connection[] {
    return [...this.#group.members];
  }
}

/** The answer of GetProperties: accepts -06 and RFC 9622 names. */
export class ConnectionProperties {
  constructor(
    private readonly values: ReadonlyMap<string, unknown>,
    private readonly fallback: TransportProperties,
  ) {}
  get(name: string): unknown {
    const canonical = canonicalName(name);
    if (this.values.has(canonical)) return this.values.get(canonical);
    return canonical.startsWith(VENDOR_PREFIX) ? undefined : this.fallback.get(canonical);
  }
  has(name: string): boolean {
    return this.values.has(canonicalName(name));
  }
  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.values);
  }
}
