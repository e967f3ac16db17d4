/**
 * Certificate parsing (RFC 5280 §4) into the fields path validation needs. The outer structure
 * must be valid DER or parsing throws {@link CertParseError}; a malformed *extension* is recorded in
 * `problems` so that the validator reports it against the certificate's place in the path.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import {
  bytesEqual,
  children,
  content,
  expectTag,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readRoot,
  readSmallInt,
  readTime,
  TAG,
  type Tlv,
  toHex,
  whole,
} from "./der.js";
import { CertParseError } from "./errors.js";
import { MAX_CERT_BYTES } from "./input.js";
import { type DistinguishedName, parseName } from "./name.js";

export type GeneralName =
  | { readonly kind: "dns"; readonly value: string }
  | { readonly kind: "email"; readonly value: string }
  | { readonly kind: "uri"; readonly value: string }
  | { readonly kind: "ip"; readonly bytes: Uint8Array }
  | { readonly kind: "dn"; readonly name: DistinguishedName }
  | { readonly kind: "other"; readonly tag: number };

export interface GeneralSubtree {
  readonly base: GeneralName;
}

export interface NameConstraints {
  readonly permitted: readonly GeneralName[];
  readonly excluded: readonly GeneralName[];
}

/** One PolicyQualifierInfo (RFC 5280 §4.2.1.4): the qualifier is kept as DER, undecoded. */
export interface PolicyQualifier {
  readonly id: string;
  /** DER of the qualifier (e.g. an IA5String CPS URI, or a UserNotice SEQUENCE). */
  readonly value: Uint8Array;
}

/** One PolicyInformation of a certificatePolicies extension. */
export interface PolicyInformation {
  readonly oid: string;
  readonly qualifiers: readonly PolicyQualifier[];
}

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** KeyUsage bit positions (bit 0 = digitalSignature). */
export const KU = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  issuerAltName: "2.5.29.18",
  basicConstraints: "2.5.29.19",
  crlNumber: "2.5.29.20",
  nameConstraints: "2.5.29.30",
  crlDistributionPoints: "2.5.29.31",
  certificatePolicies: "2.5.29.32",
  policyMappings: "2.5.29.33",
  policyConstraints: "2.5.29.36",
  inhibitAnyPolicy: "2.5.29.54",
  anyPolicy: "2.5.29.32.0",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  sctList: "1.3.6.1.4.1.11129.2.4.2",
  anyExtendedKeyUsage: "2.5.29.37.0",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** Extensions this validator processes (a critical extension not listed here fails validation). */
const KNOWN_EXTENSIONS = new Set<string>([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.issuerAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.crlDistributionPoints,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.policyConstraints,
  OID.inhibitAnyPolicy,
  OID.authorityKeyIdentifier,
  OID.extKeyUsage,
  OID.authorityInfoAccess,
  OID.sctList,
]);

export interface AlgorithmIdentifier {
  readonly oid: string;
  /** DER of the parameters, if present. */
  readonly params: Uint8Array | undefined;
  /** DER of the whole AlgorithmIdentifier (for the TBS/outer equality check). */
  readonly der: Uint8Array;
}

export interface ParsedCertificate {
  readonly der: Uint8Array;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprint256: string;
  readonly tbs: Uint8Array;
  readonly version: number;
  readonly serial: Uint8Array;
  readonly tbsSignatureAlgorithm: AlgorithmIdentifier;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signature: Uint8Array;
  readonly issuer: DistinguishedName;
  readonly subject: DistinguishedName;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Uint8Array;
  readonly spkiAlgorithm: AlgorithmIdentifier;
  readonly extensions: readonly Extension[];
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  readonly keyUsage: number | undefined;
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectAltNames: readonly GeneralName[] | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  /** certificatePolicies (RFC 5280 §4.2.1.4), in certificate order. */
  readonly policies: readonly PolicyInformation[] | undefined;
  /** policyMappings (§4.2.1.5): issuerDomainPolicy → subjectDomainPolicy pairs. */
  readonly policyMappings: readonly { readonly issuer: string; readonly subject: string }[] | undefined;
  /** policyConstraints (§4.2.1.11): skip counts, each absent when not given. */
  readonly policyConstraints:
    | {
        readonly requireExplicitPolicy: number | undefined;
        readonly inhibitPolicyMapping: number | undefined;
      }
    | undefined;
  /** inhibitAnyPolicy SkipCerts (§4.2.1.14). */
  readonly inhibitAnyPolicy: number | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId:
    | { readonly keyId: Uint8Array | undefined; readonly hasIssuer: boolean; readonly hasSerial: boolean }
    | undefined;
  /** Extension-level defects: malformed, duplicate, criticality errors, unknown critical. */
  readonly problems: readonly { readonly code: string; readonly message: string }[];
  /** Subject and issuer names are equal (RFC 5280 "self-issued"). */
  readonly selfIssued: boolean;
  /** Public key, created lazily and cached. */
  publicKey(): KeyObject;
}

