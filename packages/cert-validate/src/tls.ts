/**
 * Node TLS adapters. Node's own verdict cannot express unknown time (R-MTP.2), fingerprint or
 * intermediate anchors, the TR-369 figure or the STTP tolerances, and it reports a single error
 * (a time error can mask a trust error). So OpenSSL's verdict is not used as the gate: the peer
 * chain is re-validated in JS on `secureConnect` / `secureConnection`, before any application data
 * is read or written, and the socket is destroyed with a {@link CertificateRejectedError} on reject.
 *
 * Resumed sessions: Node skips identity checks on resumption and the peer does not resend its
 * chain. The adapter still decides: by default a resumed session is re-validated with whatever
 * the session holds (usually the leaf only, so an intermediate-issued peer is rejected — fail
 * closed); `trustResumedSessions` maps resumption to the figure's "cached session" (USP only),
 * and `disableResumption` turns tickets off on servers and never offers a session on clients.
 */
import { constants as cryptoConstants, type X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import * as tls from "node:tls";
import { endpointIdsFromCert } from "./eid.js";
import { CertificateRejectedError } from "./errors.js";
import { evaluateSttpCertificate, type SttpPolicy, type SttpResult } from "./sttp.js";
import type { Finding, TraceStep } from "./types.js";
import { evaluateUspCertificate, type UspContext, type UspDecision } from "./usp.js";
import { type PathOptions, type PathResult, validatePath } from "./validate.js";

/** What to validate the peer against. */
export type TlsPeerPolicy = (
  | { readonly kind: "usp"; readonly context: Omit<UspContext, "cachedSession"> }
  | { readonly kind: "sttp"; readonly policy: SttpPolicy }
  | { readonly kind: "path"; readonly options: PathOptions }
) & {
  /** USP only: treat a resumed TLS session as the figure's "cached encrypted session". Default false. */
  readonly trustResumedSessions?: boolean;
  /** Never resume sessions (server: no tickets; client: no session offered). Default false. */
  readonly disableResumption?: boolean;
};

export interface PeerVerdict {
  readonly kind: TlsPeerPolicy["kind"];
  readonly resumed: boolean;
  /** DER certificates as presented by the peer, leaf first. */
  readonly chain: readonly Uint8Array[];
  readonly endpointIds: readonly string[];
  readonly warnings: readonly Finding[];
  readonly trace: readonly TraceStep[];
  readonly usp?: UspDecision;
  readonly sttp?: SttpResult;
  readonly path?: PathResult;
}

/** Certificates the peer presented (leaf first), from Node's legacy peer-certificate links. */
export function peerChainOf(cert: PeerCertificate | X509Certificate | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let c: PeerCertificate | X509Certificate | undefined = cert;
  while (c && out.length < 32) {
    const raw = (c as { raw?: Uint8Array }).raw;
    if (!raw || raw.length === 0) break;
    const key = Buffer.from(raw).toString("base64");
    if (seen.has(key)) break;
    seen.add(key);
    out.push(new Uint8Array(raw));
    c = (c as { issuerCertificate?: PeerCertificate | X509Certificate }).issuerCertificate;
  }
  return out;
}

function reject(
  message: string,
  errors: readonly Finding[],
  trace: readonly TraceStep[],
  code?: "ERR_CERT_NO_PEER_CERTIFICATE",
) {
  return new CertificateRejectedError(message, { errors, trace }, { code });
}

/** Runs `policy` over an already-extracted peer chain (shared by the TLS and gRPC adapters). */
export function decidePeer(
  chain: readonly Uint8Array[],
  policy: TlsPeerPolicy,
  resumed: boolean,
): PeerVerdict {
  if (chain.length === 0 && !(resumed && policy.kind === "usp" && policy.trustResumedSessions === true)) {
    const errors: Finding[] = [
      { code: "NO_PEER_CERTIFICATE", message: "the peer presented no certificate (R-MTP.1)" },
    ];
    throw reject(
      resumed
        ? "resumed TLS session without a peer certificate: disable resumption or trust resumed sessions"
        : "the peer presented no certificate",
      errors,
      [
        {
          step: "certificate-presented",
          level: "MUST",
          branch: "no",
          reason: "no certificate",
          code: "NO_PEER_CERTIFICATE",
        },
      ],
      "ERR_CERT_NO_PEER_CERTIFICATE",
    );
  }
  const copy = [...chain];
  if (policy.kind === "usp") {
    const usp = evaluateUspCertificate(copy, {
      ...policy.context,
      cachedSession: resumed && policy.trustResumedSessions === true ? true : undefined,
    });
    if (usp.decision !== "establish")
      throw reject(
        `peer certificate rejected: ${usp.errors[0]?.message ?? "terminate"}`,
        usp.errors,
        usp.trace,
      );
    return {
      kind: "usp",
      resumed,
      chain: copy,
      endpointIds: usp.endpointIds,
      warnings: usp.warnings,
      trace: usp.trace,
      usp,
    };
  }
  if (policy.kind === "sttp") {
    const sttp = evaluateSttpCertificate(copy, policy.policy);
    if (!sttp.ok) throw reject(`peer certificate rejected: ${sttp.errors[0]?.message}`, sttp.errors, []);
    return {
      kind: "sttp",
      resumed,
      chain: copy,
      endpointIds: sttp.endpointIds,
      warnings: sttp.warnings,
      trace: [],
      sttp,
    };
  }
  const path = validatePath(copy, policy.options);
  if (!path.ok) throw reject(`peer certificate rejected: ${path.errors[0]?.message}`, path.errors, []);
  const endpointIds = path.peer ? endpointIdsFromCert(path.peer) : [];
  return { kind: "path", resumed, chain: copy, endpointIds, warnings: path.warnings, trace: [], path };
}

/**
 * Validates the peer of an established TLS socket with `policy`. Call it from `secureConnect`
 * (client) or `secureConnection` (server) before touching application data. Throws
 * {@link CertificateRejectedError} (`code` ERR_CERT_REJECTED / ERR_CERT_NO_PEER_CERTIFICATE) with
 * the findings and trace; it does not destroy the socket itself.
 */
export function verifyTlsPeer(socket: tls.TLSSocket, policy: TlsPeerPolicy): PeerVerdict {
  const resumed = socket.isSessionReused();
  const peer = socket.getPeerCertificate(true);
  const chain = peer && Object.keys(peer).length ? peerChainOf(peer) : [];
  return decidePeer(chain, policy, resumed);
}

/**
 * TLS options that make this package the gate: OpenSSL's verdict is informative only
 * (`rejectUnauthorized: false`, no-op `checkServerIdentity`), TLS >= 1.2 (R-MTP.0), and servers
 * request a client certificate (R-MTP.1). Use only together with {@link verifyTlsPeer}
 * (or {@link tlsConnect} / {@link createSecureServer}, which call it).
 */
export function secureTlsOptions(
  policy: TlsPeerPolicy,
  side: "client" | "server",
): Pick<
  tls.ConnectionOptions & tls.TlsOptions,
  "rejectUnauthorized" | "checkServerIdentity" | "minVersion" | "requestCert" | "secureOptions"
> {
  const base = {
    rejectUnauthorized: false,
    minVersion: "TLSv1.2" as const,
    ...(policy.disableResumption ? { secureOptions: cryptoConstants.SSL_OP_NO_TICKET } : {}),
  };
  return side === "client"
    ? { ...base, checkServerIdentity: () => undefined }
    : { ...base, requestCert: true };
}

export interface TlsConnectOptions extends tls.ConnectionOptions {
  readonly peerPolicy: TlsPeerPolicy;
  /** Give up when the handshake has not completed in time (default 30 s). */
  readonly handshakeTimeoutMs?: number;
}

/**
 * `tls.connect` that resolves only after the server's chain passed `peerPolicy`. On rejection the
 * socket is destroyed and the promise rejects with the {@link CertificateRejectedError}.
 */
export function tlsConnect(
  options: TlsConnectOptions,
): Promise<{ socket: tls.TLSSocket; verdict: PeerVerdict }> {
  const { peerPolicy, handshakeTimeoutMs = 30_000, ...rest } = options;
  return new Promise((resolve, rejectPromise) => {
    const socket = tls.connect({
      ...rest,
      ...(peerPolicy.disableResumption ? { session: undefined } : {}),
      ...secureTlsOptions(peerPolicy, "client"),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      rejectPromise(new Error(`TLS handshake not completed in ${handshakeTimeoutMs} ms`));
    }, handshakeTimeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      rejectPromise(err);
    };
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      try {
        const verdict = verifyTlsPeer(socket, peerPolicy);
        socket.off("error", fail);
        resolve({ socket, verdict });
      } catch (err) {
        socket.off("error", fail);
        socket.on("error", () => {});
        socket.destroy(err as Error);
        rejectPromise(err);
      }
    });
  });
}

