/**
 * The protocol stacks Node really has, behind one small interface the Connection drives:
 * TCP and Unix stream sockets (`net`), TLS over TCP (`tls`), UDP (`dgram`, connected or owned by a
 * Listener). Connect attempts are abortable so the racer can close losers.
 */
import { constants, createPrivateKey, X509Certificate } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import tls from "node:tls";
import { InitiateError, TapsError } from "./errors.js";
import type { Pem, SecurityParameters, TrustContext } from "./security.js";
import { isMulticastAddress, type StackName } from "./selection.js";
import { sessionCacheKey } from "./session-cache.js";

export interface TransportEvents {
  data(chunk: Buffer, from?: { address: string; port: number }): void;
  /** The peer ended its sending direction (stream FIN). */
  end(): void;
  /** Fully closed. `error` when it ended by an error (reset, timeout). */
  close(error?: Error): void;
  drain(): void;
  /** ICMP soft error (UDP). */
  softError(error: Error): void;
}

export interface TlsInfo {
  readonly protocol: string | null;
  readonly alpnProtocol: string | false;
  readonly authorized: boolean;
  readonly peerSubject: string | undefined;
  /** The handshake resumed a cached session (no certificate was exchanged). */
  readonly resumed: boolean;
}

export interface Transport {
  readonly stack: StackName;
  readonly datagram: boolean;
  /** Largest Message one write may carry (datagrams), Infinity for streams. */
  readonly maxMessageSize: number;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly tls: TlsInfo | undefined;
  attach(events: TransportEvents): void;
  /** Writes one Message's bytes (one datagram for UDP). Returns false when the stack is congested. */
  write(chunks: readonly Uint8Array[], callback: (error?: Error | null) => void): boolean;
  /** Half-close (FIN); no-op for datagrams. */
  end(): void;
  /** Graceful teardown without FIN semantics (after end or for datagrams). */
  destroy(): void;
  /** Abort: RST for TCP. */
  reset(): void;
  pause(): void;
  resume(): void;
  cork(): void;
  uncork(): void;
  setNoDelay(noDelay: boolean): void;
  setKeepAlive(enable: boolean, initialDelayMs: number): void;
}

/** TCP, TLS or Unix stream socket. */
export class SocketTransport implements Transport {
  readonly datagram = false;
  readonly maxMessageSize = Number.POSITIVE_INFINITY;
  #events: TransportEvents | undefined;
  #earlyError: Error | undefined;
  #closed = false;

