/**
 * Caller-supplied CRLs (RFC 5280 §5 / §6.3, the complete-CRL subset): issuer match, signature by
 * the certificate's issuer (which must have cRLSign when it has a KeyUsage), time window unless
 * time is unknown. Delta CRLs and CRLs with a critical issuingDistributionPoint are not used.
 */
import { type AlgorithmIdentifier, KU, type ParsedCertificate } from "./cert.js";
import {
  children,
  expectTag,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readRoot,
  readTime,
  TAG,
  type Tlv,
  toHex,
  whole,
} from "./der.js";
import { CertParseError } from "./errors.js";
import { pemBlocks } from "./input.js";
import { type DistinguishedName, parseName } from "./name.js";
import { checkSignature } from "./signature.js";

export interface ParsedCrl {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signature: Uint8Array;
  readonly issuer: DistinguishedName;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  /** Revoked serial numbers, hex of the INTEGER content. */
  readonly revoked: ReadonlySet<string>;
  /** Why this CRL cannot be used as a complete CRL, if so. */
  readonly unusable: string | undefined;
}

/** PEM text (`X509 CRL` blocks), DER bytes, or an array of these. */
export type CrlInput = string | Uint8Array | readonly CrlInput[];

const KNOWN_CRL_EXTENSIONS = new Set(["2.5.29.20", "2.5.29.35", "2.5.29.18"]);

function algId(buf: Uint8Array, t: Tlv): AlgorithmIdentifier {
  expectTag(t, TAG.SEQUENCE, "AlgorithmIdentifier");
  const [o, p] = children(buf, t);
  if (!o) throw new CertParseError("AlgorithmIdentifier: malformed");
  return { oid: readOid(buf, o), params: p ? whole(buf, p) : undefined, der: whole(buf, t) };
}

export function parseCrl(der: Uint8Array): ParsedCrl {
  const root = expectTag(readRoot(der), TAG.SEQUENCE, "CertificateList");
  const [tbsT, algT, sigT, extra] = children(der, root);
  if (!tbsT || !algT || !sigT || extra) throw new CertParseError("CertificateList: expected 3 elements");
  const f = children(der, expectTag(tbsT, TAG.SEQUENCE, "TBSCertList"));
  let i = 0;
  if (f[0]?.tag === TAG.INTEGER) i++;
  algId(der, f[i++] as Tlv);
  const issuer = parseName(der, f[i++] as Tlv);
  const thisUpdate = readTime(der, f[i++] as Tlv);
  let nextUpdate: number | undefined;
  if (f[i] && (f[i]!.tag === TAG.UTC_TIME || f[i]!.tag === TAG.GENERALIZED_TIME))
    nextUpdate = readTime(der, f[i++]!);
  const revoked = new Set<string>();
  let unusable: string | undefined;
  if (f[i]?.tag === TAG.SEQUENCE) {
    for (const entry of children(der, f[i++]!)) {
      const [serialT, dateT, extsT] = children(der, expectTag(entry, TAG.SEQUENCE, "revokedCertificate"));
      if (!serialT || !dateT) throw new CertParseError("revokedCertificate: malformed");
      revoked.add(toHex(readIntegerBytes(der, serialT)));
      readTime(der, dateT);
      if (extsT)
        for (const e of children(der, expectTag(extsT, TAG.SEQUENCE, "crlEntryExtensions"))) {
          const parts = children(der, e);
          if (parts[1]?.tag === TAG.BOOLEAN && readBoolean(der, parts[1]))
            unusable ??= `critical CRL entry extension ${readOid(der, parts[0]!)}`;
        }
    }
  }
  if (f[i]?.tag === 0xa0) {
    const [seq] = children(der, f[i++]!);
    for (const e of children(der, expectTag(seq, TAG.SEQUENCE, "crlExtensions"))) {
      const parts = children(der, e);
      const oid = readOid(der, parts[0]!);
      const critical = parts[1]?.tag === TAG.BOOLEAN && readBoolean(der, parts[1]);
      if (critical && !KNOWN_CRL_EXTENSIONS.has(oid)) unusable ??= `critical CRL extension ${oid}`;
    }
  }
  if (i !== f.length) throw new CertParseError("TBSCertList: trailing data");
  const { bytes: signature } = readBitString(der, sigT);
  return {
    der,
    tbs: whole(der, tbsT),
    signatureAlgorithm: algId(der, algT),
    signature,
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    unusable,
  };
}

export function toCrlList(input: CrlInput): ParsedCrl[] {
  if (typeof input === "string") return pemBlocks(input, ["X509 CRL"]).map(parseCrl);
  if (input instanceof Uint8Array) return [parseCrl(input)];
  return (input as readonly CrlInput[]).flatMap(toCrlList);
}

export type RevocationStatus =
  | { readonly status: "good" }
  | { readonly status: "revoked"; readonly reason: string }
  | { readonly status: "unknown"; readonly reason: string };

/** Status of `cert` according to the supplied CRLs, checked with `issuer`'s key. */
export function crlStatus(
  cert: ParsedCertificate,
  issuer: ParsedCertificate,
  crls: readonly ParsedCrl[],
  timeMs: number | undefined,
  allowedAlgorithms: ReadonlySet<string>,
): RevocationStatus {
  let lastReason = "no CRL from this issuer";
  for (const crl of crls) {
    if (crl.issuer.key !== cert.issuer.key) continue;
    if (crl.unusable) {
      lastReason = crl.unusable;
      continue;
    }
    if (issuer.keyUsage !== undefined && !(issuer.keyUsage & KU.cRLSign)) {
      lastReason = "CRL issuer lacks cRLSign";
      continue;
    }
    const sig = checkSignature(
      crl.tbs,
      crl.signatureAlgorithm,
      crl.signature,
      issuer.publicKey(),
      allowedAlgorithms,
    );
    if (!sig.ok) {
      lastReason = `CRL signature: ${sig.reason}`;
      continue;
    }
    if (
      timeMs !== undefined &&
      (timeMs < crl.thisUpdate || (crl.nextUpdate !== undefined && timeMs > crl.nextUpdate))
    ) {
      lastReason = "CRL not current";
      continue;
    }
    if (crl.revoked.has(toHex(cert.serial))) return { status: "revoked", reason: "serial listed in CRL" };
    return { status: "good" };
  }
  return { status: "unknown", reason: lastReason };
}
