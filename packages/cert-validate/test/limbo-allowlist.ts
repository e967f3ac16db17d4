/**
 * x509-limbo cases where this validator deliberately disagrees with the suite's expectation.
 * Each entry names the expectation and why the RFC 5280 behaviour is kept for USP / STTP /
 * SciStream (private PKIs, not the CA/Browser Forum Web PKI). A listed case that conforms again
 * fails the test (stale entry), so the list only shrinks.
 */
export interface AllowEntry {
  readonly expected: "SUCCESS" | "FAILURE";
  readonly reason: string;
}

export const LIMBO_ALLOWLIST: Readonly<Record<string, AllowEntry>> = {
  "rfc5280::nc::permitted-dn-match": {
    expected: "SUCCESS",
    reason:
      "The leaf has subject CN=foo and only a directoryName SAN, yet the case asks for peer name example.com. " +
      "No name in the certificate can match it, and we never skip the requested host check (no CN fallback, " +
      "RFC 6125); OpenSSL rejects it for the same reason.",
  },
  "webpki::aki::root-with-aki-all-fields": {
    expected: "FAILURE",
    reason:
      "CABF-only rule. RFC 5280 §4.2.1.1 permits authorityCertIssuer + authorityCertSerialNumber next to the " +
      "keyIdentifier; USP operator PKIs built with OpenSSL defaults emit exactly this form on roots.",
  },
  "webpki::eku::ee-anyeku": {
    expected: "FAILURE",
    reason:
      "CABF 7.1.2.7.10 forbids anyExtendedKeyUsage next to serverAuth; RFC 5280 §4.2.1.12 allows it. The leaf " +
      "also asserts serverAuth explicitly, so the requested purpose is met; not a USP/STTP security property.",
  },
  "webpki::eku::ee-critical-eku": {
    expected: "FAILURE",
    reason:
      "CABF requires a non-critical EKU; RFC 5280 §4.2.1.12 lets the CA mark it either way, and a critical EKU " +
      "we understand and enforce only restricts the certificate further.",
  },
  "webpki::eku::ee-without-eku": {
    expected: "FAILURE",
    reason:
      "Conflicts with rfc5280::eku::ee-without-eku (SUCCESS). RFC 5280: an absent EKU means any purpose; " +
      "device PKIs (obuspa test certs, SciStream tutorial certs) often omit it.",
  },
  "webpki::eku::root-has-eku": {
    expected: "FAILURE",
    reason:
      "CABF forbids EKU on roots; RFC 5280 does not define EKU on trust anchors and the anchor's EKU is not " +
      "part of path validation. Operator USP roots sometimes carry clientAuth/serverAuth.",
  },
  "webpki::nc::permitted-dns-match-noncritical": {
    expected: "SUCCESS",
    reason:
      "Conflicts with rfc5280::nc::permitted-dns-match-noncritical (FAILURE). RFC 5280 §4.2.1.10: name " +
      "constraints MUST be critical; a non-critical one is rejected so an intermediate cannot appear " +
      "constrained to us while unconstrained to others (lenient profile turns this into a warning).",
  },
  "webpki::san::san-critical-with-nonempty-subject": {
    expected: "FAILURE",
    reason:
      "RFC 5280 §4.2.1.6 only says SHOULD be non-critical when the subject is non-empty; we process the SAN, " +
      "so its criticality is harmless. Rejecting would break USP certificates that mark the EID SAN critical.",
  },
};
