/** Options of {@link WebSocketMtp}, with the TR-181 / TR-369 defaults they map to. */
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { ExponentialRetryParameters, UspRole } from "@x/usp-record/mtp";
import type { Scheduler } from "./scheduler.js";

/** What a `verifyPeer` hook gets after the TLS handshake and before the WebSocket session starts. */
export interface TlsPeer {
  /** "server": we are the server checking a client certificate; "client": we check the server's. */
  readonly side: "client" | "server";
  readonly socket: TLSSocket;
  /** The peer certificate (with issuer chain), or undefined when the peer sent none. */
  readonly certificate: DetailedPeerCertificate | undefined;
  /** The peer Endpoint ID we expect or were told (`eid` query, extension header, configuration). */
  readonly endpointId: string | undefined;
  /** Client side: the URL we connected to (its host is the TLS target). */
  readonly url?: string | undefined;
}

/**
 * Extra certificate check, run after Node's own verification (which stays on). Throw (or reject)
 * to refuse the peer. `@x/cert-validate`'s TR-369 decision flow plugs in here.
 */
export type VerifyPeer = (peer: TlsPeer) => void | Promise<void>;

/** TLS for the listening side (wss://). */
export interface ServerTlsOptions {
  /** PEM certificate chain of this endpoint. */
  readonly cert: string | Buffer;
  /** PEM private key. */
  readonly key: string | Buffer;
  /** Trust anchors for client certificates (mTLS). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /**
   * Client certificates: "none" (default), "request" (verified when sent; a bad one is refused),
   * "require" (mTLS: the handshake fails without a valid client certificate).
   */
  readonly clientCertificate?: "none" | "request" | "require" | undefined;
  /** Default "TLSv1.2" (R-MTP.0). */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3" | undefined;
  readonly verifyPeer?: VerifyPeer | undefined;
  /**
   * Let Node (OpenSSL) reject client certificates that do not chain to `ca` (default true). False
   * makes `verifyPeer` (required then) the only gate, e.g. `tr369VerifyPeer` with `time: "none"`.
   */
  readonly nodeVerification?: boolean | undefined;
}

/** TLS for the connecting side. Verification is on; every relaxation is explicit. */
export interface ClientTlsOptions {
  /** Trust anchors for the server certificate (default: Node's bundled roots). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Client certificate and key for mTLS. */
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
  /** SNI / name to verify, when it differs from the URL host. */
  readonly servername?: string | undefined;
  /**
   * DANGEROUS: accept any server certificate. Emits an `ERR_WS_TLS_RELAXED` error event on every
   * connection. Default false.
   */
  readonly insecureSkipVerify?: boolean | undefined;
  readonly minVersion?: "TLSv1.2" | "TLSv1.3" | undefined;
  readonly verifyPeer?: VerifyPeer | undefined;
  /**
   * Let Node (OpenSSL) verify the server chain and host name (default true). False makes
   * `verifyPeer` (required then) the only gate, e.g. `tr369VerifyPeer` with `time: "none"`.
   */
  readonly nodeVerification?: boolean | undefined;
}

export interface KeepAliveOptions {
  /** Ping interval in ms (R-WS.18 KeepAliveInterval); 0 disables Pings. */
  readonly intervalMs?: number | undefined;
  /** Close the session after this many consecutive Pings without a Pong (and no other data). Default 2. */
  readonly maxMissedPongs?: number | undefined;
}

/** The listening side (Agent as server, R-WS.6; Controller as server). */
export interface WebSocketListenOptions {
  /** Default "127.0.0.1". Use "::" or "0.0.0.0" to listen on every interface. */
  readonly host?: string | undefined;
  /** Default 0 (ephemeral; read it back from `WebSocketMtp.address`). TR-181 default for an Agent: 8443. */
  readonly port?: number | undefined;
  /** The USP resource path (R-WS.1/2), matched exactly, query excluded. Default "/usp". */
  readonly path?: string | undefined;
  readonly tls?: ServerTlsOptions | undefined;
  /** Time allowed for the TLS handshake and the HTTP upgrade request, ms. Default 10 000. */
  readonly handshakeTimeoutMs?: number | undefined;
  /** Largest HTTP header block, bytes. Default 16 KiB. */
  readonly maxHeaderSize?: number | undefined;
  /** Keep-alive for sessions accepted here. Default 60 s (TR-181 Agent server default). */
  readonly keepAlive?: KeepAliveOptions | undefined;
  /**
   * R-WS.11a: send `Sec-WebSocket-Extensions: bbf-usp-protocol; eid="<ours>"`: "when-offered"
   * (default, the 1.3+ rule), "always" (what OB-USP-Agent does) or "never".
   */
  readonly advertiseExtension?: "when-offered" | "always" | "never" | undefined;
}

