/**
 * The default peer evaluation: `@x/cert-validate`'s STTP policy (its own path building, name/IP
 * matching, validity, CRLs and named tolerances), applied to the chain the peer presented. Each
 * tolerance it used comes back as an `OVERRIDE_*` warning and is reported as a {@link SecurityWarning}.
 */

import { isIP } from "node:net";
import { rootCertificates, type TLSSocket } from "node:tls";
import { CertificateRejectedError, type SttpPolicy, type TrustAnchor, verifyTlsPeer } from "@x/cert-validate";
import { SttpConfigError, SttpTlsPolicyError, type TlsFailureReason } from "./errors.js";
import {
  fingerprintSha256,
  type PeerContext,
  type PemOrDer,
  type SecurityWarning,
  type SecurityWarningKind,
} from "./tls-policy.js";

const REASON_OF: Record<string, TlsFailureReason> = {
  NAME_MISMATCH: "nameMismatch",
  IP_MISMATCH: "nameMismatch",
  CHAIN_NO_ANCHOR: "untrustedRoot",
  CERT_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "expired",
  REVOCATION_UNKNOWN: "revocationUnknown",
  CERT_REVOKED: "revoked",
  NO_PEER_CERTIFICATE: "noPeerCertificate",
};

const WARNING_OF: Record<string, SecurityWarningKind> = {
  OVERRIDE_NAME_MISMATCH: "allowNameMismatch",
  OVERRIDE_IP_MISMATCH: "allowNameMismatch",
  OVERRIDE_UNTRUSTED_ISSUER: "allowUntrustedRoot",
  OVERRIDE_VALIDITY: "allowExpired",
  OVERRIDE_REVOCATION_UNKNOWN: "allowRevocationUnknown",
};

function list(value: PemOrDer | readonly PemOrDer[] | undefined): PemOrDer[] {
  return value === undefined ? [] : Array.isArray(value) ? [...(value as PemOrDer[])] : [value as PemOrDer];
}

/** PEM stays text (also when read from a file into a Buffer); anything else is DER. */
function certInput(value: PemOrDer): string | Uint8Array {
  if (typeof value === "string") return value;
  const head = value.subarray(0, 64).toString("latin1");
  return head.includes("-----BEGIN") ? value.toString("latin1") : new Uint8Array(value);
}

function anchorsOf(context: PeerContext): TrustAnchor[] {
  const o = context.options;
  const anchors: TrustAnchor[] = [];
  // Without a CA bundle, Node's bundled roots are the trust store (as for Node's own verification).
  const cas = o.ca === undefined ? [...rootCertificates] : list(o.ca);
  for (const ca of cas) anchors.push(certInput(ca));
  for (const pin of o.pinned ?? []) {
    if (typeof pin === "string" && /^([0-9a-f]{2}:?){32}$/i.test(pin.trim())) {
      anchors.push({ fingerprint: `sha256:${pin.trim().replace(/:/g, "")}` });
    } else anchors.push(certInput(pin));
  }
  return anchors;
}

export function evaluatePeerWithCertValidate(socket: TLSSocket, context: PeerContext): SecurityWarning[] {
  const o = context.options;
  const t = o.tolerances ?? {};
  const peer = socket.getPeerCertificate(true);
  const raw = (peer as { raw?: Buffer } | undefined)?.raw;
  if (!raw || raw.length === 0) {
    if (context.role === "server" && o.requireClientCertificate === false) {
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
  const name = context.role === "client" ? context.expectedName : undefined;
  const policy: SttpPolicy = {
    anchors: anchorsOf(context),
    purpose: context.role === "client" ? "serverAuth" : "clientAuth",
    ...(name !== undefined ? (isIP(name) ? { ip: name } : { host: name }) : {}),
    ...(o.crl !== undefined ? { crls: list(o.crl).map(certInput) } : {}),
    allowNameMismatch: t.allowNameMismatch === true,
    allowIpMismatch: t.allowNameMismatch === true,
    allowUntrustedIssuer: t.allowUntrustedRoot === true,
    allowExpired: t.allowExpired === true,
    allowRevocationUnknown: t.allowRevocationUnknown === true,
  };
  let warnings: SecurityWarning[];
  try {
    const verdict = verifyTlsPeer(socket, { kind: "sttp", policy, disableResumption: true });
    warnings = [];
    for (const w of verdict.warnings) {
      const kind = WARNING_OF[w.code];
      if (kind)
        warnings.push({
          kind,
          message: `${w.message}; tolerated by ${kind}`,
          fingerprint,
          verifyCode: w.suppressed ?? w.code,
        });
    }
  } catch (error) {
    if (error instanceof CertificateRejectedError) {
      const reason = REASON_OF[error.reason] ?? "invalid";
      throw new SttpTlsPolicyError(
        reason,
        `certificate rejected (${error.reason}): ${error.message} (fingerprint ${fingerprint})`,
        error.reason,
        { cause: error },
      );
    }
    // Anything else is our trust configuration (an unreadable CA, pin or CRL), not the peer.
    throw new SttpConfigError(`TLS trust configuration is unusable: ${(error as Error).message}`, {
      cause: error,
    });
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
