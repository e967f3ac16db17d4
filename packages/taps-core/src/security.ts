/**
 * Security Parameters (-06 §5.3) mapped onto node:tls. Verification is strict by default:
 * the peer chain must verify against the trusted CAs (or Node's bundled roots) and the name must
 * match. A trust verification callback gets Node's verdict and the peer chain and decides; an
 * acceptance of a peer that Node rejected is reported as a `securityNotice` event.
 */
import type { X509Certificate } from "node:crypto";
import { PropertyError } from "./errors.js";
import { TlsSessionCache } from "./session-cache.js";

/** What the trust verification callback is given. */
export interface TrustContext {
  /** The name the peer's certificate was checked against (SNI / hostname), if any. */
  readonly hostname: string | undefined;
  /** Node's (OpenSSL's) chain verdict plus the hostname check. */
  readonly authorized: boolean;
  /** OpenSSL's error code (e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_TLS_CERT_ALTNAME_INVALID`). */
  readonly authorizationError: string | undefined;
  /** Leaf first, as the peer sent it. */
  readonly chain: readonly X509Certificate[];
  /** DER of the chain, leaf first (for external validators such as @x/cert-validate). */
  readonly chainDer: readonly Uint8Array[];
  readonly alpnProtocol: string | false;
}

/** Returns true to trust the peer. May be asynchronous; a throw or rejection means "do not trust". */
export type TrustVerificationCallback = (context: TrustContext) => boolean | Promise<boolean>;
/** Kept for API completeness: Node 20's tls has no hook for remote private-key operations. */
export type IdentityChallengeCallback = (challenge: unknown) => unknown;

export type SessionCachePolicy = "one-time-use" | "reuse";

export type Pem = string | Uint8Array;

export class SecurityParameters {
  readonly identities: Pem[] = [];
  readonly privateKeys: { privateKey: Pem; publicKey: Pem | undefined }[] = [];
  readonly trustedCAs: Pem[] = [];
  readonly ciphersuites: string[] = [];
  readonly supportedGroups: string[] = [];
  readonly signatureAlgorithms: string[] = [];
  readonly alpn: string[] = [];
  readonly preSharedKeys: { key: Uint8Array; identity: string }[] = [];
  serverName: string | undefined;
  minVersion: "TLSv1.2" | "TLSv1.3" = "TLSv1.2";
  trustVerificationCallback: TrustVerificationCallback | undefined;
  identityChallengeCallback: IdentityChallengeCallback | undefined;
  /**
   * Client-side TLS session resumption (-06 §5.3.1 session cache management). On by default;
   * false means every connection does a full handshake. A Listener with false issues no tickets.
   */
  sessionCacheEnabled = true;
  /** Most sessions kept (RFC 9622 `maxCachedSessions`); least recently used evicted first. 0 disables. */
  sessionCacheCapacity = 100;
  /** Seconds a cached session may be offered (RFC 9622 `cachedSessionLifetimeSeconds`; -06's example: a day). */
  sessionCacheLifetime = 86_400;
  /** "one-time-use" (default; a TLS 1.3 ticket is offered once, RFC 8446 §C.4) or "reuse". */
  sessionCachePolicy: SessionCachePolicy = "one-time-use";
  /**
   * Where sessions are kept. Shared by clones (so every Initiate of a Preconnection, and clones of
   * its Connections, resume each other's sessions); pass one to several parameters with setSessionCache.
   */
  sessionCache: TlsSessionCache = new TlsSessionCache();
  /** Server side: request and verify a client certificate. */
  requireClientCertificate = false;

  /** RFC 9622 NewDisabledSecurityParameters(): explicit plaintext. */
  static disabled(): null {
    return null;
  }

