/**
 * RFC 5280 §4.2.1.10 name constraints for dNSName, iPAddress, rfc822Name, URI and directoryName.
 * Permitted subtrees are kept per CA rather than intersected: a name must satisfy every CA's
 * permitted set of its type, which is what the intersection means, without computing it.
 * Every comparison is counted against a budget so hostile inputs fail fast.
 */
import type { GeneralName, NameConstraints, ParsedCertificate } from "./cert.js";
import { isValidDnsName, normaliseHost } from "./identity.js";
import { type DistinguishedName, dnWithin, OID_EMAIL } from "./name.js";

type Kind = "dns" | "ip" | "email" | "uri" | "dn";

export interface ConstraintState {
  /** One entry per constraining CA: that CA's permitted names of one kind. */
  readonly permitted: { readonly kind: Kind; readonly names: readonly GeneralName[] }[];
  readonly excluded: GeneralName[];
}

export class ConstraintBudgetExceeded extends Error {}

export interface Counter {
  remaining: number;
}

function tick(counter: Counter): void {
  if (--counter.remaining < 0)
    throw new ConstraintBudgetExceeded("name-constraint comparison budget exceeded");
}

/** Returns a reason when a constraint base is malformed (and hence the whole path is invalid). */
export function constraintDefect(nc: NameConstraints): string | undefined {
  for (const n of [...nc.permitted, ...nc.excluded]) {
    if (n.kind === "dns") {
      const v = n.value.startsWith(".") ? n.value.slice(1) : n.value;
      if (v !== "" && !isValidDnsName(v, false))
        return `invalid dNSName constraint ${JSON.stringify(n.value)}`;
    } else if (n.kind === "ip") {
      const half = n.bytes.length / 2;
      const mask = n.bytes.subarray(half);
      let zero = false;
      for (const byte of mask)
        for (let bit = 7; bit >= 0; bit--) {
          const on = (byte >> bit) & 1;
          if (on && zero) return "iPAddress constraint mask is not contiguous";
          if (!on) zero = true;
        }
    } else if (n.kind === "uri") {
      const v = n.value.startsWith(".") ? n.value.slice(1) : n.value;
      if (!isValidDnsName(v, false)) return `invalid URI constraint ${JSON.stringify(n.value)}`;
    }
  }
  return undefined;
}

export function emptyConstraintState(): ConstraintState {
  return { permitted: [], excluded: [] };
}

export function addConstraints(state: ConstraintState, nc: NameConstraints): void {
  const byKind = new Map<Kind, GeneralName[]>();
  for (const n of nc.permitted) {
    if (n.kind === "other") continue;
    const list = byKind.get(n.kind) ?? [];
    list.push(n);
    byKind.set(n.kind, list);
  }
  for (const [kind, names] of byKind) state.permitted.push({ kind, names });
  for (const n of nc.excluded) if (n.kind !== "other") state.excluded.push(n);
}

function dnsWithin(name: string, base: string): boolean {
  const n = normaliseHost(name);
  const b = base.toLowerCase();
  if (b === "") return true;
  if (b.startsWith(".")) return n.endsWith(b);
  return n === b || n.endsWith(`.${b}`);
}

function ipWithin(addr: Uint8Array, base: Uint8Array): boolean {
  const half = base.length / 2;
  if (addr.length !== half) return false;
  for (let i = 0; i < half; i++)
    if ((addr[i]! & base[half + i]!) !== (base[i]! & base[half + i]!)) return false;
  return true;
}

function emailWithin(mail: string, base: string): boolean {
  const at = mail.lastIndexOf("@");
  if (at <= 0) return false;
  const domain = mail.slice(at + 1).toLowerCase();
  if (base.includes("@")) {
    const bat = base.lastIndexOf("@");
    return mail.slice(0, at) === base.slice(0, bat) && domain === base.slice(bat + 1).toLowerCase();
  }
  const b = base.toLowerCase();
  if (b.startsWith(".")) return domain.endsWith(b);
  return domain === b;
}

/** Host of a URI, or undefined when it has no authority with a host (e.g. `urn:bbf:usp:id:…`). */
export function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(uri);
  const host = m?.[1];
  return host ? host.toLowerCase() : undefined;
}

function uriWithin(host: string, base: string): boolean {
  const b = base.toLowerCase();
  if (b.startsWith(".")) return host.endsWith(b);
  return host === b;
}

function within(name: GeneralName, base: GeneralName, counter: Counter): boolean {
  tick(counter);
  if (name.kind !== base.kind) return false;
  switch (name.kind) {
    case "dns":
      return dnsWithin(name.value, (base as typeof name).value);
    case "ip":
      return ipWithin(name.bytes, (base as typeof name).bytes);
    case "email":
      return emailWithin(name.value, (base as typeof name).value);
    case "uri": {
      const host = uriHost(name.value);
      return host !== undefined && uriWithin(host, (base as typeof name).value);
    }
    case "dn":
      return dnWithin(name.name, (base as typeof name).name);
    default:
      return false;
  }
}

/** The names of a certificate that constraints apply to. */
export function constrainedNames(cert: ParsedCertificate): GeneralName[] {
  const out: GeneralName[] = [];
  if (!cert.subject.empty) out.push({ kind: "dn", name: cert.subject as DistinguishedName });
  for (const rdn of cert.subject.rdns)
    for (const a of rdn) if (a.type === OID_EMAIL && a.text) out.push({ kind: "email", value: a.text });
  for (const n of cert.subjectAltNames ?? []) if (n.kind !== "other") out.push(n);
  return out;
}

/** Returns a violation reason, or undefined when every name satisfies the accumulated constraints. */
export function checkNames(
  cert: ParsedCertificate,
  state: ConstraintState,
  counter: Counter,
): string | undefined {
  if (state.permitted.length === 0 && state.excluded.length === 0) return undefined;
  const names = constrainedNames(cert);
  const uriConstrained =
    state.permitted.some((p) => p.kind === "uri") || state.excluded.some((e) => e.kind === "uri");
  for (const name of names) {
    if (name.kind === "dns" && !isValidDnsName(name.value, true))
      return `dNSName ${JSON.stringify(name.value)} is malformed, so it cannot be checked against name constraints`;
    if (name.kind === "ip" && name.bytes.length !== 4 && name.bytes.length !== 16)
      return "iPAddress SAN of invalid length under name constraints";
    if (name.kind === "uri" && uriConstrained && uriHost(name.value) === undefined)
      return `URI ${name.value} has no host, but a URI name constraint applies (RFC 5280 §4.2.1.10)`;
    for (const ex of state.excluded)
      if (within(name, ex, counter)) return `${describe(name)} is in an excluded subtree`;
    for (const group of state.permitted) {
      if (group.kind !== name.kind) continue;
      if (!group.names.some((b) => within(name, b, counter)))
        return `${describe(name)} is not in a permitted subtree`;
    }
  }
  return undefined;
}

function describe(n: GeneralName): string {
  switch (n.kind) {
    case "dns":
      return `dNSName ${n.value}`;
    case "email":
      return `rfc822Name ${n.value}`;
    case "uri":
      return `URI ${n.value}`;
    case "ip":
      return `iPAddress ${Array.from(n.bytes).join(".")}`;
    case "dn":
      return "directoryName";
    default:
      return "name";
  }
}
