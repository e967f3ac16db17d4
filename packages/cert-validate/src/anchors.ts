/** Trust anchors: full certificates (roots or intermediates), pinned end entities, or fingerprints. */
import { createHash } from "node:crypto";
import { type ParsedCertificate, parseCertificate } from "./cert.js";
import { CertOptionsError } from "./errors.js";
import { type CertInput, toDerList } from "./input.js";

export type FingerprintAlgorithm = "SHA-1" | "SHA-224" | "SHA-256" | "SHA-384" | "SHA-512";
export type AllowedUses = "MTP-only" | "MTP-and-USP" | "MTP-and-broker";

/** Metadata carried by an anchor (TR-181 `ControllerTrust.Credential`). */
export interface AnchorMeta {
  readonly label?: string;
  readonly allowedUses?: AllowedUses;
  readonly role?: readonly string[];
  /** A Trusted Broker entry (R-SEC.4a): the exact broker certificate, or a broker CA. */
  readonly broker?: boolean;
}

/**
 * A trust anchor. Plain certificate input, `{ cert }`, or `{ fingerprint }` where the fingerprint is
 * `"sha256:<hex>"` (also `sha1:`, `sha224:`, `sha384:`, `sha512:`; colons in the hex are ignored),
 * bare 64-digit hex (SHA-256), or `{ alg, hex }`. A fingerprint matches a presented certificate.
 */
export type TrustAnchor =
  | CertInput
  | ({ readonly cert: CertInput } & AnchorMeta)
  | ({
      readonly fingerprint: string | { readonly alg: FingerprintAlgorithm; readonly hex: string };
    } & AnchorMeta);

export interface ResolvedAnchor {
  readonly index: number;
  readonly meta: AnchorMeta;
  readonly cert: ParsedCertificate | undefined;
  readonly fingerprint: { readonly alg: string; readonly hex: string } | undefined;
}

const ALGS: Record<string, string> = {
  "SHA-1": "sha1",
  SHA1: "sha1",
  "SHA-224": "sha224",
  SHA224: "sha224",
  "SHA-256": "sha256",
  SHA256: "sha256",
  "SHA-384": "sha384",
  SHA384: "sha384",
  "SHA-512": "sha512",
  SHA512: "sha512",
};
const HEX_LEN: Record<string, number> = { sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

/** Parses `sha256:AB:CD…`, bare hex, or `{alg, hex}` into a node hash name and lower-case hex. */
export function parseFingerprint(fp: string | { readonly alg: string; readonly hex: string }): {
  alg: string;
  hex: string;
} {
  let alg: string | undefined;
  let hex: string;
  if (typeof fp === "string") {
    const m = /^([A-Za-z0-9-]+)[:=](.*)$/.exec(fp.trim());
    if (m && ALGS[m[1]!.toUpperCase()]) {
      alg = ALGS[m[1]!.toUpperCase()];
      hex = m[2]!;
    } else hex = fp;
  } else {
    alg = ALGS[fp.alg.toUpperCase()];
    if (!alg) throw new CertOptionsError(`unknown fingerprint algorithm ${fp.alg}`);
    hex = fp.hex;
  }
  hex = hex.replace(/[:\s]/g, "").toLowerCase();
  alg ??= Object.keys(HEX_LEN).find((a) => HEX_LEN[a] === hex.length);
  if (!alg || !/^[0-9a-f]+$/.test(hex) || HEX_LEN[alg] !== hex.length)
    throw new CertOptionsError(`malformed fingerprint ${JSON.stringify(fp)}`);
  return { alg, hex };
}

function isStructured(a: TrustAnchor): a is Exclude<TrustAnchor, CertInput> {
  return typeof a === "object" && a !== null && !Array.isArray(a) && ("cert" in a || "fingerprint" in a);
}

const parsedCache = new WeakMap<object, ParsedCertificate[]>();

/** Resolves anchors; parsed anchor certificates are cached per input object. */
export function resolveAnchors(anchors: readonly TrustAnchor[]): ResolvedAnchor[] {
  const out: ResolvedAnchor[] = [];
  anchors.forEach((a, index) => {
    if (isStructured(a)) {
      const { label, allowedUses, role, broker } = a;
      const meta: AnchorMeta = { label, allowedUses, role, broker };
      if ("fingerprint" in a) {
        out.push({ index, meta, cert: undefined, fingerprint: parseFingerprint(a.fingerprint) });
        return;
      }
      for (const cert of parseAnchorCerts(a.cert)) out.push({ index, meta, cert, fingerprint: undefined });
      return;
    }
    for (const cert of parseAnchorCerts(a)) out.push({ index, meta: {}, cert, fingerprint: undefined });
  });
  return out;
}

const pemCache = new Map<string, ParsedCertificate[]>();
const PEM_CACHE_MAX = 256;

function parseAnchorCerts(input: CertInput): ParsedCertificate[] {
  if (typeof input === "string") {
    const hit = pemCache.get(input);
    if (hit) return hit;
    const parsed = toDerList(input).map((d) => parseCertificate(d));
    if (pemCache.size >= PEM_CACHE_MAX) pemCache.delete(pemCache.keys().next().value as string);
    pemCache.set(input, parsed);
    return parsed;
  }
  const key = typeof input === "object" && input !== null ? input : undefined;
  const hit = key ? parsedCache.get(key) : undefined;
  if (hit) return hit;
  const parsed = toDerList(input).map((d) => parseCertificate(d));
  if (key) parsedCache.set(key, parsed);
  return parsed;
}

/** Whether a fingerprint anchor matches a certificate (hashes cached per certificate). */
export function fingerprintMatches(fp: { alg: string; hex: string }, cert: ParsedCertificate): boolean {
  if (fp.alg === "sha256") return cert.fingerprint256 === fp.hex;
  return createHash(fp.alg).update(cert.der).digest("hex") === fp.hex;
}
