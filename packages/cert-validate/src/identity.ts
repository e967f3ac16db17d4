/**
 * Peer identity: RFC 6125 host matching (no partial wildcards, no CN fallback unless asked), IP
 * literals against iPAddress SANs only, and the special-use LAN domains of the TR-369 figure.
 */
import { isIP } from "node:net";
import type { GeneralName, ParsedCertificate } from "./cert.js";
import { bytesEqual } from "./der.js";
import { commonNames } from "./name.js";

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lower-cases and drops one trailing dot. */
export function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** Whether a string is a syntactically valid DNS name (LDH labels, optional leading `*.`). */
export function isValidDnsName(name: string, allowWildcard: boolean): boolean {
  const n = normaliseHost(name);
  if (n.length === 0 || n.length > 253) return false;
  const labels = n.split(".");
  return labels.every(
    (l, i) => LABEL_RE.test(l) || (allowWildcard && i === 0 && l === "*" && labels.length > 1),
  );
}

/**
 * RFC 6125 match of one dNSName pattern against a host: a wildcard only as the whole left-most
 * label, matching exactly one label, and never directly over a one-label suffix (`*.com`).
 */
export function dnsNameMatches(pattern: string, host: string): boolean {
  const p = normaliseHost(pattern);
  const h = normaliseHost(host);
  if (!isValidDnsName(p, true) || !isValidDnsName(h, false)) return false;
  if (!p.startsWith("*.")) return p === h;
  const suffix = p.slice(2);
  if (!suffix.includes(".")) return false;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot + 1) === suffix;
}

/** Parses an IPv4 or IPv6 literal (optionally in brackets) into its bytes, or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  const s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const kind = isIP(s);
  if (kind === 4) return new Uint8Array(s.split(".").map(Number));
  if (kind !== 6) return undefined;
  let head = s;
  let v4: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    v4 = s
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    head = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [l, r] = head.includes("::") ? head.split("::") : [head, undefined];
  const left = l ? l.split(":") : [];
  const right = r !== undefined && r !== "" ? r.split(":") : [];
  const groups =
    r === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g as string, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (v4.length === 4) out.set(v4, 12);
  return out;
}

export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length === 16) {
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    return g.join(":");
  }
  return Buffer.from(b).toString("hex");
}

/** `.local` / `.home.arpa` (RFC 6762 / RFC 8375) with at least one label before the suffix. */
export function isSpecialUseLanDomain(host: string): boolean {
  const h = normaliseHost(host);
  return /^[^.]+(\.[^.]+)*\.(local|home\.arpa)$/.test(h);
}

export type HostMatch =
  | { readonly ok: true; readonly via: "dns" | "ip" | "cn" }
  | { readonly ok: false; readonly code: "NAME_MISMATCH" | "IP_MISMATCH"; readonly reason: string };

export interface HostMatchOptions {
  /** Fall back to the subject CN when the certificate has no dNSName SAN (off by default). */
  readonly allowCommonNameFallback?: boolean;
}

/** Matches a host name or IP literal against the certificate's SANs. */
export function matchHost(cert: ParsedCertificate, host: string, options: HostMatchOptions = {}): HostMatch {
  const sans: readonly GeneralName[] = cert.subjectAltNames ?? [];
  const ip = parseIp(host);
  if (ip) {
    for (const n of sans) if (n.kind === "ip" && bytesEqual(n.bytes, ip)) return { ok: true, via: "ip" };
    return { ok: false, code: "IP_MISMATCH", reason: `no iPAddress SAN equals ${host}` };
  }
  const dns = sans.filter((n): n is Extract<GeneralName, { kind: "dns" }> => n.kind === "dns");
  for (const n of dns) if (dnsNameMatches(n.value, host)) return { ok: true, via: "dns" };
  if (dns.length === 0 && options.allowCommonNameFallback) {
    for (const cn of commonNames(cert.subject)) if (dnsNameMatches(cn, host)) return { ok: true, via: "cn" };
  }
  return {
    ok: false,
    code: "NAME_MISMATCH",
    reason: dns.length
      ? `host ${host} matches none of ${dns.map((d) => d.value).join(", ")}`
      : `host ${host}: the certificate has no dNSName SAN`,
  };
}

/** Matches an RFC 822 address against rfc822Name SANs (local part exact, domain case-insensitive). */
export function matchEmail(cert: ParsedCertificate, email: string): boolean {
  const at = email.lastIndexOf("@");
  if (at <= 0) return false;
  const want = `${email.slice(0, at)}@${email.slice(at + 1).toLowerCase()}`;
  return (cert.subjectAltNames ?? []).some((n) => {
    if (n.kind !== "email") return false;
    const a = n.value.lastIndexOf("@");
    return a > 0 && `${n.value.slice(0, a)}@${n.value.slice(a + 1).toLowerCase()}` === want;
  });
}