  constructor(
    readonly stack: StackName,
    readonly socket: net.Socket,
    /** The TCP socket under TLS (for RST on abort). */
    readonly raw: net.Socket = socket,
    readonly tls: TlsInfo | undefined = undefined,
  ) {
    // Never let an 'error' go unhandled before the Connection attaches.
    socket.on("error", (error) => {
      if (this.#events) return;
      this.#earlyError = error;
    });
    socket.pause();
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.socket.localPort;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  attach(events: TransportEvents): void {
    this.#events = events;
    let error: Error | undefined = this.#earlyError;
    const s = this.socket;
    s.on("data", (chunk: Buffer) => events.data(chunk));
    s.on("end", () => events.end());
    s.on("drain", () => events.drain());
    s.on("error", (e) => {
      error ??= e;
    });
    s.on("close", () => {
      this.#closed = true;
      events.close(error);
    });
    if (s.destroyed && !this.#closed) {
      queueMicrotask(() => {
        if (!this.#closed) {
          this.#closed = true;
          events.close(error ?? new Error("socket closed before use"));
        }
      });
    }
  }

  write(chunks: readonly Uint8Array[], callback: (error?: Error | null) => void): boolean {
    const s = this.socket;
    if (chunks.length === 1) return s.write(chunks[0]!, callback);
    s.cork();
    let ok = true;
    for (let i = 0; i < chunks.length; i++)
      ok = s.write(chunks[i]!, i === chunks.length - 1 ? callback : undefined);
    s.uncork();
    return ok;
  }
  end(): void {
    this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
    if (this.raw !== this.socket) this.raw.destroy();
  }
  reset(): void {
    const raw = this.raw;
    if (!raw.destroyed && typeof raw.resetAndDestroy === "function" && raw.readyState !== "opening") {
      try {
        raw.resetAndDestroy();
      } catch {
        raw.destroy();
      }
    } else raw.destroy();
    if (this.socket !== raw) this.socket.destroy();
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }
  setNoDelay(noDelay: boolean): void {
    if (this.stack !== "uds") this.raw.setNoDelay(noDelay);
  }
  setKeepAlive(enable: boolean, initialDelayMs: number): void {
    if (this.stack !== "uds") this.raw.setKeepAlive(enable, initialDelayMs);
  }
}

/** Largest UDP payload over IPv4 / IPv6. */
export const UDP_MAX_PAYLOAD = { 4: 65507, 6: 65527 } as const;

/** A connected UDP socket (client side) or a remote of a Listener's socket (server side). */
export class DatagramTransport implements Transport {
  readonly stack = "udp" as const;
  readonly datagram = true;
  readonly tls = undefined;
  readonly maxMessageSize: number;
  #events: TransportEvents | undefined;
  #pending: { chunk: Buffer; from: { address: string; port: number } }[] = [];
  #closed = false;

  constructor(
    readonly socket: dgram.Socket,
    readonly remoteAddress: string | undefined,
    readonly remotePort: number | undefined,
    /** True when this transport owns the socket (client side); false when a Listener does. */
    private readonly owner: boolean,
    private readonly onDestroy?: () => void,
    /** Rendezvous connections: empty datagrams are probes, not Messages. */
    private readonly dropEmpty = false,
  ) {
    this.maxMessageSize = remoteAddress?.includes(":") ? UDP_MAX_PAYLOAD[6] : UDP_MAX_PAYLOAD[4];
    if (owner) {
      socket.on("message", (msg, rinfo) => this.deliver(msg, { address: rinfo.address, port: rinfo.port }));
      socket.on("error", (error) => {
        // On a connected UDP socket an ICMP port unreachable surfaces here (ECONNREFUSED); the socket stays usable.
        this.#events?.softError(error);
      });
      socket.on("close", () => this.#finish());
    }
  }

  get localAddress(): string | undefined {
    try {
      return this.socket.address().address;
    } catch {
      return undefined;
    }
  }
  get localPort(): number | undefined {
    try {
      return this.socket.address().port;
    } catch {
      return undefined;
    }
  }

  /** Called by the socket owner for each datagram from this remote. */
  deliver(chunk: Buffer, from: { address: string; port: number }): void {
    if (this.dropEmpty && chunk.length === 0) return;
    if (this.#events) this.#events.data(chunk, from);
    else if (this.#pending.length < 1024) this.#pending.push({ chunk, from });
  }

  attach(events: TransportEvents): void {
    this.#events = events;
    const early = this.#pending;
    this.#pending = [];
    for (const p of early) events.data(p.chunk, p.from);
  }

  write(chunks: readonly Uint8Array[], callback: (error?: Error | null) => void): boolean {
    if (this.#closed) {
      queueMicrotask(() => callback(new Error("socket closed")));
      return true;
    }
    const cb = (error: Error | null) => callback(error);
    try {
      if (this.owner) this.socket.send(chunks as Uint8Array[], cb);
      else this.socket.send(chunks as Uint8Array[], this.remotePort, this.remoteAddress, cb);
    } catch (error) {
      queueMicrotask(() => callback(error as Error));
    }
    return true;
  }
  end(): void {}
  destroy(): void {
    if (this.owner) {
      try {
        this.socket.close();
      } catch {
        this.#finish();
      }
    } else this.#finish();
  }
  reset(): void {
    this.destroy();
  }
  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onDestroy?.();
    this.#events?.close();
  }
  pause(): void {}
  resume(): void {}
  cork(): void {}
  uncork(): void {}
  setNoDelay(): void {}
  setKeepAlive(): void {}
}

// ---------------------------------------------------------------------------------------------
// Connect attempts

export interface Candidate {
  readonly stack: StackName;
  /** IP address (TCP/TLS/UDP) or socket path (UDS). */
  readonly address: string;
  readonly family: 4 | 6 | 0;
  readonly port: number;
  /** Index of the Remote Endpoint this candidate came from. */
  readonly remoteIndex: number;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  /** The name to verify in the peer certificate (TLS). */
  readonly hostname?: string | undefined;
}

export function candidateLabel(c: Candidate): string {
  if (c.stack === "uds") return `unix:${c.address.replace("\0", "@")}`;
  return c.family === 6 ? `[${c.address}]:${c.port}` : `${c.address}:${c.port}`;
}

export interface AttemptContext {
  readonly security: SecurityParameters | null;
  /** Reports a relaxation (trust callback accepted a peer that Node rejected). */
  readonly notice: (notice: SecurityNotice) => void;
}

export interface SecurityNotice {
  readonly kind: "trust-callback-accepted-unverified-peer";
  readonly authorizationError: string | undefined;
  readonly peerSubject: string | undefined;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("attempt aborted");
}

/** One connect attempt for one candidate. Resolves with a connected (and for TLS, verified) transport. */
export function attempt(candidate: Candidate, ctx: AttemptContext, signal: AbortSignal): Promise<Transport> {
  switch (candidate.stack) {
    case "tcp":
      return connectStream(candidate, signal).then((s) => new SocketTransport("tcp", s));
    case "uds":
      return connectStream(candidate, signal).then((s) => new SocketTransport("uds", s));
    case "tls":
      return connectStream(candidate, signal).then((raw) => upgradeTls(raw, candidate, ctx, signal));
    case "udp":
      return connectUdp(candidate, signal);
  }
}

function connectStream(c: Candidate, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const socket =
      c.stack === "uds"
        ? net.connect({ path: c.address, allowHalfOpen: true })
        : net.connect({
            host: c.address,
            port: c.port,
            family: c.family === 0 ? undefined : c.family,
            localAddress: c.localAddress,
            localPort: c.localPort,
            autoSelectFamily: false,
            allowHalfOpen: true,
          });
    const onAbort = () => {
      socket.destroy();
      reject(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      socket.removeListener("error", onError);
      resolve(socket);
    });
    const onError = (error: Error) => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(error);
    };
    socket.once("error", onError);
  });
}

function toPem(value: Pem, label: "CERTIFICATE"): string {
  if (typeof value === "string") return value;
  const b64 = Buffer.from(value)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function keyPem(value: Pem): string {
  if (typeof value === "string") return value;
  return createPrivateKey({ key: Buffer.from(value), format: "der", type: "pkcs8" })
    .export({ type: "pkcs8", format: "pem" })
    .toString();
}

/** node:tls options shared by client and server sides. */
export function tlsOptions(sp: SecurityParameters): tls.SecureContextOptions & { ALPNProtocols?: string[] } {
  const o: tls.SecureContextOptions & { ALPNProtocols?: string[] } = { minVersion: sp.minVersion };
  if (sp.trustedCAs.length > 0) o.ca = sp.trustedCAs.map((c) => toPem(c, "CERTIFICATE"));
  if (sp.identities.length > 0) o.cert = sp.identities.map((c) => toPem(c, "CERTIFICATE")).join("\n");
  if (sp.privateKeys.length > 0) o.key = keyPem(sp.privateKeys[0]!.privateKey);
  // Node takes TLS 1.3 suites (TLS_*) and TLS 1.2 cipher strings in one list.
  if (sp.ciphersuites.length > 0) o.ciphers = sp.ciphersuites.join(":");
  if (sp.supportedGroups.length > 0) o.ecdhCurve = sp.supportedGroups.join(":");
  if (sp.signatureAlgorithms.length > 0) o.sigalgs = sp.signatureAlgorithms.join(":");
  if (sp.alpn.length > 0) o.ALPNProtocols = [...sp.alpn];
  return o;
}

function peerChain(socket: tls.TLSSocket): { chain: X509Certificate[]; der: Uint8Array[] } {
  const chain: X509Certificate[] = [];
  const der: Uint8Array[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    der.push(new Uint8Array(cert.raw));
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return { chain, der };
}

function upgradeTls(
  raw: net.Socket,
  c: Candidate,
  ctx: AttemptContext,
  signal: AbortSignal,
): Promise<Transport> {
  const sp = ctx.security!;
  const callback = sp.trustVerificationCallback;
  const verifyName = sp.serverName ?? c.hostname ?? c.address;
  const cache = sp.sessionCache;
  const cacheKey = sessionCacheKey(sp, verifyName, c.port);
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      raw.destroy();
      return reject(abortError(signal));
    }
    const psk = sp.preSharedKeys[0];
    const offered = cacheKey === undefined ? undefined : cache.take(cacheKey, sp.sessionCachePolicy);
    const socket = tls.connect({
      ...tlsOptions(sp),
      socket: raw,
      servername: net.isIP(verifyName) ? undefined : verifyName,
      host: verifyName,
      rejectUnauthorized: callback === undefined && psk === undefined,
      ...(offered ? { session: offered } : {}),
      ...(psk ? { pskCallback: () => ({ psk: Buffer.from(psk.key), identity: psk.identity }) } : {}),
    });
    // Tickets may arrive before the peer is trusted (TLS 1.2 in the handshake, TLS 1.3 while an
    // async trust callback runs): hold the newest and store it only once the peer is accepted,
    // so a rejected peer never gets a session into the cache.
    let pending: Buffer | undefined;
    let accepted = false;
    if (cacheKey !== undefined)
      socket.on("session", (session: Buffer) => {
        if (accepted) cache.store(cacheKey, session, sp.sessionCacheCapacity, sp.sessionCacheLifetime);
        else pending = session;
      });
    let settled = false;
    const fail = (error: unknown, aborted = false) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      // A session that led to a failed establishment is not offered again (an abort, e.g. a
      // racing loser being closed, says nothing about the session).
      if (cacheKey !== undefined && offered && !aborted) cache.drop(cacheKey, offered);
      socket.destroy();
      raw.destroy();
      reject(
        error instanceof TapsError
          ? error
          : new InitiateError(`TLS handshake with ${candidateLabel(c)} failed: ${(error as Error).message}`, {
              reason: "security",
              cause: error,
            }),
      );
    };
    const onAbort = () => fail(abortError(signal), true);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      // Resumed: no certificate was exchanged and Node skipped checkServerIdentity. The session
      // was fully verified (chain, name, trust callback) when it was established, under the very
      // trust configuration the cache key encodes, so it is accepted without asking again.
      const resumed = offered !== undefined && socket.isSessionReused();
      if (cacheKey !== undefined && offered && !resumed) cache.drop(cacheKey, offered); // refused: stale
      const identityError =
        psk || resumed ? undefined : tls.checkServerIdentity(verifyName, socket.getPeerCertificate());
      const authorized = psk ? true : socket.authorized && identityError === undefined;
      const authorizationError = socket.authorized
        ? (identityError as { code?: string } | undefined)?.code
        : String(socket.authorizationError ?? "");
      const { chain, der } = psk || resumed ? { chain: [], der: [] } : peerChain(socket);
      const info: TlsInfo = {
        protocol: socket.getProtocol(),
        alpnProtocol: socket.alpnProtocol ?? false,
        authorized,
        peerSubject: chain[0]?.subject,
        resumed,
      };
      const accept = () => {
        if (settled) return;
        settled = true;
        accepted = true;
        signal.removeEventListener("abort", onAbort);
        socket.removeListener("error", fail);
        if (cacheKey !== undefined && pending)
          cache.store(cacheKey, pending, sp.sessionCacheCapacity, sp.sessionCacheLifetime);
        pending = undefined;
        resolve(new SocketTransport("tls", socket, raw, info));
      };
      if (resumed) {
        // OpenSSL keeps the original verify result in the session: an accepted relaxation stays one.
        if (!authorized && callback)
          ctx.notice({
            kind: "trust-callback-accepted-unverified-peer",
            authorizationError: authorizationError || undefined,
            peerSubject: undefined,
          });
        else if (!authorized)
          return fail(new InitiateError(`peer not trusted: ${authorizationError}`, { reason: "security" }));
        return accept();
      }
      if (!callback) {
        // rejectUnauthorized already enforced the chain and (through checkServerIdentity) the name.
        if (!authorized && !psk)
          return fail(new InitiateError(`peer not trusted: ${authorizationError}`, { reason: "security" }));
        return accept();
      }
      const context: TrustContext = {
        hostname: verifyName,
        authorized,
        authorizationError: authorizationError || undefined,
        chain,
        chainDer: der,
        alpnProtocol: info.alpnProtocol,
      };
      Promise.resolve()
        .then(() => callback(context))
        .then(
          (trusted) => {
            if (trusted !== true)
              return fail(
                new InitiateError("the trust verification callback rejected the peer", {
                  reason: "security",
                }),
              );
            if (!authorized)
              ctx.notice({
                kind: "trust-callback-accepted-unverified-peer",
                authorizationError: context.authorizationError,
                peerSubject: info.peerSubject,
              });
            accept();
          },
          (error) =>
            fail(
              new InitiateError("the trust verification callback failed", {
                reason: "security",
                cause: error,
              }),
            ),
        );
    });
  });
}

