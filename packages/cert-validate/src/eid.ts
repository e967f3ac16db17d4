/**
 * USP Endpoint IDs in certificates (TR-369 R-SEC.0a, R-SEC.10/11/12, R-ARC.4–6):
 * `urn:bbf:usp:id:<scheme>:<authority-id>:<instance-id>` URI SANs, and (USP 1.3+) the `fqdn`
 * scheme's instance-id as a dNSName SAN.
 */
import type { ParsedCertificate } from "./cert.js";
import { isValidDnsName, normaliseHost } from "./identity.js";
import type { CertInput } from "./input.js";
import { parseCertificateInput } from "./validate.js";

export type UspVersionMode = "1.2" | "1.3+" | "any";

const SCHEMES = new Set([
  "oui",
  "cid",
  "pen",
  "self",
  "user",
  "os",
  "ops",
  "uuid",
  "imei",
  "proto",
  "doc",
  "fqdn",
]);
const WILDCARD_SCHEMES = new Set(["oui", "cid", "pen", "os", "ops"]);
const URN_PREFIX = /^urn:bbf:usp:id:/i;
const INSTANCE_RE = /^([A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+$/;

export interface ParsedEndpointId {
  readonly scheme: string;
  readonly authorityId: string;
  readonly instanceId: string;
}

/** Parses `scheme:authority:instance` (without the URN prefix); undefined when malformed. */
export function parseEndpointId(eid: string, allowWildcard = false): ParsedEndpointId | undefined {
  const first = eid.indexOf(":");
  const second = eid.indexOf(":", first + 1);
  if (first <= 0 || second < 0) return undefined;
  const scheme = eid.slice(0, first);
  const authorityId = eid.slice(first + 1, second);
  const instanceId = eid.slice(second + 1);
  if (!SCHEMES.has(scheme)) return undefined;
  const inst = allowWildcard ? instanceId.replace(/\*/g, "x") : instanceId;
  if (!INSTANCE_RE.test(inst) || instanceId.length > 50) return undefined;
  if (/[^A-Za-z0-9._-]/.test(authorityId)) return undefined;
  return { scheme, authorityId, instanceId };
}

function asCert(c: ParsedCertificate | CertInput): ParsedCertificate {
  return typeof c === "object" && c !== null && "fingerprint256" in c && "tbs" in c
    ? (c as ParsedCertificate)
    : parseCertificateInput(c as CertInput);
}

/**
 * Endpoint IDs found in the certificate's SAN, in SAN order. URN URIs always (case-insensitive
 * `urn:bbf:`, literal `usp:id:`); in `1.3+`/`any` mode also `fqdn::<dNSName>` for each
 * non-wildcard dNSName. Wildcarded URN instance-ids (R-SEC.11) are returned as written.
 */
export function endpointIdsFromCert(
  cert: ParsedCertificate | CertInput,
  options: { readonly uspVersion?: UspVersionMode } = {},
): string[] {
  const c = asCert(cert);
  const out: string[] = [];
  for (const n of c.subjectAltNames ?? []) {
    if (n.kind === "uri" && URN_PREFIX.test(n.value) && /^.{4}.{4}usp:id:/.test(n.value)) {
      const eid = n.value.slice("urn:bbf:usp:id:".length);
      if (parseEndpointId(eid, true)) out.push(eid);
    }
  }
  if ((options.uspVersion ?? "any") !== "1.2")
    for (const n of c.subjectAltNames ?? [])
      if (n.kind === "dns" && isValidDnsName(n.value, false)) out.push(`fqdn::${normaliseHost(n.value)}`);
  return [...new Set(out)];
}

export type EidMatch =
  | { readonly ok: true; readonly matched: string; readonly wildcard: boolean }
  | {
      readonly ok: false;
      readonly code: "EID_MISSING" | "EID_MISMATCH" | "EID_WILDCARD_NOT_ALLOWED";
      readonly reason: string;
    };

function wildcardMatches(pattern: ParsedEndpointId, want: ParsedEndpointId): boolean {
  if (pattern.scheme !== want.scheme || pattern.authorityId !== want.authorityId) return false;
  if (!WILDCARD_SCHEMES.has(pattern.scheme)) return false;
  if (pattern.scheme === "os" || pattern.scheme === "ops") {
    const dash = pattern.instanceId.indexOf("-");
    if (dash < 0 || pattern.instanceId.slice(0, dash).includes("*")) return false;
  }
  const re = new RegExp(
    `^${pattern.instanceId
      .split("*")
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("([A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+")}$`,
  );
  return re.test(want.instanceId);
}

/** Whether the certificate carries `eid` (R-SEC.11/12 wildcards only when allowed). */
export function matchEndpointId(
  cert: ParsedCertificate | CertInput,
  eid: string,
  options: { readonly allowWildcard?: boolean; readonly uspVersion?: UspVersionMode } = {},
): EidMatch {
  const found = endpointIdsFromCert(cert, options);
  if (found.length === 0)
    return { ok: false, code: "EID_MISSING", reason: "no Endpoint ID in the certificate SAN" };
  if (found.includes(eid)) return { ok: true, matched: eid, wildcard: false };
  const want = parseEndpointId(eid);
  const wild = found.filter((f) => f.includes("*"));
  if (want && wild.length) {
    if (!options.allowWildcard)
      return {
        ok: false,
        code: "EID_WILDCARD_NOT_ALLOWED",
        reason: "wildcarded Endpoint IDs are not accepted",
      };
    for (const w of wild) {
      const p = parseEndpointId(w, true);
      if (p && wildcardMatches(p, want)) return { ok: true, matched: w, wildcard: true };
    }
  }
  return {
    ok: false,
    code: "EID_MISMATCH",
    reason: `certificate Endpoint IDs ${found.join(", ")} do not include ${eid}`,
  };
}
