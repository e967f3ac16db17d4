/** Shared result types. */

/** Codes of path-validation errors (a returned finding, not an exception). */
export type PathErrorCode =
  | "CHAIN_NO_ANCHOR"
  | "PATH_BUDGET_EXCEEDED"
  | "CERT_EXPIRED"
  | "CERT_NOT_YET_VALID"
  | "SIGNATURE_INVALID"
  | "SIGNATURE_ALGORITHM_DISALLOWED"
  | "SIGNATURE_ALGORITHM_MISMATCH"
  | "PUBLIC_KEY_DISALLOWED"
  | "ISSUER_NOT_CA"
  | "ISSUER_NAME_MISMATCH"
  | "PATH_LENGTH_EXCEEDED"
  | "MAX_DEPTH_EXCEEDED"
  | "KEY_USAGE_INVALID"
  | "EKU_MISMATCH"
  | "NAME_CONSTRAINT_VIOLATION"
  | "NAME_CONSTRAINT_INVALID"
  | "UNKNOWN_CRITICAL_EXTENSION"
  | "NO_VALID_POLICY"
  | "DUPLICATE_EXTENSION"
  | "MALFORMED_CERTIFICATE"
  | "MALFORMED_EXTENSION"
  | "PROFILE_VIOLATION"
  | "CERT_REVOKED"
  | "REVOCATION_UNKNOWN"
  | "NAME_MISMATCH"
  | "IP_MISMATCH";

/** Codes of the USP / STTP flows, in addition to {@link PathErrorCode}. */
export type FlowErrorCode =
  | "NO_PEER_CERTIFICATE"
  | "TOFU_REFUSED"
  | "EID_MISSING"
  | "EID_MISMATCH"
  | "EID_WILDCARD_NOT_ALLOWED";

/** Codes of warnings: a relaxation that was actually used, or a check that was skipped. */
export type WarningCode =
  | "TIME_UNKNOWN"
  | "TOFU_ACCEPTED"
  | "SPECIAL_USE_DOMAIN_NAME_NOT_CHECKED"
  | "REVOCATION_NOT_CHECKED"
  | "REVOCATION_UNKNOWN"
  | "PROFILE_VIOLATION"
  | "OVERRIDE_NAME_MISMATCH"
  | "OVERRIDE_IP_MISMATCH"
  | "OVERRIDE_UNTRUSTED_ISSUER"
  | "OVERRIDE_VALIDITY"
  | "OVERRIDE_REVOCATION_UNKNOWN"
  | "OVERRIDE_CN_FALLBACK";

export type FindingCode = PathErrorCode | FlowErrorCode | WarningCode;

/** One error or warning. `depth` 0 is the peer certificate, counting up towards the anchor. */
export interface Finding {
  readonly code: FindingCode;
  readonly message: string;
  readonly depth?: number;
  /** SHA-256 of the DER of the certificate concerned, lower-case hex. */
  readonly certFingerprint?: string;
  /** For an OVERRIDE_* warning: the error it suppressed. */
  readonly suppressed?: FindingCode;
}

/** One step of a decision flow (the TR-369 figure), in the order it was evaluated. */
export interface TraceStep {
  /** Figure node, e.g. `dates`, `identity`, `ca-or-broker`. */
  readonly step: string;
  readonly level: "MUST" | "OPT" | "INFO";
  /** Which way the flow went: `yes`, `no`, `skipped` (OPT not done), `not-applicable`. */
  readonly branch: "yes" | "no" | "skipped" | "not-applicable";
  readonly reason: string;
  readonly code?: FindingCode;
}