function algId(buf: Uint8Array, t: Tlv): AlgorithmIdentifier {
  expectTag(t, TAG.SEQUENCE, "AlgorithmIdentifier");
  const [o, p, extra] = children(buf, t);
  if (!o || extra) throw new CertParseError("AlgorithmIdentifier: malformed");
  return { oid: readOid(buf, o), params: p ? whole(buf, p) : undefined, der: whole(buf, t) };
}

function ia5(buf: Uint8Array, t: Tlv, what: string): string {
  const c = content(buf, t);
  for (const b of c)
    if (b > 0x7e || b < 0x20) throw new CertParseError(`${what}: not an IA5 printable string`);
  return Buffer.from(c).toString("latin1");
}

/** Parses one GeneralName (RFC 5280 §4.2.1.6). */
export function parseGeneralName(buf: Uint8Array, t: Tlv): GeneralName {
  switch (t.tag) {
    case 0x81:
      return { kind: "email", value: ia5(buf, t, "rfc822Name") };
    case 0x82:
      return { kind: "dns", value: ia5(buf, t, "dNSName") };
    case 0x86:
      return { kind: "uri", value: ia5(buf, t, "uniformResourceIdentifier") };
    case 0x87:
      return { kind: "ip", bytes: content(buf, t) };
    case 0xa4: {
      const [n, extra] = children(buf, t);
      if (!n || extra) throw new CertParseError("directoryName: malformed");
      return { kind: "dn", name: parseName(buf, n) };
    }
    case 0xa0:
    case 0xa3:
    case 0xa5:
    case 0x88:
      return { kind: "other", tag: t.tag };
    default:
      throw new CertParseError(`GeneralName: unknown tag 0x${t.tag.toString(16)}`);
  }
}

function parseGeneralNames(buf: Uint8Array, t: Tlv): GeneralName[] {
  expectTag(t, TAG.SEQUENCE, "GeneralNames");
  const list = children(buf, t).map((c) => parseGeneralName(buf, c));
  if (list.length === 0) throw new CertParseError("GeneralNames: empty");
  return list;
}

