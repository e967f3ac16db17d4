/**
 * Endpoint IDs on the WebSocket handshake: the `eid` query parameter (R-WS.10b/10c), the
 * deprecated `bbf-usp-protocol` extension header (R-WS.10a/11a) and the USP Endpoint ID in a
 * certificate's SAN URI (`urn:bbf:usp:id:<eid>`).
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const utf8 = new TextEncoder();

/**
 * Percent-encodes an Endpoint ID for the `eid` query value. Every byte outside the URI unreserved
 * set is encoded, like OB-USP-Agent; in particular `%` becomes `%25` (R-WS.10c).
 */
export function encodeEidQueryValue(endpointId: string): string {
  let out = "";
  for (const ch of endpointId) {
    if (UNRESERVED.test(ch)) out += ch;
    else for (const b of utf8.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Appends `eid=<encoded>` to a URL's query, keeping other query data (R-WS.10b). */
export function withEidQuery(url: string, endpointId: string): string {
  const hashAt = url.indexOf("#");
  const base = hashAt === -1 ? url : url.slice(0, hashAt);
  const sep = base.includes("?") ? (base.endsWith("?") || base.endsWith("&") ? "" : "&") : "?";
  return `${base}${sep}eid=${encodeEidQueryValue(endpointId)}`;
}

/**
 * The `eid` query value of a request target, percent-decoded exactly once, or undefined when
 * absent. `+` stays `+` (this is RFC 3986 percent-encoding, not form encoding).
 * @throws {URIError} on a malformed percent sequence.
 */
export function eidFromRequestTarget(target: string): string | undefined {
  const q = target.indexOf("?");
  if (q === -1) return undefined;
  const hashAt = target.indexOf("#", q);
  const query = target.slice(q + 1, hashAt === -1 ? undefined : hashAt);
  for (const part of query.split("&")) {
    const eq = part.indexOf("=");
    const name = eq === -1 ? part : part.slice(0, eq);
    if (name === "eid") return decodeURIComponent(eq === -1 ? "" : part.slice(eq + 1));
  }
  return undefined;
}

/** The path of a request target, without query or fragment. */
export function pathOfRequestTarget(target: string): string {
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

export const USP_EXTENSION = "bbf-usp-protocol";

/** `bbf-usp-protocol; eid="<id>"` (RFC 6455 §9.1 quoted-string form). */
export function formatUspExtension(endpointId: string): string {
  return `${USP_EXTENSION}; eid="${endpointId.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export interface ParsedExtensions {
  /** The `eid` parameter of the `bbf-usp-protocol` extension, when present. */
  readonly uspEid: string | undefined;
  /** Whether a `bbf-usp-protocol` extension was present at all. */
  readonly hasUsp: boolean;
  /** The header value with the `bbf-usp-protocol` entries removed ("" when nothing is left). */
  readonly rest: string;
}

/** Splits on `sep` outside quoted strings. */
function splitOutsideQuotes(value: string, sep: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === "\\" && i + 1 < value.length) {
      current += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && c === sep) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, "$1");
  return v;
}

/** Parses a `Sec-WebSocket-Extensions` header value (one string or several header lines). */
export function parseExtensions(header: string | readonly string[] | undefined): ParsedExtensions {
  const value = header === undefined ? "" : typeof header === "string" ? header : header.join(",");
  let uspEid: string | undefined;
  let hasUsp = false;
  const rest: string[] = [];
  for (const entry of splitOutsideQuotes(value, ",")) {
    if (entry.trim() === "") continue;
    const [name, ...params] = splitOutsideQuotes(entry, ";");
    if (name?.trim().toLowerCase() !== USP_EXTENSION) {
      rest.push(entry.trim());
      continue;
    }
    hasUsp = true;
    for (const p of params) {
      const eq = p.indexOf("=");
      if (eq !== -1 && p.slice(0, eq).trim().toLowerCase() === "eid") uspEid = unquote(p.slice(eq + 1));
    }
  }
  return { uspEid, hasUsp, rest: rest.join(", ") };
}

const USP_URN_PREFIX = "urn:bbf:usp:id:";

/**
 * USP Endpoint IDs named by a certificate's SAN URIs (`urn:bbf:usp:id:<eid>`), from Node's
 * `subjectaltname` string (e.g. `URI:urn:bbf:usp:id:proto::agent, DNS:localhost`).
 */
export function endpointIdsFromSubjectAltName(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === "") return [];
  const ids: string[] = [];
  for (const entry of splitOutsideQuotes(subjectAltName, ",")) {
    const e = entry.trim();
    if (!e.startsWith("URI:")) continue;
    const uri = unquote(e.slice(4));
    if (uri.toLowerCase().startsWith(USP_URN_PREFIX)) ids.push(uri.slice(USP_URN_PREFIX.length));
  }
  return ids;
}
