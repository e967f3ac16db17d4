/**
 * Listener (-06 §6.2): passive open over TCP, TLS, Unix sockets or UDP. SetNewConnectionLimit
 * holds new connections in a queue until the limit is raised (Node's `maxConnections` would drop
 * them). A Remote Endpoint on the Preconnection restricts which peers are accepted.
 */
import type dgram from "node:dgram";
import { createSocket } from "node:dgram";
import net from "node:net";
import tls from "node:tls";
import { Connection, type ConnectionConfig } from "./connection.js";
import { TapsEmitter } from "./emitter.js";
import { interfaceAddresses, LocalEndpoint, RemoteEndpoint } from "./endpoint.js";
import { ListenError } from "./errors.js";
import { servicePort } from "./resolver.js";
import { isMulticastAddress, STACK_LABEL } from "./selection.js";
import {
  DatagramTransport,
  SocketTransport,
  serverSessionOptions,
  type Transport,
  tlsOptions,
} from "./transport.js";

export interface ListenerEvents {
  connectionReceived: [connection: Connection];
  listenError: [error: ListenError];
  stopped: [];
}

export const LISTENER_EVENT_ALIASES: Readonly<Record<string, string>> = {
  establishmentError: "listenError",
  ConnectionReceived: "connectionReceived",
  ListenError: "listenError",
  Stopped: "stopped",
};

/** Connections waiting for SetNewConnectionLimit to be raised, at most this many. */
const MAX_HELD = 1024;

