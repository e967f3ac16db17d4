/**
 * The STTP (IEEE 2664) / SciStream peer policy: strict by default, with named tolerances. Each
 * tolerance suppresses only its own error class; every tolerance actually used is reported as an
 * `OVERRIDE_*` warning carrying the suppressed error. A pinned peer certificate is trust
 * configuration, not a relaxation, and produces no warning.
 */
import type { TrustAnchor } from "./anchors.js";
import type { ParsedCertificate } from "./cert.js";
import type { CrlInput } from "./crl.js";
import { endpointIdsFromCert } from "./eid.js";
import type { CertInput } from "./input.js";
import type { PathPolicy, PolicyInputs } from "./policy.js";
import type { Finding, FindingCode, PathErrorCode, WarningCode } from "./types.js";
import {
  type PathAnchorInfo,
  type PathBudget,
  type RevocationCallback,
  type TimeInput,
  validatePath,
} from "./validate.js";

/** The STTP tolerances; all default to false. */
export interface SttpTolerances {
  /** Host name / CN mismatch → `OVERRIDE_NAME_MISMATCH`. */
  readonly allowNameMismatch?: boolean;
  /** IP address not in the certificate (NAT) → `OVERRIDE_IP_MISMATCH`. */
  readonly allowIpMismatch?: boolean;
  /** Issuer unknown / unpinned self-signed → `OVERRIDE_UNTRUSTED_ISSUER`. */
  readonly allowUntrustedIssuer?: boolean;
  /** Expired or not yet valid → `OVERRIDE_VALIDITY`. */
  readonly allowExpired?: boolean;
  /** Revocation status unobtainable → `OVERRIDE_REVOCATION_UNKNOWN`. */
  readonly allowRevocationUnknown?: boolean;
  /** Legacy CN-only certificates → `OVERRIDE_CN_FALLBACK`. */
  readonly allowCommonNameFallback?: boolean;
}

/** Certificate-policy inputs (RFC 5280 §6.1.1) are passed to {@link validatePath} unchanged. */
export interface SttpPolicy extends SttpTolerances, PolicyInputs {
  /** CA anchors, pinned peer certificates or fingerprints. */
  readonly anchors: readonly TrustAnchor[];
  /** Validation time; default: now. `"none"` skips validity (reported as TIME_UNKNOWN). */
  readonly time?: TimeInput;
  /** Expected peer host name (DNS) — omit to skip the name check. */
  readonly host?: string;
  /** Expected peer IP address — omit to skip. */
  readonly ip?: string;
  /** Required EKU of the peer (`serverAuth` when we are the TLS client, `clientAuth` when server). */
  readonly purpose?: "serverAuth" | "clientAuth";
  readonly crls?: CrlInput;
  readonly revocation?: RevocationCallback;
  /** When a revocation source is configured, unknown status is an error (default true). */
  readonly requireRevocation?: boolean;
  readonly profile?: "rfc5280" | "lenient";
  readonly budget?: Partial<PathBudget>;
  readonly signatureAlgorithms?: readonly string[];
  /** Extra untrusted intermediates. */
  readonly intermediates?: CertInput;
}

export interface SttpResult {
  readonly ok: boolean;
  readonly errors: readonly Finding[];
  /** Includes one `OVERRIDE_*` warning per tolerance actually used. */
  readonly warnings: readonly Finding[];
  readonly path: readonly ParsedCertificate[];
  readonly anchor: PathAnchorInfo | undefined;
  readonly endpointIds: readonly string[];
  readonly peer: ParsedCertificate | undefined;
  /** Certificate policies the path is valid for (see {@link PathResult.policies}). */
  readonly policies?: readonly PathPolicy[];
}

const OVERRIDE_OF: Partial<Record<PathErrorCode, WarningCode>> = {
  NAME_MISMATCH: "OVERRIDE_NAME_MISMATCH",
  IP_MISMATCH: "OVERRIDE_IP_MISMATCH",
  CHAIN_NO_ANCHOR: "OVERRIDE_UNTRUSTED_ISSUER",
  CERT_EXPIRED: "OVERRIDE_VALIDITY",
  CERT_NOT_YET_VALID: "OVERRIDE_VALIDITY",
  REVOCATION_UNKNOWN: "OVERRIDE_REVOCATION_UNKNOWN",
};

/** Evaluates a peer chain under the STTP policy (also used for SciStream's control channel). */
export function evaluateSttpCertificate(chain: CertInput, policy: SttpPolicy): SttpResult {
  const tolerate: PathErrorCode[] = [];
  if (policy.allowNameMismatch) tolerate.push("NAME_MISMATCH");
  if (policy.allowIpMismatch) tolerate.push("IP_MISMATCH");
  if (policy.allowUntrustedIssuer) tolerate.push("CHAIN_NO_ANCHOR");
  if (policy.allowExpired) tolerate.push("CERT_EXPIRED", "CERT_NOT_YET_VALID");
  if (policy.allowRevocationUnknown) tolerate.push("REVOCATION_UNKNOWN");
  const hasRevocationSource = policy.crls !== undefined || policy.revocation !== undefined;
  const r = validatePath(chain, {
    anchors: policy.anchors,
    intermediates: policy.intermediates,
    time: policy.time ?? new Date(),
    host: policy.host,
    ip: policy.ip,
    purpose: policy.purpose,
    crls: policy.crls,
    revocation: policy.revocation,
    requireRevocation: hasRevocationSource && policy.requireRevocation !== false,
    allowCommonNameFallback: policy.allowCommonNameFallback,
    profile: policy.profile,
    budget: policy.budget,
    signatureAlgorithms: policy.signatureAlgorithms,
    initialPolicies: policy.initialPolicies,
    requireExplicitPolicy: policy.requireExplicitPolicy,
    inhibitPolicyMapping: policy.inhibitPolicyMapping,
    inhibitAnyPolicy: policy.inhibitAnyPolicy,
    tolerate,
  });
  const warnings: Finding[] = [...r.warnings];
  for (const t of r.tolerated) {
    const code = OVERRIDE_OF[t.code as PathErrorCode];
    if (code)
      warnings.push({ ...t, code, suppressed: t.code as FindingCode, message: `tolerated: ${t.message}` });
  }
  return {
    ok: r.ok,
    errors: r.errors,
    warnings,
    path: r.path,
    anchor: r.anchor,
    endpointIds: r.peer ? endpointIdsFromCert(r.peer) : [],
    peer: r.peer,
    policies: r.policies,
  };
}
