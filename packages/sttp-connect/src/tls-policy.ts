/**
 * TLS for STTP: strict by default (chain to a trusted root, matching name, valid dates, TLS ≥ 1.2),
 * with the seed's explicit, named tolerances. Every tolerated error is reported as a security warning.
 *
 * Node's verification runs with `rejectUnauthorized: false` only so that the policy below can look at
 * the result; a socket the policy rejects is destroyed before any STTP byte is read from it.
 */
import { createHash, X509Certificate } from "node:crypto";
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from "node:tls";
import { SttpTlsPolicyError, type TlsFailureReason } from "./errors.js";

/** The tolerances of the seed ("validation errors must be tolerable through configuration"). All default to false. */
export interface TlsTolerances {
  /** Accept a certificate whose SAN/CN does not match the host name or IP dialled (e.g. behind NAT). */
  readonly allowNameMismatch?: boolean;
  /** Accept a chain that does not end at a trusted root (including an unpinned self-signed certificate). */
  readonly allowUntrustedRoot?: boolean;
  /** Accept an expired or not-yet-valid certificate. */
  readonly allowExpired?: boolean;
  /** Accept when revocation status cannot be determined (CRL checking enabled but no CRL for an issuer). */
  readonly allowRevocationUnknown?: boolean;
}

export type PemOrDer = string | Buffer;

export interface TlsOptions {
  /** Trusted CA certificates (PEM). When absent, Node's bundled root store is used. */
  readonly ca?: PemOrDer | readonly PemOrDer[];
  /** Own certificate chain (PEM): required when listening, optional (client certificate) when dialling. */
  readonly cert?: PemOrDer;
  /** Private key (PEM) of `cert`. */
  readonly key?: PemOrDer;
  /**
   * Pinned peer certificates: PEM/DER certificates or SHA-256 fingerprints (hex, colons optional).
   * A pinned certificate is trusted as-is (the gsfapi `remoteCertificate` model; the only way a
   * self-signed certificate is accepted without `allowUntrustedRoot`). Name and dates are still checked.
   */
  readonly pinned?: readonly PemOrDer[];
  /** Server side: require a client certificate (mutual TLS). Default true, as gsfapi publishers do. */
  readonly requireClientCertificate?: boolean;
  /** Lowest TLS version (default TLSv1.2). A connection below TLSv1.3 produces a warning. */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3";
  /** Highest TLS version (default: Node's newest). Only for peers that cannot do TLS 1.3; warned about. */
  readonly maxVersion?: "TLSv1.2" | "TLSv1.3";
  /** Client side: the name expected in the server certificate (default: the host dialled). */
  readonly servername?: string;
  /** Certificate revocation lists (PEM). Supplying any turns CRL checking on for the whole chain. */
  readonly crl?: PemOrDer | readonly PemOrDer[];
  readonly tolerances?: TlsTolerances;
  /**
   * Which built-in evaluation to use: `"cert-validate"` (default: `@x/cert-validate`'s STTP policy,
   * which builds and checks the path itself) or `"node"` (Node/OpenSSL's verdict plus explicit date,
   * name and pin checks; reports only the first chain error).
   */
  readonly verifier?: "cert-validate" | "node";
  /**
   * Replaces the built-in evaluation. It receives the socket
   * after the handshake and returns the warnings to emit, or throws an {@link SttpTlsPolicyError}.
   */
  readonly verifyPeer?: (socket: TLSSocket, context: PeerContext) => readonly SecurityWarning[];
}

export type SecurityWarningKind = keyof TlsTolerances | "legacyTlsVersion" | "noClientCertificate";

/** A tolerated weakness of a connection (the seed's "appropriate warnings"). */
export interface SecurityWarning {
  readonly kind: SecurityWarningKind;
  readonly message: string;
  /** Node/OpenSSL verification code behind the warning, if any. */
  readonly verifyCode?: string;
  /** SHA-256 fingerprint of the peer certificate, if there was one. */
  readonly fingerprint?: string;
}

export interface PeerContext {
  /** Our socket role: "client" dialled, "server" accepted. Validation is per socket role, not per STTP role. */
  readonly role: "client" | "server";
  /** Client side: name to verify the certificate against. */
  readonly expectedName?: string;
  readonly options: TlsOptions;
}

const UNTRUSTED_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_UNTRUSTED",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
]);
const EXPIRED_CODES = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);
const REVOCATION_UNKNOWN_CODES = new Set(["UNABLE_TO_GET_CRL", "CRL_HAS_EXPIRED", "CRL_NOT_YET_VALID"]);
const REVOKED_CODES = new Set(["CERT_REVOKED"]);

/** SHA-256 fingerprint as lower-case hex without separators. */
export function fingerprintSha256(der: Buffer): string {
  return createHash("sha256").update(der).digest("hex");
}

function toDer(cert: PemOrDer): Buffer {
  if (Buffer.isBuffer(cert) && cert[0] === 0x30) return cert;
  return new X509Certificate(cert).raw;
}

/** Normalises pins to fingerprints. */
export function pinnedFingerprints(pins: readonly PemOrDer[] | undefined): Set<string> {
  const set = new Set<string>();
  for (const pin of pins ?? []) {
    const text = typeof pin === "string" ? pin.trim() : undefined;
    if (text !== undefined && /^([0-9a-f]{2}:?){32}$/i.test(text))
      set.add(text.replace(/:/g, "").toLowerCase());
    else set.add(fingerprintSha256(toDer(pin)));
  }
  return set;
}