export class Listener extends TapsEmitter<ListenerEvents> {
  readonly #config: ConnectionConfig;
  #servers: (net.Server | tls.Server)[] = [];
  #udp: dgram.Socket[] = [];
  #udpRemotes = new Map<string, DatagramTransport>();
  #limit = Number.POSITIVE_INFINITY;
  #held: Transport[] = [];
  #stopped = false;
  #allowed: Set<string> | undefined;
  #allowedPort: number | undefined;
  #readyPromise: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (e: ListenError) => void;
  #stoppedPromise: Promise<void> | undefined;
  #bound: { address: string; port: number; family: 4 | 6 }[] = [];
  #path: string | undefined;
  #multicast = false;
  #multicastInterface: string | undefined;
  /** SSM: the Remote Endpoint's addresses are the sources (-06 §5.1). */
  get #sourceFilter(): string[] {
    return this.#allowed ? [...this.#allowed].filter((a) => !a.includes(":")) : [];
  }
  readonly #open = new Set<Connection>();
  #iterWaiters: ((c: Connection | undefined) => void)[] = [];
  #iterQueue: Connection[] = [];
  #iterating = 0;

  /** @internal Use Preconnection.listen(). */
  constructor(config: ConnectionConfig) {
    super(LISTENER_EVENT_ALIASES);
    this.#config = config;
    this.#readyPromise = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.#readyPromise.catch(() => {});
  }

  /** Resolves once listening (vendor convenience); rejects with the ListenError. */
  get ready(): Promise<void> {
    return this.#readyPromise;
  }

  /** The protocol stack listened on ("tcp", "tls/tcp", "udp", "unix"). */
  get protocolStack(): string {
    return STACK_LABEL[this.#config.stacks[0]!];
  }

  /** The bound port (the one chosen by the system when port 0 was asked). */
  get port(): number | undefined {
    return this.#bound[0]?.port;
  }

  /** Local Endpoints actually bound. */
  get localEndpoints(): LocalEndpoint[] {
    if (this.#path) return [new LocalEndpoint().withPath(this.#path)];
    return this.#bound.map((b) => LocalEndpoint.fromAddress(b.address, b.port));
  }

  /** @internal */
  fail(error: ListenError): void {
    queueMicrotask(() => this.#fail(error));
  }

  #fail(error: ListenError): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#readyReject(error);
    for (const s of this.#servers) s.close();
    for (const u of this.#udp) u.close();
    this.post("listenError", [error], true);
    this.#endIteration();
  }

  /** @internal Binds every local address. */
  async start(): Promise<void> {
    const { locals, remotes, options } = this.#config;
    const stack = this.#config.stacks[0]!;
    const local = locals[0];
    if (!local)
      return this.#fail(new ListenError("Listen needs a Local Endpoint (-06 §6.2)", { reason: "invalid" }));
    try {
      // Remote filter (-06 §6.2): resolve it once.
      if (remotes.length > 0) {
        const allowed = new Set<string>();
        for (const r of remotes) {
          for (const a of [...r.ipv4, ...r.ipv6]) allowed.add(a);
          for (const h of r.hostnames) {
            for (const fam of [4, 6] as const) {
              for (const a of await options.resolver.lookup(h, fam).catch(() => [])) allowed.add(a);
            }
          }
          if (r.port !== undefined) this.#allowedPort = r.port;
        }
        this.#allowed = allowed;
      }
      if (stack === "uds") {
        if (!local.path) throw new ListenError("a Unix socket Listener needs a path", { reason: "invalid" });
        await this.#listenStream(stack, { path: local.path });
        this.#path = local.path;
      } else {
        const wanted = local.port ?? (local.service ? servicePort(local.service) : 0);
        if (wanted === undefined)
          throw new ListenError(`unknown service "${local.service}"`, { reason: "resolution" });
        let addresses: { address: string; family: 4 | 6 }[] = [
          ...local.ipv6.map((a) => ({ address: a, family: 6 as const })),
          ...local.ipv4.map((a) => ({ address: a, family: 4 as const })),
          ...interfaceAddresses(local.interfaces),
        ];
        // A multicast group on the Local Endpoint: join it (on the named interface) and receive (-06 §5.1).
        const groups = addresses.filter((a) => isMulticastAddress(a.address));
        if (groups.length > 0) {
          this.#multicastInterface = interfaceAddresses(local.interfaces).find(
            (a) => a.family === 4,
          )?.address;
          addresses = groups;
        }
        for (const h of local.hostnames) {
          for (const fam of [6, 4] as const)
            for (const a of await options.resolver.lookup(h, fam).catch(() => []))
              addresses.push({ address: a, family: fam });
        }
        if (addresses.length === 0)
          throw new ListenError("the Local Endpoint names no address or interface", { reason: "invalid" });
        let port: number = wanted;
        for (const { address, family } of addresses) {
          const bound: number =
            stack === "udp"
              ? await this.#listenUdp(address, family, port)
              : await this.#listenStream(stack, { host: address, port, ipv6Only: family === 6 });
          this.#bound.push({ address, port: bound, family });
          port = bound; // every address on the same port
        }
      }
      if (this.#stopped) {
        for (const s of this.#servers) s.close();
        for (const u of this.#udp) u.close();
        return;
      }
      this.#readyResolve();
    } catch (error) {
      this.#fail(
        error instanceof ListenError
          ? error
          : new ListenError(`cannot listen: ${(error as Error).message}`, { reason: "stack", cause: error }),
      );
    }
  }

  #listenStream(stack: "tcp" | "tls" | "uds", where: net.ListenOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      let server: net.Server | tls.Server;
      if (stack === "tls") {
        const sp = this.#config.security!;
        const psk = sp.preSharedKeys;
        server = tls.createServer({
          ...tlsOptions(sp),
          ...serverSessionOptions(sp),
          allowHalfOpen: true,
          requestCert: sp.requireClientCertificate,
          rejectUnauthorized: sp.requireClientCertificate,
          ...(psk.length > 0
            ? {
                pskCallback: (_socket: tls.TLSSocket, identity: string) => {
                  const k = psk.find((p) => p.identity === identity);
                  return k ? Buffer.from(k.key) : null;
                },
              }
            : {}),
        });
        server.on("secureConnection", (socket: tls.TLSSocket) => {
          const raw = (socket as unknown as { _parent?: net.Socket })._parent;
          const info = {
            protocol: socket.getProtocol(),
            alpnProtocol: socket.alpnProtocol ?? false,
            authorized: socket.authorized,
            peerSubject: undefined,
            resumed: socket.isSessionReused(),
          };
          this.#incoming(new SocketTransport("tls", socket, raw instanceof net.Socket ? raw : socket, info));
        });
        server.on("tlsClientError", () => {
          // A failed handshake never became a Connection; nothing to report on the Listener.
        });
      } else {
        server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
        server.on("connection", (socket: net.Socket) => this.#incoming(new SocketTransport(stack, socket)));
      }
      const onError = (error: Error) => reject(error);
      server.once("error", onError);
      server.listen(where, () => {
        server.removeListener("error", onError);
        server.on("error", (error) => {
          if (!this.#stopped)
            this.#fail(
              new ListenError(`listener failed: ${error.message}`, { reason: "stack", cause: error }),
            );
        });
        this.#servers.push(server);
        const a = server.address();
        resolve(typeof a === "object" && a ? a.port : 0);
      });
    });
  }

  #listenUdp(address: string, family: 4 | 6, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const multicast = isMulticastAddress(address);
      const socket = createSocket({
        type: family === 6 ? "udp6" : "udp4",
        ipv6Only: family === 6,
        reuseAddr: multicast,
      });
      socket.once("error", reject);
      socket.bind({ address, port }, () => {
        socket.removeListener("error", reject);
        if (multicast) {
          try {
            const sources = this.#sourceFilter;
            if (sources.length > 0)
              for (const src of sources)
                socket.addSourceSpecificMembership(src, address, this.#multicastInterface);
            else socket.addMembership(address, this.#multicastInterface);
            this.#multicast = true;
          } catch (error) {
            socket.close();
            reject(error);
            return;
          }
        }
        socket.on("error", () => {
          // ICMP errors for one remote must not take down the shared socket.
        });
        socket.on("message", (msg, rinfo) => this.#datagram(socket, msg, rinfo));
        this.#udp.push(socket);
        resolve(socket.address().port);
      });
    });
  }

  #datagram(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    const existing = this.#udpRemotes.get(key);
    if (existing) {
      existing.deliver(msg, { address: rinfo.address, port: rinfo.port });
      return;
    }
    if (this.#stopped || !this.#permitted(rinfo.address, rinfo.port)) return;
    const transport = new DatagramTransport(socket, rinfo.address, rinfo.port, false, () => {
      this.#udpRemotes.delete(key);
      if (this.#stopped && this.#udpRemotes.size === 0) this.#closeUdp();
    });
    this.#udpRemotes.set(key, transport);
    transport.deliver(msg, { address: rinfo.address, port: rinfo.port });
    this.#incoming(transport);
  }

  #permitted(address: string | undefined, port: number | undefined): boolean {
    if (!this.#allowed) return true;
    const a = (address ?? "").replace(/^::ffff:(?=\d+\.)/, "");
    if (!this.#allowed.has(a)) return false;
    return this.#allowedPort === undefined || this.#allowedPort === port;
  }

  #incoming(transport: Transport): void {
    if (this.#stopped) {
      transport.destroy();
      return;
    }
    if (!transport.datagram && !this.#permitted(transport.remoteAddress, transport.remotePort)) {
      transport.reset();
      return;
    }
    if (this.#limit > 0) this.#deliver(transport);
    else if (this.#held.length < MAX_HELD) this.#held.push(transport);
    else transport.reset();
  }

  #deliver(transport: Transport): void {
    if (this.#limit !== Number.POSITIVE_INFINITY) this.#limit--;
    const remote =
      transport.stack === "uds"
        ? new RemoteEndpoint().withPath(this.#path ?? "unix")
        : RemoteEndpoint.fromAddress(transport.remoteAddress, transport.remotePort);
    const properties = this.#multicast
      ? this.#config.properties.clone().add("direction", "Unidirectional receive")
      : this.#config.properties;
    const connection = new Connection({ ...this.#config, properties, remotes: [remote.snapshot()] });
    this.#open.add(connection);
    connection.once("closed", () => this.#open.delete(connection));
    connection.once("connectionError", () => this.#open.delete(connection));
    connection.once("initiateError", () => this.#open.delete(connection));
    connection.adopt(transport, "passive", () => {
      this.post("connectionReceived", [connection]);
      const waiter = this.#iterWaiters.shift();
      if (waiter) waiter(connection);
      else if (this.#iterating > 0) this.#iterQueue.push(connection);
    });
  }

  /**
   * SetNewConnectionLimit (-06 §6.2): at most `value` more connections are delivered; later ones
   * wait (they are not dropped) until the limit is raised. `Infinity` removes the limit.
   */
  setNewConnectionLimit(value: number): void {
    if (!(value >= 0)) throw new RangeError("the connection limit must be >= 0 or Infinity");
    this.#limit = value;
    while (this.#limit > 0 && this.#held.length > 0) this.#deliver(this.#held.shift()!);
  }

  /** Connections waiting for the limit to be raised. */
  get pendingConnections(): number {
    return this.#held.length;
  }

  /** Stop (-06 §6.2): no new connections; existing ones continue. Resolves on Stopped. */
  stop(): Promise<void> {
    if (this.#stoppedPromise) return this.#stoppedPromise;
    this.#stoppedPromise = new Promise<void>((resolve) => {
      if (this.#stopped && this.terminated) {
        resolve();
        return;
      }
      this.#stopped = true;
      for (const t of this.#held) t.reset();
      this.#held = [];
      // server.close() stops listening at once; its callback would wait for every existing
      // connection, which continue after Stop (-06 §6.2).
      for (const s of this.#servers) s.close();
      if (this.#udpRemotes.size === 0) this.#closeUdp();
      this.post("stopped", [], true);
      this.postTask(resolve);
      this.#endIteration();
    });
    return this.#stoppedPromise;
  }

  #closeUdp(): void {
    for (const u of this.#udp) {
      try {
        u.close();
      } catch {
        // already closed
      }
    }
    this.#udp = [];
  }

  #endIteration(): void {
    for (const w of this.#iterWaiters) w(undefined);
    this.#iterWaiters = [];
  }

  /** `for await (const connection of listener)`: ends when the Listener stops. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Connection> {
    this.#iterating++;
    try {
      for (;;) {
        const queued = this.#iterQueue.shift();
        if (queued) {
          yield queued;
          continue;
        }
        if (this.#stopped) return;
        const next = await new Promise<Connection | undefined>((resolve) => this.#iterWaiters.push(resolve));
        if (!next) return;
        yield next;
      }
    } finally {
      this.#iterating--;
    }
  }
}