export interface SecureServerOptions extends tls.TlsOptions {
  /** The policy, or a function choosing it per connection (e.g. by SNI). */
  readonly peerPolicy: TlsPeerPolicy | ((socket: tls.TLSSocket) => TlsPeerPolicy);
}

/**
 * `tls.createServer` whose `onVerified(socket, verdict)` runs only for clients whose chain passed
 * the policy. Rejected connections are destroyed and reported as `peerRejected` (error, socket).
 * Session tickets are off unless the policy sets `trustResumedSessions`, so every client is
 * re-validated on a full handshake.
 */
export function createSecureServer(
  options: SecureServerOptions,
  onVerified: (socket: tls.TLSSocket, verdict: PeerVerdict) => void,
): tls.Server {
  const { peerPolicy, ...rest } = options;
  const sample = typeof peerPolicy === "function" ? undefined : peerPolicy;
  const server = tls.createServer({
    ...rest,
    ...secureTlsOptions(sample ?? ({ kind: "path", options: { time: "none" } } as TlsPeerPolicy), "server"),
    // A resuming client does not resend its certificate, so the server could not re-validate it:
    // tickets stay off unless the policy trusts resumed sessions (Node keeps no internal session cache).
    ...(sample?.trustResumedSessions === true
      ? {}
      : { secureOptions: (rest.secureOptions ?? 0) | cryptoConstants.SSL_OP_NO_TICKET }),
  });
  server.on("secureConnection", (socket) => {
    try {
      const policy = typeof peerPolicy === "function" ? peerPolicy(socket) : peerPolicy;
      const verdict = verifyTlsPeer(socket, policy);
      onVerified(socket, verdict);
    } catch (err) {
      socket.on("error", () => {});
      socket.destroy();
      server.emit("peerRejected", err, socket);
    }
  });
  return server;
}