/** One peer to connect to (Agent as client, R-WS.5; Controller as client). */
export interface WebSocketPeerOptions {
  /** ws:// or wss:// URL of the peer's USP resource; `eid=<our id>` is appended (R-WS.10b). */
  readonly url: string;
  /** The peer's Endpoint ID, when configured. A different `eid` in the server's extension header is refused. */
  readonly endpointId?: string | undefined;
  readonly tls?: ClientTlsOptions | undefined;
  /** R-WS.19 back-off for this peer (seconds, TR-181). Default: the MTP's `retry`. */
  readonly retry?: ExponentialRetryParameters | undefined;
  /** Default 30 s (OB-USP-Agent's example value; TR-181 has no default for the client side). */
  readonly keepAlive?: KeepAliveOptions | undefined;
  /** Send the deprecated `bbf-usp-protocol` extension offer (R-WS.10a, USP <= 1.2). Default false. */
  readonly offerExtension?: boolean | undefined;
  /** Opening handshake timeout, ms. Default 10 000. */
  readonly handshakeTimeoutMs?: number | undefined;
}

export interface WebSocketMtpOptions {
  readonly role: UspRole;
  /** Our own Endpoint ID. */
  readonly endpointId: string;
  /** Listen for peers (server side). */
  readonly listen?: WebSocketListenOptions | undefined;
  /** Connect to these peers (client side). Both `listen` and `peers` may be set. */
  readonly peers?: readonly WebSocketPeerOptions[] | undefined;
  /** R-WS.19 back-off (seconds, TR-181 SessionRetryMinimumWaitInterval / IntervalMultiplier). Default 5 s, 2000. */
  readonly retry?: ExponentialRetryParameters | undefined;
  /** Largest Record accepted, bytes (frames above it are closed with 1009). Default 5 MiB, like OB-USP-Agent. */
  readonly maxRecordSize?: number | undefined;
  /** Close code for a frame from which no Record can be extracted (R-WS.16: 1003). */
  readonly malformedCloseCode?: number | undefined;
  /**
   * R-WS.4, at most one session per peer Endpoint ID. "reject-new" (default, like OB-USP-Agent's
   * server): a second session for a connected Endpoint ID is refused (HTTP 409, or close 1008 when the
   * ID is only learned from its first Record). "replace-old": the older session is closed (1000).
   * An outbound session we open always takes precedence over an inbound one for the same peer.
   */
  readonly duplicateSessionPolicy?: "reject-new" | "replace-old" | undefined;
  /**
   * Controller side of R-MTP.8: drop Records that arrive on a session before the Agent's
   * WebSocketConnectRecord. Default false (accept them and emit nothing), because the Connect
   * Record can legitimately be missed by a restarting Controller.
   */
  readonly requireConnectRecord?: boolean | undefined;
  /** Check `to_id`/`from_id` syntax of received Records (default true). */
  readonly validateEndpointIds?: boolean | undefined;
  /**
   * How long a `send()` to a peer we connect to (one of `peers`, its Endpoint ID configured or
   * learned from an earlier session) may wait while that peer is connecting or reconnecting, ms.
   * Such sends are held, in `send()` order, and go out on the next session right after the
   * WebSocketConnectRecord (R-MTP.6/8); after this long one rejects with `ERR_MTP_TIMEOUT`.
   * Default 30 000 (as `@x/mtp-stomp`). 0: do not wait, reject at once with `ERR_MTP_NO_ROUTE`;
   * `Infinity`: wait until the session is back, the send is aborted or the MTP closes.
   */
  readonly sendTimeoutMs?: number | undefined;
  /**
   * Upper bound of the bytes of all Records waiting for a session, all peers together. Default
   * 16 MiB. A `send()` that would exceed it rejects at once with `ERR_WS_QUEUE_FULL`.
   */
  readonly maxQueuedBytes?: number | undefined;
  /** Injectable clock for back-off, keep-alive and the `sendTimeoutMs` bound (tests). */
  readonly scheduler?: Scheduler | undefined;
  /** Injectable randomness for the back-off window (tests). */
  readonly random?: (() => number) | undefined;
}
