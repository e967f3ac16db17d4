/** Session UIDs: generation, validation, and derivation of the data-plane PSK. */
import { createHash, hkdfSync, randomBytes } from "node:crypto";
import { BadFormatError } from "./errors.js";

/** A new UID: 128 random bits from the CSPRNG, as 32 lowercase hex characters (seed section 5.2.2). */
export function generateUid(): string {
  return randomBytes(16).toString("hex");
}

/** A new UID in the reference's UUID layout (8-4-4-4-12 hex), still 122+ random bits (UUIDv4). */
export function generateUuidUid(): string {
  return globalThis.crypto.randomUUID();
}

const UID_PATTERN = /^[A-Za-z0-9._~-]+$/;
export const MAX_UID_LENGTH = 128;

/**
 * Checks a UID received on the wire. Accepts the reference's uuid1 strings and our hex UIDs;
 * refuses empty, oversized, or non-token characters, and UIDs too short to carry 128 bits as a key.
 */
export function validateUid(uid: string, minLength = 16): void {
  if (uid.length === 0) throw new BadFormatError("uid is empty");
  if (uid.length > MAX_UID_LENGTH) throw new BadFormatError(`uid longer than ${MAX_UID_LENGTH} characters`);
  if (!UID_PATTERN.test(uid)) throw new BadFormatError("uid contains characters outside [A-Za-z0-9._~-]");
  if (uid.length < minLength) throw new BadFormatError(`uid shorter than ${minLength} characters`);
}

/**
 * The reference's key: stunnel's `PSKsecrets` line is `client1:<uid without dashes>`, and stunnel
 * decodes a hex key of 32+ characters to binary; anything else is used as its ASCII bytes.
 */
export function referencePsk(uid: string): Buffer {
  const stripped = uid.replace(/-/g, "");
  if (stripped.length >= 32 && stripped.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(stripped)) {
    return Buffer.from(stripped, "hex");
  }
  return Buffer.from(stripped, "ascii");
}

/** The PSK identity the reference's stunnel configuration accepts. */
export const REFERENCE_PSK_IDENTITY = "client1";

/** Our key: HKDF-SHA256 over the UID, so the UID string itself never becomes key material verbatim. */
export function derivedPsk(uid: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(uid, "utf8"), "scistream", "scistream-psk v1", 32));
}

/** Our identity: a short hash of the UID, so a server can refuse a peer of another session by identity. */
export function derivedIdentity(uid: string): string {
  return `ss1-${createHash("sha256").update("scistream-identity v1\0").update(uid).digest("hex").slice(0, 24)}`;
}