/**
 * For `@grpc/grpc-js` `credentials.createSsl(root, key, chain, verifyOptions)`. grpc-js calls
 * `checkServerIdentity` only after Node/OpenSSL accepted the chain against `rootCerts` and only on
 * full handshakes, so through this hook the policy can only *tighten* (EID, pinning, profile);
 * relaxations (expired, unknown issuer, unknown time) cannot be honoured on the gRPC path. Keep
 * `rejectUnauthorized` true. When the policy names no host/IP, the gRPC target host is used.
 */
export function grpcVerifyOptions(policy: TlsPeerPolicy): {
  checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;
  rejectUnauthorized: true;
} {
  return {
    rejectUnauthorized: true,
    checkServerIdentity: (hostname, cert) => {
      try {
        decidePeer(peerChainOf(cert), withDefaultHost(policy, hostname), false);
        return undefined;
      } catch (err) {
        return err as Error;
      }
    },
  };
}

function withDefaultHost(policy: TlsPeerPolicy, hostname: string): TlsPeerPolicy {
  const isIp = /^[0-9.]+$|:/.test(hostname);
  if (policy.kind === "sttp" && policy.policy.host === undefined && policy.policy.ip === undefined)
    return { ...policy, policy: { ...policy.policy, ...(isIp ? { ip: hostname } : { host: hostname }) } };
  if (policy.kind === "path" && policy.options.host === undefined && policy.options.ip === undefined)
    return { ...policy, options: { ...policy.options, ...(isIp ? { ip: hostname } : { host: hostname }) } };
  return policy;
}
