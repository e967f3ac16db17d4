/**
 * Builds the byte stream under the MQTT client: plain TCP (`mqtt://`) or TLS (`mqtts://`).
 * TLS is Node's strict verification (chain to the given CA, host name) plus an optional
 * peer-policy hook that runs inside the handshake, before any MQTT byte (and so before the
 * CONNECT with its credentials) is written.
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { type TlsPeerPolicy, verifyTlsPeer } from "@x/cert-validate";
import { MqttMtpError } from "./errors.js";

/** TLS settings for `mqtts://` brokers. Verification is always on unless `insecure` is set. */
export interface MqttTlsOptions {
  /** Trust anchors (PEM or DER); default: Node's bundled CA store. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  /** Client certificate chain (PEM), for brokers that authenticate clients by certificate. */
  readonly cert?: string | Buffer | undefined;
  /** Client private key (PEM). */
  readonly key?: string | Buffer | undefined;
  readonly passphrase?: string | undefined;
  /** SNI and the name the certificate must carry; default: the URL host. */
  readonly servername?: string | undefined;
  /** Minimum TLS version; TR-369 R-MQTT.48 requires 1.2 or later (the default). */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3" | undefined;
  /**
   * Make `@x/cert-validate` the gate: the broker's chain is validated with this policy (USP
   * figure with Trusted Broker / ControllerTrust anchors, or a plain path policy) instead of
   * by OpenSSL. When absent, Node's strict verification against `ca` applies.
   */
  readonly peerPolicy?: TlsPeerPolicy | undefined;
  /**
   * Extra check on the peer after the handshake and before any MQTT byte leaves (e.g. pinning):
   * return or throw an Error to refuse the broker.
   */
  readonly verifyPeer?: ((socket: tls.TLSSocket) => Error | undefined) | undefined;
  /**
   * Turn certificate verification off. Named so it stands out; the MTP emits an `error`
   * event (`ERR_MQTT_TLS`, "verification disabled") each time it connects this way.
   */
  readonly insecureSkipVerify?: boolean | undefined;
}

export interface BrokerAddress {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
}

/** Parse `mqtt://host:port` / `mqtts://host:port` (also `tcp:`, `ssl:`, `tls:` aliases). */
export function parseBrokerUrl(url: string): BrokerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new TypeError(`invalid broker URL "${url}"`, { cause });
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  const secure = scheme === "mqtts" || scheme === "ssl" || scheme === "tls";
  if (!secure && scheme !== "mqtt" && scheme !== "tcp") {
    throw new TypeError(`unsupported broker URL scheme "${scheme}" (use mqtt:// or mqtts://)`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host.length === 0) throw new TypeError(`broker URL "${url}" has no host`);
  const port = parsed.port === "" ? (secure ? 8883 : 1883) : Number(parsed.port);
  return { secure, host, port };
}

/** A stream factory for `new MqttClient(builder, options)`. */
export function createStreamBuilder(
  address: BrokerAddress,
  tlsOptions: MqttTlsOptions | undefined,
): () => Duplex {
  if (!address.secure) {
    return () => {
      const socket = net.connect({ host: address.host, port: address.port });
      socket.setNoDelay(true);
      return socket;
    };
  }
  const options = tlsOptions ?? {};
  const servername = options.servername ?? (net.isIP(address.host) === 0 ? address.host : undefined);
  const policy =
    options.peerPolicy === undefined ? undefined : withDefaultTarget(options.peerPolicy, address);
  return () => {
    const socket: tls.TLSSocket = tls.connect({
      host: address.host,
      port: address.port,
      ...(servername === undefined ? {} : { servername }),
      ca: options.ca as tls.ConnectionOptions["ca"],
      cert: options.cert,
      key: options.key,
      passphrase: options.passphrase,
      minVersion: options.minVersion ?? "TLSv1.2",
      // with a peerPolicy, @x/cert-validate decides (OpenSSL's verdict cannot express its rules)
      rejectUnauthorized: policy === undefined && options.insecureSkipVerify !== true,
      ...(policy === undefined
        ? options.servername === undefined
          ? {}
          : {
              checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
                tls.checkServerIdentity(options.servername as string, cert),
            }
        : { checkServerIdentity: () => undefined }),
    });
    socket.setNoDelay(true);
    // Data written before the handshake (mqtt.js's CONNECT, with credentials) is held by the TLS
    // layer; destroying the socket here means it never leaves this host.
    socket.once("secureConnect", () => {
      try {
        if (policy !== undefined) verifyTlsPeer(socket, policy);
        const refusal = options.verifyPeer?.(socket);
        if (refusal instanceof Error) throw refusal;
      } catch (cause) {
        const message = cause instanceof Error ? cause.message : String(cause);
        socket.destroy(new MqttMtpError("ERR_MQTT_TLS", `broker certificate refused: ${message}`, { cause }));
      }
    });
    return socket;
  };
}

/** Fill in the host we dialled when the policy names none, so host-name checks are not skipped. */
function withDefaultTarget(policy: TlsPeerPolicy, address: BrokerAddress): TlsPeerPolicy {
  const isIp = net.isIP(address.host) !== 0;
  if (policy.kind === "usp" && policy.context.target === undefined) {
    return { ...policy, context: { ...policy.context, target: { host: address.host } } };
  }
  if (policy.kind === "path" && policy.options.host === undefined && policy.options.ip === undefined) {
    return {
      ...policy,
      options: { ...policy.options, ...(isIp ? { ip: address.host } : { host: address.host }) },
    };
  }
  return policy;
}