function parseSubtrees(buf: Uint8Array, t: Tlv): GeneralName[] {
  const out: GeneralName[] = [];
  for (const st of children(buf, t)) {
    expectTag(st, TAG.SEQUENCE, "GeneralSubtree");
    const [base, ...rest] = children(buf, st);
    if (!base) throw new CertParseError("GeneralSubtree: missing base");
    for (const r of rest) {
      // minimum must be absent (DEFAULT 0); maximum must be absent (RFC 5280 §4.2.1.10).
      if (r.tag === 0x80 || r.tag === 0x81)
        throw new CertParseError("GeneralSubtree: minimum/maximum not allowed");
      throw new CertParseError("GeneralSubtree: trailing data");
    }
    const name = parseGeneralName(buf, base);
    if (name.kind === "ip" && name.bytes.length !== 8 && name.bytes.length !== 32)
      throw new CertParseError("name constraint: iPAddress must be address+mask (8 or 32 octets)");
    out.push(name);
  }
  if (out.length === 0) throw new CertParseError("GeneralSubtrees: empty");
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Parses a DER certificate. Throws {@link CertParseError} on malformed outer structure. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  if (der.length > MAX_CERT_BYTES)
    throw new CertParseError(`certificate larger than ${MAX_CERT_BYTES} bytes`);
  const buf = der;
  const root = expectTag(readRoot(buf), TAG.SEQUENCE, "Certificate");
  const [tbsT, sigAlgT, sigT, extra] = children(buf, root);
  if (!tbsT || !sigAlgT || !sigT || extra) throw new CertParseError("Certificate: expected 3 elements");
  expectTag(tbsT, TAG.SEQUENCE, "TBSCertificate");
  const signatureAlgorithm = algId(buf, sigAlgT);
  const { bytes: signature, unused } = readBitString(buf, sigT);
  if (unused) throw new CertParseError("Certificate: signature has unused bits");

  const f = children(buf, tbsT);
  let i = 0;
  let version = 1;
  if (f[0]?.tag === 0xa0) {
    const [v, more] = children(buf, f[0]);
    if (!v || more) throw new CertParseError("TBSCertificate: malformed version");
    version = readSmallInt(buf, v) + 1;
    if (version < 2 || version > 3)
      throw new CertParseError(`TBSCertificate: unsupported version ${version}`);
    i++;
  }
  const serial = readIntegerBytes(buf, f[i++] as Tlv);
  const tbsSignatureAlgorithm = algId(buf, f[i++] as Tlv);
  const issuer = parseName(buf, f[i++] as Tlv);
  const validity = expectTag(f[i++], TAG.SEQUENCE, "Validity");
  const [nbT, naT, vExtra] = children(buf, validity);
  if (!nbT || !naT || vExtra) throw new CertParseError("Validity: malformed");
  const notBefore = readTime(buf, nbT);
  const notAfter = readTime(buf, naT);
  const subject = parseName(buf, f[i++] as Tlv);
  const spkiT = expectTag(f[i++], TAG.SEQUENCE, "SubjectPublicKeyInfo");
  const [spkiAlgT, spkiKeyT, spkiExtra] = children(buf, spkiT);
  if (!spkiAlgT || !spkiKeyT || spkiExtra) throw new CertParseError("SubjectPublicKeyInfo: malformed");
  const spkiAlgorithm = algId(buf, spkiAlgT);
  readBitString(buf, spkiKeyT);
  const extensions: Extension[] = [];
  while (i < f.length) {
    const t = f[i++]!;
    if (t.tag === 0x81 || t.tag === 0x82) {
      if (version < 2) throw new CertParseError("TBSCertificate: unique identifiers need v2+");
      continue;
    }
    if (t.tag !== 0xa3) throw new CertParseError("TBSCertificate: unexpected field");
    if (version !== 3) throw new CertParseError("TBSCertificate: extensions need v3");
    if (i !== f.length) throw new CertParseError("TBSCertificate: trailing data after extensions");
    const [seq, more] = children(buf, t);
    if (!seq || more) throw new CertParseError("Extensions: malformed");
    expectTag(seq, TAG.SEQUENCE, "Extensions");
    const list = children(buf, seq);
    if (list.length === 0) throw new CertParseError("Extensions: empty");
    for (const e of list) {
      expectTag(e, TAG.SEQUENCE, "Extension");
      const parts = children(buf, e);
      const oid = readOid(buf, parts[0]!);
      let critical = false;
      let vIdx = 1;
      if (parts[1]?.tag === TAG.BOOLEAN) {
        critical = readBoolean(buf, parts[1]);
        vIdx = 2;
      }
      const v = expectTag(parts[vIdx], TAG.OCTET_STRING, "extnValue");
      if (parts.length !== vIdx + 1) throw new CertParseError("Extension: trailing data");
      extensions.push({ oid, critical, value: content(buf, v) });
    }
  }

  const cert: Mutable<Omit<ParsedCertificate, "publicKey">> & { publicKey?: () => KeyObject } = {
    der,
    fingerprint256: createHash("sha256").update(der).digest("hex"),
    tbs: whole(buf, tbsT),
    version,
    serial,
    tbsSignatureAlgorithm,
    signatureAlgorithm,
    signature,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: whole(buf, spkiT),
    spkiAlgorithm,
    extensions,
    basicConstraints: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    subjectAltNames: undefined,
    nameConstraints: undefined,
    policies: undefined,
    policyMappings: undefined,
    policyConstraints: undefined,
    inhibitAnyPolicy: undefined,
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    problems: [],
    selfIssued: issuer.key === subject.key,
  };
  const problems: { code: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const ext of extensions) {
    if (seen.has(ext.oid))
      problems.push({ code: "DUPLICATE_EXTENSION", message: `extension ${ext.oid} repeated` });
    seen.add(ext.oid);
    if (ext.critical && !KNOWN_EXTENSIONS.has(ext.oid))
      problems.push({
        code: "UNKNOWN_CRITICAL_EXTENSION",
        message: `unhandled critical extension ${ext.oid}`,
      });
    try {
      decodeExtension(cert, ext, problems);
    } catch (err) {
      problems.push({
        code: "MALFORMED_EXTENSION",
        message: `extension ${ext.oid}: ${(err as Error).message}`,
      });
    }
  }
  cert.problems = problems;
  let key: KeyObject | undefined;
  const spkiDer = cert.spki;
  cert.publicKey = () => {
    key ??= createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" });
    return key;
  };
  return cert as ParsedCertificate;
}

