/**
 * USP Endpoint IDs (TR-369 "Endpoint Identifier"):
 * `authority-scheme ":" [authority-id] ":" instance-id`, optionally as `urn:bbf:usp:id:...`.
 */
import { EndpointIdError } from "./errors.js";

/** The authority schemes of TR-369 1.4 (R-ARC.2a). */
export const AUTHORITY_SCHEMES = Object.freeze([
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
] as const);

export type AuthorityScheme = (typeof AUTHORITY_SCHEMES)[number];

export interface EndpointId {
  readonly authorityScheme: string;
  /** Empty when the ID has none (`self::agent`). */
  readonly authorityId: string;
  readonly instanceId: string;
}

/** The `urn:bbf:usp:id:` prefix an Endpoint ID carries inside certificates (SAN URI). */
export const ENDPOINT_ID_URN_PREFIX = "urn:bbf:usp:id:";

/** R-ARC.6. */
export const MAX_INSTANCE_ID_LENGTH = 50;

// R-ARC.5: unreserved = ALPHA / DIGIT / "-" / "." / "_" ; pct-encoded = "%" HEXDIG HEXDIG.
const INSTANCE_ID = /^(?:[A-Za-z0-9\-._]|%[0-9A-Fa-f]{2})+$/;
const NON_RESERVED_0_6 = /^[A-Za-z0-9\-._]{0,6}$/;
const NON_RESERVED_NO_DOT_0_6 = /^[A-Za-z0-9\-_]{0,6}$/;
const HEX6 = /^[0-9A-Fa-f]{6}$/;
// Since 1.4 an OUI-scheme authority may be an MA-L (6), MA-M (7) or MA-S (9) hex assignment.
const OUI = /^(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{7}|[0-9A-Fa-f]{9})$/;
const DECIMAL = /^[0-9]+$/;
const DNS_NAME =
  /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkAuthority(scheme: string, authorityId: string): string | undefined {
  switch (scheme) {
    case "oui":
      return OUI.test(authorityId) ? undefined : "oui authority-id must be 6, 7 or 9 hex characters";
    case "cid":
      return HEX6.test(authorityId) ? undefined : "cid authority-id must be 6 hex characters";
    case "pen":
      return DECIMAL.test(authorityId) ? undefined : "pen authority-id must be a decimal number";
    case "self":
    case "user":
    case "doc":
      return NON_RESERVED_0_6.test(authorityId)
        ? undefined
        : `${scheme} authority-id must be 0-6 unreserved characters`;
    case "proto":
      return NON_RESERVED_NO_DOT_0_6.test(authorityId)
        ? undefined
        : "proto authority-id must be 0-6 unreserved characters other than '.'";
    case "os":
    case "ops":
    case "uuid":
    case "imei":
      return authorityId === "" ? undefined : `${scheme} authority-id must be empty`;
    case "fqdn":
      return authorityId === "" || DNS_NAME.test(authorityId)
        ? undefined
        : "fqdn authority-id must be a DNS name";
    default:
      return `unknown authority-scheme "${scheme}"`;
  }
}

/** Why `id` is not a valid Endpoint ID, or undefined when it is. */
function endpointIdProblem(id: string): { problem: string } | EndpointId {
  if (typeof id !== "string") return { problem: "not a string" };
  const text = id.startsWith(ENDPOINT_ID_URN_PREFIX) ? id.slice(ENDPOINT_ID_URN_PREFIX.length) : id;
  const first = text.indexOf(":");
  if (first <= 0) return { problem: "missing authority-scheme" };
  const second = text.indexOf(":", first + 1);
  if (second < 0) return { problem: "missing ':' before instance-id" };
  const authorityScheme = text.slice(0, first);
  const authorityId = text.slice(first + 1, second);
  const instanceId = text.slice(second + 1);
  const authorityProblem = checkAuthority(authorityScheme, authorityId);
  if (authorityProblem !== undefined) return { problem: authorityProblem };
  if (instanceId.length === 0) return { problem: "empty instance-id" };
  if (instanceId.length > MAX_INSTANCE_ID_LENGTH)
    return { problem: "instance-id longer than 50 characters (R-ARC.6)" };
  if (!INSTANCE_ID.test(instanceId)) {
    return { problem: "instance-id has characters other than unreserved or pct-encoded (R-ARC.5)" };
  }
  return { authorityScheme, authorityId, instanceId };
}

/**
 * Splits an Endpoint ID into its three parts, checking the syntax of TR-369 1.4 (known
 * authority scheme, authority-id format per scheme, instance-id characters and length).
 * A `urn:bbf:usp:id:` prefix is accepted and removed.
 * @throws {EndpointIdError}
 */
export function parseEndpointId(id: string): EndpointId {
  const result = endpointIdProblem(id);
  if ("problem" in result)
    throw new EndpointIdError(String(id), `invalid Endpoint ID ${JSON.stringify(id)}: ${result.problem}`);
  return result;
}

// Endpoint IDs repeat on every Record of a conversation, so valid ones are remembered. Only valid
// IDs are cached, and the cache is bounded (cleared when full), so hostile input cannot grow it.
const VALID_CACHE_LIMIT = 1024;
const validCache = new Set<string>();

/** True when {@link parseEndpointId} would accept `id`. Never throws. */
export function isValidEndpointId(id: string): boolean {
  return explainEndpointId(id) === undefined;
}

/** The problem text for `id`, or undefined when valid (used by Record validation for its messages). */
export function explainEndpointId(id: string): string | undefined {
  if (validCache.has(id)) return undefined;
  const result = endpointIdProblem(id);
  if ("problem" in result) return result.problem;
  if (validCache.size >= VALID_CACHE_LIMIT) validCache.clear();
  validCache.add(id);
  return undefined;
}

/** Formats the three parts as an Endpoint ID (validated). */
export function formatEndpointId(parts: EndpointId): string {
  const id = `${parts.authorityScheme}:${parts.authorityId}:${parts.instanceId}`;
  parseEndpointId(id);
  return id;
}
