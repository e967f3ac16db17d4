/**
 * Socket layer: TCP or TLS, client-style (dial) or server-style (listen), independent of the STTP role.
 * TLS sockets are handed over only after the security policy accepted the peer.
 */

import * as net from "node:net";
import { isIP } from "node:net";
import * as tls from "node:tls";
import { SttpAbortedError, SttpError, SttpTlsPolicyError } from "./errors.js";
import { evaluatePeerWithCertValidate } from "./tls-cert-validate.js";
import { evaluatePeerWithNode, nodeTlsOptions, type SecurityWarning, type TlsOptions } from "./tls-policy.js";

export type Socket = net.Socket | tls.TLSSocket;

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface DialOptions extends Endpoint {
  /** Local address to bind the client socket to. */
  readonly localAddress?: string;
  readonly tls?: TlsOptions;
  readonly signal?: AbortSignal;
  /** Give up a TCP/TLS connect that takes longer (default 10 s). */
  readonly connectTimeoutMs?: number;
}

export interface Established {
  readonly socket: Socket;
  readonly warnings: readonly SecurityWarning[];
  readonly tlsProtocol?: string;
}

function verify(
  socket: tls.TLSSocket,
  options: TlsOptions,
  role: "client" | "server",
  expectedName?: string,
) {
  const context = { role, options, ...(expectedName !== undefined ? { expectedName } : {}) };
  const evaluate =
    options.verifyPeer ?? (options.verifier === "node" ? evaluatePeerWithNode : evaluatePeerWithCertValidate);
  return evaluate(socket, context);
}

/** Connects (TCP, then TLS if configured) and resolves once the peer is accepted by the policy. */
export function dial(options: DialOptions): Promise<Established> {
  return new Promise<Established>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new SttpAbortedError());
      return;
    }
    let settled = false;
    let socket: Socket;
    const finish = (error: Error | undefined, value?: Established) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(value as Established);
    };
    const onError = (error: Error) =>
      finish(
        error instanceof SttpError
          ? error
          : new SttpError(
              "ERR_STTP_CLOSED",
              `connect to ${options.host}:${options.port} failed: ${error.message}`,
              { cause: error },
            ),
      );
    const onClose = () =>
      finish(
        new SttpError(
          "ERR_STTP_CLOSED",
          `connection to ${options.host}:${options.port} closed during set-up`,
        ),
      );
    const onAbort = () => finish(new SttpAbortedError("connect aborted"));
    const base = {
      host: options.host,
      port: options.port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    };
    if (options.tls) {
      const t = options.tls;
      const servername = t.servername ?? (isIP(options.host) ? undefined : options.host);
      const tlsSocket = tls.connect({
        ...base,
        ...nodeTlsOptions(t),
        ...(servername ? { servername } : {}),
        // Identity is checked by the policy after the handshake.
        checkServerIdentity: () => undefined,
      });
      socket = tlsSocket;
      tlsSocket.once("secureConnect", () => {
        try {
          const warnings = verify(tlsSocket, t, "client", t.servername ?? options.host);
          finish(undefined, { socket: tlsSocket, warnings, tlsProtocol: tlsSocket.getProtocol() ?? "" });
        } catch (error) {
          finish(error as Error);
        }
      });
    } else {
      socket = net.connect(base);
      socket.once("connect", () => finish(undefined, { socket, warnings: [] }));
    }
    socket.on("error", onError);
    socket.on("close", onClose);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () => finish(new SttpError("ERR_STTP_TIMEOUT", `connect to ${options.host}:${options.port} timed out`)),
      options.connectTimeoutMs ?? 10_000,
    );
  });
}

export interface ListenOptions extends Endpoint {
  readonly tls?: TlsOptions;
  /** Only IPv6: accept IPv6 only (default false keeps Node's dual-stack behaviour for "::"). */
  readonly ipv6Only?: boolean;
}

export interface Listener {
  readonly address: Endpoint;
  close(): Promise<void>;
}

/**
 * Listens and hands every accepted (and, for TLS, policy-approved) socket to `onSocket`.
 * Rejected TLS peers are reported through `onRejected` and destroyed.
 */
export function listen(
  options: ListenOptions,
  onSocket: (established: Established) => void,
  onRejected: (error: Error, remoteAddress: string | undefined) => void,
): Promise<Listener> {
  return new Promise<Listener>((resolve, reject) => {
    let server: net.Server;
    const sockets = new Set<net.Socket>();
    const track = (socket: net.Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    };
    if (options.tls) {
      const t = options.tls;
      if (!t.cert || !t.key) {
        reject(new SttpError("ERR_STTP_CONFIG", "a TLS listener needs tls.cert and tls.key"));
        return;
      }
      const tlsServer = tls.createServer({ ...nodeTlsOptions(t), requestCert: true });
      server = tlsServer;
      tlsServer.on("connection", track);
      tlsServer.on("secureConnection", (socket: tls.TLSSocket) => {
        try {
          const warnings = verify(socket, t, "server");
          onSocket({ socket, warnings, tlsProtocol: socket.getProtocol() ?? "" });
        } catch (error) {
          socket.destroy();
          onRejected(error as Error, socket.remoteAddress);
        }
      });
      tlsServer.on("tlsClientError", (error, socket) => {
        socket.destroy();
        onRejected(
          new SttpTlsPolicyError("invalid", `TLS handshake failed: ${error.message}`, undefined, {
            cause: error,
          }),
          socket.remoteAddress,
        );
      });
    } else {
      server = net.createServer((socket) => {
        track(socket);
        onSocket({ socket, warnings: [] });
      });
    }
    server.once("error", reject);
    server.listen(
      { host: options.host, port: options.port, ...(options.ipv6Only ? { ipv6Only: true } : {}) },
      () => {
        server.removeListener("error", reject);
        server.on("error", (error) => onRejected(error, undefined));
        const address = server.address() as net.AddressInfo;
        resolve({
          address: { host: address.address, port: address.port },
          close: () =>
            new Promise<void>((done) => {
              for (const socket of sockets) socket.destroy();
              server.close(() => done());
            }),
        });
      },
    );
  });
}

/** Strips the IPv4-mapped IPv6 prefix so addresses compare equal across socket families. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return "";
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