function decodeExtension(
  cert: Mutable<Omit<ParsedCertificate, "publicKey">>,
  ext: Extension,
  problems: { code: string; message: string }[],
): void {
  const v = ext.value;
  switch (ext.oid) {
    case OID.basicConstraints: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "BasicConstraints");
      const parts = children(v, seq);
      let ca = false;
      let pathLen: number | undefined;
      let k = 0;
      if (parts[k]?.tag === TAG.BOOLEAN) ca = readBoolean(v, parts[k++]!);
      if (parts[k]?.tag === TAG.INTEGER) pathLen = readSmallInt(v, parts[k++]!);
      if (k !== parts.length) throw new CertParseError("BasicConstraints: trailing data");
      if (pathLen !== undefined && !ca)
        problems.push({ code: "MALFORMED_EXTENSION", message: "pathLenConstraint without cA" });
      cert.basicConstraints = { ca, pathLen };
      return;
    }
    case OID.keyUsage: {
      const { bytes } = readBitString(v, readRoot(v));
      let bits = 0;
      for (let b = 0; b < Math.min(bytes.length * 8, 9); b++)
        if (bytes[b >> 3]! & (0x80 >> (b & 7))) bits |= 1 << b;
      if (bits === 0) throw new CertParseError("KeyUsage: no bit set");
      cert.keyUsage = bits;
      return;
    }
    case OID.extKeyUsage: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "ExtKeyUsageSyntax");
      const oids = children(v, seq).map((t) => readOid(v, t));
      if (oids.length === 0) throw new CertParseError("ExtKeyUsage: empty");
      cert.extKeyUsage = oids;
      return;
    }
    case OID.subjectAltName:
      cert.subjectAltNames = parseGeneralNames(v, readRoot(v));
      return;
    case OID.issuerAltName:
      parseGeneralNames(v, readRoot(v));
      return;
    case OID.nameConstraints: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "NameConstraints");
      let permitted: GeneralName[] = [];
      let excluded: GeneralName[] = [];
      const parts = children(v, seq);
      if (parts.length === 0)
        throw new CertParseError("NameConstraints: neither permitted nor excluded subtrees");
      for (const p of parts) {
        if (p.tag === 0xa0) permitted = parseSubtrees(v, p);
        else if (p.tag === 0xa1) excluded = parseSubtrees(v, p);
        else throw new CertParseError("NameConstraints: unexpected field");
      }
      cert.nameConstraints = { permitted, excluded };
      return;
    }
    case OID.subjectKeyIdentifier: {
      const t = expectTag(readRoot(v), TAG.OCTET_STRING, "SubjectKeyIdentifier");
      cert.subjectKeyId = content(v, t);
      return;
    }
    case OID.authorityKeyIdentifier: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "AuthorityKeyIdentifier");
      let keyId: Uint8Array | undefined;
      let hasIssuer = false;
      let hasSerial = false;
      for (const p of children(v, seq)) {
        if (p.tag === 0x80) keyId = content(v, p);
        else if (p.tag === 0xa1) hasIssuer = true;
        else if (p.tag === 0x82) hasSerial = true;
        else throw new CertParseError("AuthorityKeyIdentifier: unexpected field");
      }
      if (hasIssuer !== hasSerial)
        throw new CertParseError(
          "AuthorityKeyIdentifier: authorityCertIssuer and serial must appear together",
        );
      cert.authorityKeyId = { keyId, hasIssuer, hasSerial };
      return;
    }
    case OID.authorityInfoAccess: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "AuthorityInfoAccessSyntax");
      const list = children(v, seq);
      if (list.length === 0) throw new CertParseError("AuthorityInfoAccess: empty");
      for (const ad of list) {
        expectTag(ad, TAG.SEQUENCE, "AccessDescription");
        const [m, loc, more] = children(v, ad);
        if (!m || !loc || more) throw new CertParseError("AccessDescription: malformed");
        readOid(v, m);
        parseGeneralName(v, loc);
      }
      return;
    }
    case OID.certificatePolicies: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "certificatePolicies");
      const list: PolicyInformation[] = [];
      const oids = new Set<string>();
      for (const pi of children(v, seq)) {
        expectTag(pi, TAG.SEQUENCE, "PolicyInformation");
        const [idT, qT, more] = children(v, pi);
        if (!idT || more) throw new CertParseError("PolicyInformation: malformed");
        const oid = readOid(v, idT);
        // RFC 5280 §4.2.1.4: a policy OID MUST NOT appear more than once; a repeated one would
        // make the tree ambiguous (which qualifiers apply?), so the extension is malformed.
        if (oids.has(oid)) throw new CertParseError(`policy ${oid} repeated`);
        oids.add(oid);
        const qualifiers: PolicyQualifier[] = [];
        if (qT) {
          expectTag(qT, TAG.SEQUENCE, "policyQualifiers");
          const qs = children(v, qT);
          if (qs.length === 0) throw new CertParseError("policyQualifiers: empty");
          for (const q of qs) {
            expectTag(q, TAG.SEQUENCE, "PolicyQualifierInfo");
            const [qid, qv, qmore] = children(v, q);
            if (!qid || !qv || qmore) throw new CertParseError("PolicyQualifierInfo: malformed");
            qualifiers.push({ id: readOid(v, qid), value: whole(v, qv) });
          }
        }
        list.push({ oid, qualifiers });
      }
      if (list.length === 0) throw new CertParseError("certificatePolicies: empty");
      cert.policies = list;
      return;
    }
    case OID.policyMappings: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "PolicyMappings");
      const pairs: { issuer: string; subject: string }[] = [];
      for (const m of children(v, seq)) {
        expectTag(m, TAG.SEQUENCE, "PolicyMapping");
        const [iT, sT, more] = children(v, m);
        if (!iT || !sT || more) throw new CertParseError("PolicyMapping: malformed");
        pairs.push({ issuer: readOid(v, iT), subject: readOid(v, sT) });
      }
      if (pairs.length === 0) throw new CertParseError("PolicyMappings: empty");
      cert.policyMappings = pairs;
      return;
    }
    case OID.policyConstraints: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, "PolicyConstraints");
      let requireExplicitPolicy: number | undefined;
      let inhibitPolicyMapping: number | undefined;
      const parts = children(v, seq);
      // RFC 5280 §4.2.1.11: "Conforming CAs MUST NOT issue certificates where policy constraints
      // is an empty sequence"; fields are [0] then [1], each at most once.
      if (parts.length === 0) throw new CertParseError("PolicyConstraints: empty");
      let k = 0;
      if (parts[k]?.tag === 0x80) requireExplicitPolicy = readSmallInt(v, parts[k++]!, 0x80);
      if (parts[k]?.tag === 0x81) inhibitPolicyMapping = readSmallInt(v, parts[k++]!, 0x81);
      if (k !== parts.length) throw new CertParseError("PolicyConstraints: unexpected field");
      cert.policyConstraints = { requireExplicitPolicy, inhibitPolicyMapping };
      return;
    }
    case OID.inhibitAnyPolicy:
      cert.inhibitAnyPolicy = readSmallInt(v, readRoot(v));
      return;
    case OID.crlDistributionPoints: {
      const seq = expectTag(readRoot(v), TAG.SEQUENCE, ext.oid);
      if (children(v, seq).length === 0) throw new CertParseError("empty SEQUENCE");
      return;
    }
    default:
    // Unknown non-critical extensions are ignored (RFC 5280 §4.2); critical ones fail elsewhere.
  }
}

/** Lower-case hex of the SHA-256 (or other) digest of DER bytes. */
export function fingerprint(der: Uint8Array, alg = "sha256"): string {
  return createHash(alg).update(der).digest("hex");
}

/** True when both certificates carry the same subject and public key (one logical CA). */
export function sameSubjectAndKey(a: ParsedCertificate, b: ParsedCertificate): boolean {
  return a.subject.key === b.subject.key && bytesEqual(a.spki, b.spki);
}

export { toHex };