function classify(code: string): TlsFailureReason {
  if (UNTRUSTED_CODES.has(code)) return "untrustedRoot";
  if (EXPIRED_CODES.has(code)) return "expired";
  if (REVOCATION_UNKNOWN_CODES.has(code)) return "revocationUnknown";
  if (REVOKED_CODES.has(code)) return "revoked";
  return "invalid";
}

const TOLERANCE_OF: Partial<Record<TlsFailureReason, keyof TlsTolerances>> = {
  nameMismatch: "allowNameMismatch",
  untrustedRoot: "allowUntrustedRoot",
  expired: "allowExpired",
  revocationUnknown: "allowRevocationUnknown",
};

/**
 * The Node-based policy evaluation (`verifier: "node"`): Node's chain verification result, the pin
 * set, an explicit date check and `checkServerIdentity`.
 */
export function evaluatePeerWithNode(socket: TLSSocket, context: PeerContext): SecurityWarning[] {
  const options = context.options;
  const tolerances = options.tolerances ?? {};
  const warnings: SecurityWarning[] = [];
  const peer = socket.getPeerCertificate(true) as PeerCertificate | Record<string, never>;
  const raw = (peer as PeerCertificate).raw;
  if (raw === undefined || raw.length === 0) {
    if (context.role === "server" && options.requireClientCertificate === false) {
      return [
        { kind: "noClientCertificate", message: "client presented no certificate (mutual TLS not required)" },
      ];
    }
    throw new SttpTlsPolicyError(
      "noPeerCertificate",
      `the ${context.role === "server" ? "client" : "server"} presented no certificate`,
    );
  }
  const fingerprint = fingerprintSha256(raw);
  const tolerate = (reason: TlsFailureReason, message: string, verifyCode?: string) => {
    const tolerance = TOLERANCE_OF[reason];
    if (tolerance === undefined || tolerances[tolerance] !== true) {
      throw new SttpTlsPolicyError(reason, `${message} (fingerprint ${fingerprint})`, verifyCode);
    }
    warnings.push({
      kind: tolerance,
      message: `${message}; tolerated by ${tolerance}`,
      fingerprint,
      ...(verifyCode ? { verifyCode } : {}),
    });
  };
  const pinned = pinnedFingerprints(options.pinned).has(fingerprint);
  const authError = socket.authorizationError as unknown as string | Error | null | undefined;
  const code =
    authError === null || authError === undefined
      ? undefined
      : typeof authError === "string"
        ? authError
        : ((authError as NodeJS.ErrnoException).code ?? authError.message);
  if (code !== undefined) {
    const reason = classify(code);
    // A pin replaces chain trust, nothing else: an expired or revoked pinned certificate is still refused.
    if (!(pinned && reason === "untrustedRoot"))
      tolerate(reason, `certificate verification failed: ${code}`, code);
  }
  // Dates are checked explicitly too: when the chain error was "untrusted", OpenSSL may not report expiry.
  if (code === undefined || !EXPIRED_CODES.has(code)) {
    const now = Date.now();
    const notBefore = Date.parse(peer.valid_from);
    const notAfter = Date.parse(peer.valid_to);
    if (Number.isFinite(notAfter) && now > notAfter)
      tolerate("expired", `certificate expired on ${peer.valid_to}`, "CERT_HAS_EXPIRED");
    else if (Number.isFinite(notBefore) && now < notBefore)
      tolerate("expired", `certificate not valid before ${peer.valid_from}`, "CERT_NOT_YET_VALID");
  }
  if (context.role === "client" && context.expectedName !== undefined) {
    const mismatch = checkServerIdentity(context.expectedName, peer as PeerCertificate);
    if (mismatch !== undefined)
      tolerate("nameMismatch", mismatch.message, (mismatch as NodeJS.ErrnoException).code);
  }
  const protocol = socket.getProtocol();
  if (protocol !== null && protocol !== "TLSv1.3") {
    warnings.push({
      kind: "legacyTlsVersion",
      message: `negotiated ${protocol}, older than TLSv1.3`,
      fingerprint,
    });
  }
  return warnings;
}

/** Node TLS context options shared by both socket roles. */
export function nodeTlsOptions(options: TlsOptions): {
  ca?: PemOrDer[];
  cert?: PemOrDer;
  key?: PemOrDer;
  crl?: PemOrDer[];
  minVersion: "TLSv1.2" | "TLSv1.3";
  maxVersion?: "TLSv1.2" | "TLSv1.3";
  rejectUnauthorized: false;
} {
  const list = (v: PemOrDer | readonly PemOrDer[] | undefined) =>
    v === undefined ? undefined : Array.isArray(v) ? [...(v as PemOrDer[])] : [v as PemOrDer];
  const ca = list(options.ca);
  const crl = list(options.crl);
  return {
    ...(ca ? { ca } : {}),
    ...(options.cert ? { cert: options.cert } : {}),
    ...(options.key ? { key: options.key } : {}),
    ...(crl ? { crl } : {}),
    minVersion: options.minVersion ?? "TLSv1.2",
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    rejectUnauthorized: false,
  };
}
