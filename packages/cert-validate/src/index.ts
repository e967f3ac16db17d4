/**
 * @packageDocumentation
 * `@x/cert-validate`: X.509 certificate path validation (RFC 5280 §6.1) for the USP MTPs, STTP and
 * SciStream, with the policies on top:
 *
 * - {@link validatePath}: path building with backtracking and a work budget, anchors that are roots,
 *   intermediates, pinned certificates or fingerprints, inclusive validity or no time at all
 *   (TR-369 R-MTP.2), basicConstraints/pathLen, KeyUsage/EKU, name constraints, critical
 *   extensions, signature policy, host/IP matching, CRLs.
 * - {@link evaluateUspCertificate}: the TR-369 figure "Receiving a X.509 Certificate" with a trace.
 * - {@link checkCertWithEid} / {@link determineRole}: the per-Record figures "Checking a Certificate"
 *   and "Determining the Role".
 * - {@link evaluateSttpCertificate}: strict STTP/SciStream policy with named, reported tolerances.
 * - {@link verifyTlsPeer}, {@link tlsConnect}, {@link createSecureServer}, {@link grpcVerifyOptions}:
 *   Node adapters that re-validate the peer before any application data.
 *
 * Everything is synchronous and does no I/O except the adapters.
 */

export {
  type AllowedUses,
  type AnchorMeta,
  type FingerprintAlgorithm,
  parseFingerprint,
  type TrustAnchor,
} from "./anchors.js";
export {
  type GeneralName,
  type ParsedCertificate,
  type PolicyInformation,
  type PolicyQualifier,
  parseCertificate,
} from "./cert.js";
export { type CrlInput, type ParsedCrl, parseCrl } from "./crl.js";
export {
  type EidMatch,
  endpointIdsFromCert,
  matchEndpointId,
  parseEndpointId,
  type UspVersionMode,
} from "./eid.js";
export {
  type CertErrorCode,
  CertInputError,
  CertificateRejectedError,
  CertOptionsError,
  CertParseError,
  CertValidationError,
} from "./errors.js";
export { dnsNameMatches, isSpecialUseLanDomain, matchHost, parseIp } from "./identity.js";
export type { CertInput } from "./input.js";
export {
  type LimboCaseResult,
  type LimboResult,
  type LimboSuite,
  type LimboTestcase,
  runLimboCase,
  runLimboSuite,
} from "./limbo.js";
export { formatName } from "./name.js";
export { ANY_POLICY, type PathPolicy, type PolicyInputs } from "./policy.js";
export {
  type CheckCertWithEidInput,
  type ControllerEntry,
  checkCertWithEid,
  determineRole,
  type RoleVerdict,
} from "./roles.js";
export { DEFAULT_SIGNATURE_ALGORITHMS } from "./signature.js";
export { evaluateSttpCertificate, type SttpPolicy, type SttpResult, type SttpTolerances } from "./sttp.js";
export {
  createSecureServer,
  decidePeer,
  grpcVerifyOptions,
  type PeerVerdict,
  peerChainOf,
  type SecureServerOptions,
  secureTlsOptions,
  type TlsConnectOptions,
  type TlsPeerPolicy,
  tlsConnect,
  verifyTlsPeer,
} from "./tls.js";
export type {
  Finding,
  FindingCode,
  FlowErrorCode,
  PathErrorCode,
  TraceStep,
  WarningCode,
} from "./types.js";
export {
  evaluateUspCertificate,
  type UspBasis,
  type UspContext,
  type UspDecision,
  type UspTarget,
} from "./usp.js";
export {
  DEFAULT_BUDGET,
  type KeyUsageName,
  type PathAnchorInfo,
  type PathBudget,
  type PathOptions,
  type PathResult,
  parseCertificateInput,
  type RevocationCallback,
  type TimeInput,
  validatePath,
} from "./validate.js";
