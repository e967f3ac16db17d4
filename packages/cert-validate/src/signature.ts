/**
 * Signature and key policy, verified synchronously with node:crypto over the original TBS bytes.
 * Default policy: RSA PKCS#1 v1.5 / PSS with SHA-256/384/512, ECDSA with SHA-256/384/512,
 * Ed25519, Ed448; keys RSA >= 2048 bits, EC P-256/P-384/P-521, Ed25519/Ed448. SHA-1 and MD5
 * signatures, DSA keys and small curves are refused.
 */
import { constants, type KeyObject, verify } from "node:crypto";
import type { AlgorithmIdentifier, ParsedCertificate } from "./cert.js";
import { bytesEqual, children, readOid, readRoot, readSmallInt, TAG } from "./der.js";

interface SigScheme {
  readonly name: string;
  readonly hash: string | null;
  readonly key: "rsa" | "rsa-pss" | "ec" | "ed25519" | "ed448";
  readonly pss?: boolean;
  /** Whether AlgorithmIdentifier parameters must be absent (true) or NULL-or-absent (false). */
  readonly paramsAbsent: boolean;
}

const SCHEMES: Record<string, SigScheme> = {
  "1.2.840.113549.1.1.11": {
    name: "sha256WithRSAEncryption",
    hash: "sha256",
    key: "rsa",
    paramsAbsent: false,
  },
  "1.2.840.113549.1.1.12": {
    name: "sha384WithRSAEncryption",
    hash: "sha384",
    key: "rsa",
    paramsAbsent: false,
  },
  "1.2.840.113549.1.1.13": {
    name: "sha512WithRSAEncryption",
    hash: "sha512",
    key: "rsa",
    paramsAbsent: false,
  },
  "1.2.840.113549.1.1.5": { name: "sha1WithRSAEncryption", hash: "sha1", key: "rsa", paramsAbsent: false },
  "1.2.840.113549.1.1.4": { name: "md5WithRSAEncryption", hash: "md5", key: "rsa", paramsAbsent: false },
  "1.2.840.113549.1.1.10": { name: "RSASSA-PSS", hash: null, key: "rsa", pss: true, paramsAbsent: false },
  "1.2.840.10045.4.3.2": { name: "ecdsa-with-SHA256", hash: "sha256", key: "ec", paramsAbsent: true },
  "1.2.840.10045.4.3.3": { name: "ecdsa-with-SHA384", hash: "sha384", key: "ec", paramsAbsent: true },
  "1.2.840.10045.4.3.4": { name: "ecdsa-with-SHA512", hash: "sha512", key: "ec", paramsAbsent: true },
  "1.2.840.10045.4.1": { name: "ecdsa-with-SHA1", hash: "sha1", key: "ec", paramsAbsent: true },
  "1.3.101.112": { name: "Ed25519", hash: null, key: "ed25519", paramsAbsent: true },
  "1.3.101.113": { name: "Ed448", hash: null, key: "ed448", paramsAbsent: true },
};

/** Signature algorithms accepted by default (names as in {@link signatureAlgorithmName}). */
export const DEFAULT_SIGNATURE_ALGORITHMS: readonly string[] = [
  "sha256WithRSAEncryption",
  "sha384WithRSAEncryption",
  "sha512WithRSAEncryption",
  "RSASSA-PSS",
  "ecdsa-with-SHA256",
  "ecdsa-with-SHA384",
  "ecdsa-with-SHA512",
  "Ed25519",
  "Ed448",
];

const HASH_OIDS: Record<string, string> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

export function signatureAlgorithmName(alg: AlgorithmIdentifier): string {
  return SCHEMES[alg.oid]?.name ?? alg.oid;
}

const NULL_DER = new Uint8Array([0x05, 0x00]);

