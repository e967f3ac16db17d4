/** X.501 Names: parsing, RFC 5280 §7.1 comparison (case-folded, whitespace-compressed strings). */
import { children, content, expectTag, readOid, readString, TAG, type Tlv, toHex } from "./der.js";
import { CertParseError } from "./errors.js";

export interface Attribute {
  readonly type: string;
  /** Text form when the value is a string type. */
  readonly text: string | undefined;
  /** Normalised comparison key of the value. */
  readonly key: string;
}

export interface DistinguishedName {
  readonly der: Uint8Array;
  readonly rdns: readonly (readonly Attribute[])[];
  /** Normalised key of the whole name; equal keys mean equal names. */
  readonly key: string;
  readonly empty: boolean;
}

export const OID_CN = "2.5.4.3";
export const OID_EMAIL = "1.2.840.113549.1.9.1";

const SHORT: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};

function normalise(s: string): string {
  return s.normalize("NFKC").trim().replace(/\s+/g, " ").toLowerCase();
}

export function parseName(buf: Uint8Array, t: Tlv): DistinguishedName {
  expectTag(t, TAG.SEQUENCE, "Name");
  const rdns: Attribute[][] = [];
  for (const set of children(buf, t)) {
    expectTag(set, TAG.SET, "RelativeDistinguishedName");
    const avas: Attribute[] = [];
    for (const seq of children(buf, set)) {
      expectTag(seq, TAG.SEQUENCE, "AttributeTypeAndValue");
      const [typeT, valT, extra] = children(buf, seq);
      if (!typeT || !valT || extra) throw new CertParseError("Name: malformed AttributeTypeAndValue");
      const type = readOid(buf, typeT);
      const text = readString(buf, valT);
      avas.push({ type, text, key: text !== undefined ? normalise(text) : `#${toHex(content(buf, valT))}` });
    }
    if (avas.length === 0) throw new CertParseError("Name: empty RDN");
    avas.sort((a, b) => (a.type + a.key < b.type + b.key ? -1 : 1));
    rdns.push(avas);
  }
  const key = rdns.map((r) => r.map((a) => `${a.type}=${JSON.stringify(a.key)}`).join("+")).join(",");
  return { der: buf.subarray(t.start, t.end), rdns, key, empty: rdns.length === 0 };
}

export function rdnEqual(a: readonly Attribute[], b: readonly Attribute[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => x.type === b[i]!.type && x.key === b[i]!.key);
}

/** True when `base` is a prefix of `name` (RFC 5280 directoryName subtree). */
export function dnWithin(name: DistinguishedName, base: DistinguishedName): boolean {
  if (base.rdns.length > name.rdns.length) return false;
  return base.rdns.every((r, i) => rdnEqual(r, name.rdns[i]!));
}

/** Printable one-line form, e.g. `CN=example,O=Org`. */
export function formatName(n: DistinguishedName): string {
  return n.rdns
    .map((r) => r.map((a) => `${SHORT[a.type] ?? a.type}=${a.text ?? a.key}`).join("+"))
    .join(", ");
}

export function commonNames(n: DistinguishedName): string[] {
  return n.rdns.flatMap((r) =>
    r.filter((a) => a.type === OID_CN && a.text !== undefined).map((a) => a.text!),
  );
}