/**
 * Server-side resumption from a Listener's SecurityParameters: Node issues stateless tickets by
 * default (keys random per server); the cache lifetime becomes the ticket lifetime, and a
 * disabled cache (or zero capacity / lifetime) turns tickets off, so every handshake is full.
 */
export function serverSessionOptions(sp: SecurityParameters): tls.TlsOptions {
  if (!sp.sessionCacheEnabled || sp.sessionCacheCapacity <= 0 || sp.sessionCacheLifetime <= 0)
    return { secureOptions: constants.SSL_OP_NO_TICKET };
  return { sessionTimeout: Math.max(1, Math.floor(sp.sessionCacheLifetime)) };
}

function connectUdp(c: Candidate, signal: AbortSignal): Promise<Transport> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const socket = dgram.createSocket({ type: c.family === 6 ? "udp6" : "udp4" });
    const onError = (error: Error) => {
      signal.removeEventListener("abort", onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      reject(error);
    };
    const onAbort = () => onError(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", onError);
    const connect = () => {
      // Sending to a multicast group: use the Local Endpoint's interface when one was given.
      if (isMulticastAddress(c.address) && c.localAddress) socket.setMulticastInterface(c.localAddress);
      socket.connect(c.port, c.address, () => {
        signal.removeEventListener("abort", onAbort);
        socket.removeListener("error", onError);
        resolve(new DatagramTransport(socket, c.address, c.port, true));
      });
    };
    if (c.localAddress !== undefined || c.localPort !== undefined)
      socket.bind({ address: c.localAddress, port: c.localPort ?? 0 }, connect);
    else connect();
  });
}