/** RSASSA-PSS parameters; only explicit SHA-2 with MGF1 of the same hash is accepted. */
function pssParams(params: Uint8Array | undefined): { hash: string; saltLength: number } | string {
  if (!params) return "RSASSA-PSS without parameters (SHA-1 defaults) is not accepted";
  try {
    const seq = readRoot(params);
    if (seq.tag !== TAG.SEQUENCE) return "RSASSA-PSS parameters malformed";
    let hash: string | undefined;
    let mgfHash: string | undefined;
    let saltLength = 20;
    for (const p of children(params, seq)) {
      const [inner] = children(params, p);
      if (!inner) return "RSASSA-PSS parameters malformed";
      if (p.tag === 0xa0) hash = HASH_OIDS[readOid(params, children(params, inner)[0]!)];
      else if (p.tag === 0xa1) {
        const [mgfOid, mgfAlg] = children(params, inner);
        if (!mgfOid || readOid(params, mgfOid) !== "1.2.840.113549.1.1.8" || !mgfAlg)
          return "unsupported MGF";
        mgfHash = HASH_OIDS[readOid(params, children(params, mgfAlg)[0]!)];
      } else if (p.tag === 0xa2) saltLength = readSmallInt(params, inner);
      else if (p.tag === 0xa3) {
        if (readSmallInt(params, inner) !== 1) return "unsupported PSS trailer field";
      }
    }
    if (!hash || hash !== mgfHash) return "RSASSA-PSS must use SHA-2 with MGF1 over the same hash";
    return { hash, saltLength };
  } catch {
    return "RSASSA-PSS parameters malformed";
  }
}

/** Checks the public-key policy; returns a reason when the key is refused. */
export function keyPolicyViolation(cert: ParsedCertificate): string | undefined {
  let key: KeyObject;
  try {
    key = cert.publicKey();
  } catch (err) {
    return `public key unusable: ${(err as Error).message}`;
  }
  const type = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (type === "rsa" || type === "rsa-pss") {
    if ((d.modulusLength ?? 0) < 2048) return `RSA key of ${d.modulusLength} bits (< 2048)`;
    return undefined;
  }
  if (type === "ec") {
    if (d.namedCurve === "prime256v1" || d.namedCurve === "secp384r1" || d.namedCurve === "secp521r1")
      return undefined;
    return `EC curve ${d.namedCurve} not allowed`;
  }
  if (type === "ed25519" || type === "ed448") return undefined;
  return `public key type ${type} not allowed`;
}

export type SignatureCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly code: "SIGNATURE_INVALID" | "SIGNATURE_ALGORITHM_DISALLOWED";
      readonly reason: string;
    };

/** Verifies `signed`'s signature with `issuerKey` under the allowed algorithms. */
export function checkSignature(
  signedData: Uint8Array,
  alg: AlgorithmIdentifier,
  signature: Uint8Array,
  issuerKey: KeyObject,
  allowed: ReadonlySet<string>,
): SignatureCheck {
  const scheme = SCHEMES[alg.oid];
  if (!scheme || !allowed.has(scheme.name))
    return {
      ok: false,
      code: "SIGNATURE_ALGORITHM_DISALLOWED",
      reason: `algorithm ${scheme?.name ?? alg.oid}`,
    };
  if (
    scheme.paramsAbsent
      ? alg.params !== undefined
      : alg.params && !scheme.pss && !bytesEqual(alg.params, NULL_DER)
  )
    return { ok: false, code: "SIGNATURE_ALGORITHM_DISALLOWED", reason: `bad parameters for ${scheme.name}` };
  const keyType = issuerKey.asymmetricKeyType;
  const keyOk =
    scheme.key === "rsa"
      ? keyType === "rsa" || (scheme.pss === true && keyType === "rsa-pss")
      : keyType === scheme.key;
  if (!keyOk) return { ok: false, code: "SIGNATURE_INVALID", reason: `${scheme.name} with a ${keyType} key` };
  try {
    let good: boolean;
    if (scheme.pss) {
      const p = pssParams(alg.params);
      if (typeof p === "string") return { ok: false, code: "SIGNATURE_ALGORITHM_DISALLOWED", reason: p };
      good = verify(
        p.hash,
        signedData,
        { key: issuerKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLength },
        signature,
      );
    } else good = verify(scheme.hash, signedData, issuerKey, signature);
    return good
      ? { ok: true }
      : { ok: false, code: "SIGNATURE_INVALID", reason: "signature does not verify" };
  } catch (err) {
    return {
      ok: false,
      code: "SIGNATURE_INVALID",
      reason: `signature check failed: ${(err as Error).message}`,
    };
  }
}
