/**
 * Preconnection (-06 §5, §6): the passive template. Initiate, InitiateWithSend, Listen and
 * Rendezvous copy it, so later changes do not affect what was created (-06 §6.1).
 */
import { createSocket } from "node:dgram";
import { Connection, type ConnectionConfig, type EstablishmentOptions } from "./connection.js";
import { TapsEmitter } from "./emitter.js";
import { type EndpointSnapshot, interfaceAddresses, LocalEndpoint, RemoteEndpoint } from "./endpoint.js";
import { InitiateError, ListenError, RendezvousError, type TapsError } from "./errors.js";
import type { Framer } from "./framer.js";
import { Listener } from "./listener.js";
import type { MessageContext } from "./message-context.js";
import { TransportProperties } from "./properties.js";
import { type Resolver, servicePort, systemResolver } from "./resolver.js";
import type { SecurityParameters } from "./security.js";
import { type SelectionResult, selectStacks } from "./selection.js";
import { type Candidate, DatagramTransport, type Transport } from "./transport.js";

export interface PreconnectionOptions {
  /** RFC 8305 Connection Attempt Delay, ms (default 250; at least 10). */
  readonly attemptDelay?: number;
  /** RFC 8305 Resolution Delay, ms (default 50). */
  readonly resolutionDelay?: number;
  /** Name resolver (default: getaddrinfo via dns.lookup). */
  readonly resolver?: Resolver;
  /** Bytes read ahead of Receive calls before reading pauses (default 256 KiB). */
  readonly receiveBufferLimit?: number;
  /** How long Close waits for the peer before tearing down, ms (default 10 000). */
  readonly closeTimeout?: number;
  /** How long Rendezvous tries, ms (default 30 000). */
  readonly rendezvousTimeout?: number;
  /**
   * Wraps each connect attempt (tests, instrumentation). `next` performs the real attempt.
   */
  readonly attempt?: (
    candidate: Candidate,
    signal: AbortSignal,
    next: (candidate: Candidate, signal: AbortSignal) => Promise<Transport>,
  ) => Promise<Transport>;
}

export interface PreconnectionInit {
  readonly local?: LocalEndpoint | readonly LocalEndpoint[];
  readonly remote?: RemoteEndpoint | readonly RemoteEndpoint[];
  readonly transportProperties?: TransportProperties;
  /** Omit (or null) for plaintext; give SecurityParameters for TLS. */
  readonly securityParameters?: SecurityParameters | null;
  readonly options?: PreconnectionOptions;
}

export interface InitiateOptions {
  /** Milliseconds before establishment gives up with InitiateError (reason "timeout"). */
  readonly timeout?: number;
}

export interface PreconnectionEvents {
  rendezvousDone: [connection: Connection];
  rendezvousError: [error: RendezvousError];
}

function list<T>(v: T | readonly T[] | undefined): T[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? [...(v as readonly T[])] : [v as T];
}

export class Preconnection extends TapsEmitter<PreconnectionEvents> {
  readonly locals: LocalEndpoint[];
  readonly remotes: RemoteEndpoint[];
  transportProperties: TransportProperties;
  securityParameters: SecurityParameters | null;
  readonly framers: Framer[] = [];
  readonly options: PreconnectionOptions;

  constructor(init: PreconnectionInit = {}) {
    super({
      establishmentError: "rendezvousError",
      RendezvousDone: "rendezvousDone",
      RendezvousError: "rendezvousError",
    });
    this.locals = list(init.local);
    this.remotes = list(init.remote);
    this.transportProperties = init.transportProperties ?? new TransportProperties();
    this.securityParameters = init.securityParameters ?? null;
    this.options = init.options ?? {};
  }

  /** -06 §9.1: the last framer added runs first on send and last on receive. */
  addFramer(framer: Framer): this {
    this.framers.push(framer);
    return this;
  }

