/**
 * TLS-PSK cipher profiles of the data plane. None of them ever enables an anonymous (aNULL) suite:
 * every profile lists PSK suites only, so a peer without the key cannot complete a handshake.
 */
import type { SecureVersion } from "node:tls";
import { derivedIdentity, derivedPsk, REFERENCE_PSK_IDENTITY, referencePsk } from "../uid.js";

export type CipherProfileName = "secure" | "tls12" | "reference-compat";

export interface CipherProfile {
  readonly name: CipherProfileName;
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
  /** OpenSSL cipher list for TLS 1.2 and below (PSK suites only). */
  readonly ciphers: string;
  /** TLS 1.3 suites (SHA-256 ones: OpenSSL's external PSK callback works only with them). */
  readonly ciphersuites?: string;
  /** True when the profile gives integrity but no confidentiality; the S2DS emits a warning. */
  readonly integrityOnly: boolean;
  readonly psk: (uid: string) => Buffer;
  readonly identity: (uid: string) => string;
}

/**
 * Default. TLS 1.3 external PSK (OpenSSL uses psk_dhe_ke: forward secrecy) with AES-128-GCM first
 * (AES-NI), TLS 1.2 fallback only with ECDHE-PSK-CHACHA20-POLY1305 (the one forward-secret AEAD
 * PSK suite OpenSSL has).
 */
export const SECURE_PROFILE: CipherProfile = {
  name: "secure",
  minVersion: "TLSv1.2",
  maxVersion: "TLSv1.3",
  ciphers: "ECDHE-PSK-CHACHA20-POLY1305",
  ciphersuites: "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
  integrityOnly: false,
  psk: derivedPsk,
  identity: derivedIdentity,
};

/**
 * TLS 1.2 AEAD PSK suites with the reference's key and identity: interoperates with a stunnel
 * configured with `ciphers = PSK` (for example a patched reference template).
 */
export const TLS12_PROFILE: CipherProfile = {
  name: "tls12",
  minVersion: "TLSv1.2",
  maxVersion: "TLSv1.2",
  ciphers: "PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:ECDHE-PSK-CHACHA20-POLY1305",
  integrityOnly: false,
  psk: referencePsk,
  identity: () => REFERENCE_PSK_IDENTITY,
};

/**
 * Interoperates with the reference's stunnel template (`ciphers = eNULL`, `securityLevel = 0`,
 * `PSKsecrets client1:<uid hex>`): PSK NULL suites only. Integrity and authentication, no
 * confidentiality; anonymous suites are still refused (the reference negotiates AECDH-NULL-SHA).
 */
export const REFERENCE_COMPAT_PROFILE: CipherProfile = {
  name: "reference-compat",
  minVersion: "TLSv1.2",
  maxVersion: "TLSv1.2",
  ciphers: "ECDHE-PSK-NULL-SHA256:PSK-NULL-SHA256:@SECLEVEL=0",
  integrityOnly: true,
  psk: referencePsk,
  identity: () => REFERENCE_PSK_IDENTITY,
};

export const CIPHER_PROFILES: Readonly<Record<CipherProfileName, CipherProfile>> = {
  secure: SECURE_PROFILE,
  tls12: TLS12_PROFILE,
  "reference-compat": REFERENCE_COMPAT_PROFILE,
};

export function isCipherProfileName(value: string): value is CipherProfileName {
  return value in CIPHER_PROFILES;
}