  /** Certificate chain (PEM, or DER of one certificate) identifying this endpoint. */
  addIdentity(identity: Pem): this {
    this.identities.push(identity);
    return this;
  }
  addPrivateKey(privateKey: Pem, publicKey?: Pem): this {
    this.privateKeys.push({ privateKey, publicKey });
    return this;
  }
  /** Vendor extension (RFC 9622 has pinned/trusted certificates): CA certificates to trust instead of Node's roots. */
  addTrustedCA(ca: Pem): this {
    this.trustedCAs.push(ca);
    return this;
  }
  /** OpenSSL names, TLS 1.3 (`TLS_AES_128_GCM_SHA256`) or 1.2 (`ECDHE-ECDSA-AES128-GCM-SHA256`). */
  addCiphersuite(suite: string): this {
    this.ciphersuites.push(suite);
    return this;
  }
  addSupportedGroup(group: string): this {
    this.supportedGroups.push(group);
    return this;
  }
  addSignatureAlgorithm(alg: string): this {
    this.signatureAlgorithms.push(alg);
    return this;
  }
  /** RFC 9622 `alpn`. */
  addAlpn(protocol: string): this {
    this.alpn.push(protocol);
    return this;
  }
  addPreSharedKey(key: Uint8Array, identity: string): this {
    this.preSharedKeys.push({ key, identity });
    return this;
  }
  setTrustVerificationCallback(callback: TrustVerificationCallback): this {
    this.trustVerificationCallback = callback;
    return this;
  }
  setIdentityChallengeCallback(callback: IdentityChallengeCallback): this {
    this.identityChallengeCallback = callback;
    return this;
  }
  setSessionCacheCapacity(capacity: number): this {
    this.sessionCacheCapacity = capacity;
    return this;
  }
  setSessionCacheLifetime(seconds: number): this {
    this.sessionCacheLifetime = seconds;
    return this;
  }
  setSessionCachePolicy(policy: SessionCachePolicy): this {
    this.sessionCachePolicy = policy;
    return this;
  }
  /** Vendor: turn TLS session resumption on or off (off: full handshakes; Listener: no tickets). */
  setSessionCacheEnabled(enabled: boolean): this {
    this.sessionCacheEnabled = enabled;
    return this;
  }
  /** Vendor: keep sessions in `cache` (e.g. one cache shared by several Preconnections). */
  setSessionCache(cache: TlsSessionCache): this {
    this.sessionCache = cache;
    return this;
  }

  /** RFC 9622 `SecurityParameters.Set(name, value)` for the names that map onto Node. */
  set(name: string, value: unknown): this {
    switch (name) {
      case "alpn":
        for (const p of value as string[]) this.addAlpn(p);
        return this;
      case "ciphersuite":
        for (const s of value as string[]) this.addCiphersuite(s);
        return this;
      case "supportedGroup":
        for (const g of value as string[]) this.addSupportedGroup(g);
        return this;
      case "signatureAlgorithm":
        for (const a of value as string[]) this.addSignatureAlgorithm(a);
        return this;
      case "maxCachedSessions":
        return this.setSessionCacheCapacity(value as number);
      case "cachedSessionLifetimeSeconds":
        return this.setSessionCacheLifetime(value as number);
      case "useSessionCache":
        return this.setSessionCacheEnabled(value as boolean);
      case "serverCertificate":
      case "clientCertificate":
        return this.addIdentity(value as Pem);
      default:
        throw new PropertyError(`unsupported security parameter "${name}"`, { property: name });
    }
  }

  clone(): SecurityParameters {
    const copy = new SecurityParameters();
    copy.identities.push(...this.identities);
    copy.privateKeys.push(...this.privateKeys);
    copy.trustedCAs.push(...this.trustedCAs);
    copy.ciphersuites.push(...this.ciphersuites);
    copy.supportedGroups.push(...this.supportedGroups);
    copy.signatureAlgorithms.push(...this.signatureAlgorithms);
    copy.alpn.push(...this.alpn);
    copy.preSharedKeys.push(...this.preSharedKeys);
    copy.serverName = this.serverName;
    copy.minVersion = this.minVersion;
    copy.trustVerificationCallback = this.trustVerificationCallback;
    copy.identityChallengeCallback = this.identityChallengeCallback;
    copy.sessionCacheCapacity = this.sessionCacheCapacity;
    copy.sessionCacheLifetime = this.sessionCacheLifetime;
    copy.sessionCachePolicy = this.sessionCachePolicy;
    copy.sessionCacheEnabled = this.sessionCacheEnabled;
    copy.sessionCache = this.sessionCache;
    copy.requireClientCertificate = this.requireClientCertificate;
    return copy;
  }
}