  #establishment(): EstablishmentOptions {
    const o = this.options;
    return {
      resolver: o.resolver ?? systemResolver,
      attemptDelay: o.attemptDelay ?? 250,
      resolutionDelay: o.resolutionDelay ?? 50,
      receiveBufferLimit: o.receiveBufferLimit ?? 256 * 1024,
      closeTimeout: o.closeTimeout ?? 10_000,
      attempt: o.attempt,
    };
  }

  /** Protocol selection for this Preconnection (vendor: lets applications see the decision). */
  selectProtocolStacks(passive = false): SelectionResult {
    return selectStacks({
      properties: this.transportProperties,
      security: this.securityParameters,
      framed: this.framers.length > 0,
      remotes: this.remotes.map((r) => r.snapshot()),
      locals: this.locals.map((l) => l.snapshot()),
      passive,
    });
  }

  #freeze(passive: boolean): ConnectionConfig | InitiateError {
    let selection: SelectionResult;
    try {
      selection = this.selectProtocolStacks(passive);
    } catch (error) {
      return error instanceof InitiateError
        ? error
        : new InitiateError((error as Error).message, { reason: "invalid", cause: error });
    }
    const properties = this.transportProperties.clone();
    // A multicast group on the Remote Endpoint means send-only (-06 §5.1).
    if (!passive && this.remotes.some((r) => r.isMulticast))
      properties.add("direction", "Unidirectional send");
    return {
      locals: this.locals.map((l) => l.snapshot()),
      remotes: this.remotes.map((r) => r.snapshot()),
      properties,
      security: this.securityParameters ? this.securityParameters.clone() : null,
      framers: [...this.framers],
      stacks: selection.stacks,
      options: this.#establishment(),
    };
  }

  /**
   * Initiate (-06 §6.1): returns the Connection at once; Ready or InitiateError follows.
   * Messages may be sent immediately; they wait for Ready.
   */
  initiate(options: InitiateOptions | number = {}): Connection {
    const timeout = typeof options === "number" ? options : options.timeout;
    const config = this.#freeze(false);
    if (config instanceof InitiateError) {
      const c = new Connection(this.#emptyConfig());
      c.failNow(config);
      return c;
    }
    const connection = new Connection(config);
    if (config.remotes.length === 0) {
      connection.failNow(
        new InitiateError("Initiate needs a Remote Endpoint (-06 §6.1)", { reason: "invalid" }),
      );
      return connection;
    }
    connection.initiate(timeout);
    return connection;
  }

  /** InitiateWithSend (-06 §7.8): Initiate plus a first Message; on failure only InitiateError fires. */
  initiateWithSend(
    messageData: Uint8Array | string,
    messageContext?: MessageContext,
    options: InitiateOptions | number = {},
  ): Connection {
    const connection = this.initiate(options);
    void connection.sendFirst(messageData, messageContext);
    return connection;
  }

  #emptyConfig(): ConnectionConfig {
    return {
      locals: [],
      remotes: [],
      properties: this.transportProperties.clone(),
      security: null,
      framers: [],
      stacks: ["tcp"],
      options: this.#establishment(),
    };
  }

  /** Listen (-06 §6.2): returns the Listener at once; ConnectionReceived or ListenError follow. */
  listen(): Listener {
    const config = this.#freeze(true);
    if (config instanceof InitiateError) {
      const l = new Listener(this.#emptyConfig());
      l.fail(
        new ListenError(config.message, {
          reason: config.reason ?? "selection",
          property: config.property,
          cause: config,
        }),
      );
      return l;
    }
    const listener = new Listener(config);
    void listener.start();
    return listener;
  }

  /**
   * Rendezvous (-06 §6.3). UDP: both sides probe with empty datagrams until one arrives from the
   * peer (empty datagrams are therefore consumed on rendezvous connections). TCP/TLS: Node cannot
   * do a simultaneous open, so the side with the smaller (address, port) connects and the other
   * listens; exactly one connection results. Resolves on RendezvousDone.
   */
  rendezvous(): Promise<Connection> {
    const promise = this.#rendezvous().then(
      (connection) => {
        this.post("rendezvousDone", [connection]);
        return new Promise<Connection>((resolve) => this.postTask(() => resolve(connection)));
      },
      (error: unknown) => {
        const e =
          error instanceof RendezvousError
            ? error
            : new RendezvousError((error as Error)?.message ?? String(error), {
                reason: (error as TapsError).reason ?? "unreachable",
                property: (error as TapsError).property,
                cause: error,
              });
        this.post("rendezvousError", [e]);
        return new Promise<Connection>((_resolve, reject) => this.postTask(() => reject(e)));
      },
    );
    promise.catch(() => {});
    return promise;
  }

  async #rendezvous(): Promise<Connection> {
    const config = this.#freeze(false);
    if (config instanceof InitiateError) throw config;
    if (config.locals.length === 0 || config.remotes.length === 0)
      throw new RendezvousError("Rendezvous needs a Local and a Remote Endpoint (-06 §6.3)", {
        reason: "invalid",
      });
    const resolver = config.options.resolver;
    const local = await concrete(config.locals[0]!, resolver, true);
    const remote = await concrete(config.remotes[0]!, resolver, false, local.family);
    const timeout = this.options.rendezvousTimeout ?? 30_000;
    const stack = config.stacks[0]!;
    if (stack === "udp") return this.#rendezvousUdp(config, local, remote, timeout);
    if (stack === "uds")
      throw new RendezvousError("Rendezvous over Unix sockets is not supported", { reason: "selection" });
    const localKey = `${local.address}:${String(local.port).padStart(5, "0")}`;
    const remoteKey = `${remote.address}:${String(remote.port).padStart(5, "0")}`;
    if (localKey === remoteKey)
      throw new RendezvousError("Local and Remote Endpoint are the same", { reason: "invalid" });
    if (localKey < remoteKey) {
      // Active side: connect, retrying while the peer is not listening yet.
      const delay = config.options.attemptDelay;
      const retrying: EstablishmentOptions = {
        ...config.options,
        attempt: async (c, signal, next) => {
          for (;;) {
            try {
              return await next({ ...c, localPort: undefined }, signal);
            } catch (error) {
              if ((error as { code?: string }).code !== "ECONNREFUSED" || signal.aborted) throw error;
              await new Promise((r) => setTimeout(r, delay));
              if (signal.aborted) throw error;
            }
          }
        },
      };
      const connection = new Connection({
        ...config,
        locals: [],
        remotes: [new RemoteEndpoint().withIPAddress(remote.address).withPort(remote.port).snapshot()],
        options: retrying,
      });
      connection.initiate(timeout);
      await connection.ready;
      return connection;
    }
    // Passive side: listen for exactly one connection from the peer's address.
    const listener = new Listener({
      ...config,
      locals: [new LocalEndpoint().withIPAddress(local.address).withPort(local.port).snapshot()],
      remotes: [new RemoteEndpoint().withIPAddress(remote.address).snapshot()],
    });
    listener.setNewConnectionLimit(1);
    void listener.start();
    return new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        void listener.stop();
        reject(
          new RendezvousError(`no connection from the peer within ${timeout} ms`, { reason: "timeout" }),
        );
      }, timeout);
      listener.once("connectionReceived", (connection) => {
        clearTimeout(timer);
        void listener.stop();
        resolve(connection);
      });
      listener.once("listenError", (error) => {
        clearTimeout(timer);
        reject(new RendezvousError(error.message, { reason: error.reason ?? "stack", cause: error }));
      });
    });
  }

  #rendezvousUdp(
    config: ConnectionConfig,
    local: Concrete,
    remote: Concrete,
    timeout: number,
  ): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: local.family === 6 ? "udp6" : "udp4" });
      let probe: NodeJS.Timeout | undefined;
      const timer = setTimeout(
        () =>
          finish(new RendezvousError(`no answer from the peer within ${timeout} ms`, { reason: "timeout" })),
        timeout,
      );
      const send = () => socket.send(new Uint8Array(0), () => {});
      const onMessage = (msg: Buffer, rinfo: { address: string; port: number }) => {
        if (rinfo.port !== remote.port) return;
        if (msg.length === 0) send(); // let the peer finish too
        finish(undefined, msg, rinfo);
      };
      const finish = (error?: Error, first?: Buffer, from?: { address: string; port: number }) => {
        clearTimeout(timer);
        clearInterval(probe);
        socket.removeListener("message", onMessage);
        if (error) {
          try {
            socket.close();
          } catch {
            // closed
          }
          reject(error);
          return;
        }
        const transport = new DatagramTransport(socket, remote.address, remote.port, true, undefined, true);
        const connection = new Connection({
          ...config,
          remotes: [new RemoteEndpoint().withIPAddress(remote.address).withPort(remote.port).snapshot()],
        });
        connection.adopt(transport, "passive");
        if (first && first.length > 0 && from) transport.deliver(first, from);
        resolve(connection);
      };
      socket.on("error", () => {
        // ECONNREFUSED while the peer is not bound yet: keep probing.
      });
      socket.on("message", onMessage);
      socket.bind({ address: local.address, port: local.port }, () => {
        socket.connect(remote.port, remote.address, () => {
          send();
          probe = setInterval(send, 100);
        });
      });
    });
  }

  /**
   * Resolve (-06 §5.1, §6.3): one Preconnection per concrete remote address (local interfaces
   * and names resolved too), sharing all other properties.
   */
  async resolve(): Promise<Preconnection[]> {
    const resolver = this.options.resolver ?? systemResolver;
    const out: Preconnection[] = [];
    const locals: LocalEndpoint[] = [];
    for (const l of this.locals) {
      const s = l.snapshot();
      for (const a of await addressesOf(s, resolver, true)) locals.push(LocalEndpoint.fromAddress(a, s.port));
    }
    for (const r of this.remotes) {
      const s = r.snapshot();
      const port = s.port ?? (s.service ? servicePort(s.service) : undefined);
      for (const a of await addressesOf(s, resolver, false)) {
        const p = new Preconnection({
          local: locals.length > 0 ? locals : this.locals,
          remote: RemoteEndpoint.fromAddress(a, port),
          transportProperties: this.transportProperties.clone(),
          securityParameters: this.securityParameters?.clone() ?? null,
          options: this.options,
        });
        for (const f of this.framers) p.addFramer(f);
        out.push(p);
      }
    }
    return out;
  }
}

interface Concrete {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

async function addressesOf(s: EndpointSnapshot, resolver: Resolver, local: boolean): Promise<string[]> {
  const out = [...s.ipv6, ...s.ipv4];
  if (local) out.push(...interfaceAddresses(s.interfaces).map((a) => a.address));
  for (const h of s.hostnames) {
    for (const fam of [6, 4] as const) out.push(...(await resolver.lookup(h, fam).catch(() => [])));
  }
  return [...new Set(out)];
}

async function concrete(
  s: EndpointSnapshot,
  resolver: Resolver,
  local: boolean,
  family?: 4 | 6,
): Promise<Concrete> {
  const port = s.port ?? (s.service ? servicePort(s.service) : undefined);
  if (port === undefined)
    throw new RendezvousError("Rendezvous endpoints need a port", { reason: "invalid" });
  const addresses = await addressesOf(s, resolver, local);
  const pick =
    addresses.find((a) => (family === undefined ? true : (a.includes(":") ? 6 : 4) === family)) ??
    addresses[0];
  if (!pick) throw new RendezvousError("could not resolve the endpoint", { reason: "resolution" });
  return { address: pick, port, family: pick.includes(":") ? 6 : 4 };
}
