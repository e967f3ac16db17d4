/**
 * Integrity of the non-payload fields of a Record (TR-369 R-E2E.28 to R-E2E.39): the byte string
 * that is signed or MACed, ECDSA P-256 / SHA-256 signatures with `sender_cert`, and HMAC-SHA256 with
 * keys exported from the MTP's TLS session (label `EXPORTER-BBF-USP-Record`).
 */
import {
  createHmac,
  createPrivateKey,
  type KeyObject,
  sign as signData,
  timingSafeEqual,
  verify as verifyData,
  X509Certificate,
} from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Record as UspRecord } from "../gen/usp-record-1-4.js";
import { SessionError } from "./errors.js";

/** Longest DER encoding of an ECDSA P-256 signature: reserve it when sizing Records. */
export const ECDSA_P256_MAX_SIGNATURE = 72;
export const HMAC_SHA256_LENGTH = 32;
export const TLS_EXPORTER_LABEL = "EXPORTER-BBF-USP-Record";

const utf8 = new TextEncoder();

function u64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/**
 * The bytes protected by `mac_signature` (R-E2E.32/32.1): the Record's non-payload fields in field
 * number order, `mac_signature` itself excluded, then the Session Context fields without the payload.
 * uint64 as 8 bytes big-endian, enums as 4-byte uint32, strings as UTF-8, bytes as is.
 */
export function integrityInput(record: UspRecord): Uint8Array {
  const parts: Uint8Array[] = [
    utf8.encode(record.version),
    utf8.encode(record.toId),
    utf8.encode(record.fromId),
    u32(record.payloadSecurity),
    record.senderCert,
  ];
  if (record.recordType?.$case === "sessionContext") {
    const s = record.recordType.value;
    parts.push(
      u64(s.sessionId),
      u64(s.sequenceId),
      u64(s.expectedId),
      u64(s.retransmitId),
      u32(s.payloadSarState),
      u32(s.payloadrecSarState),
    );
  }
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** How this endpoint protects what it sends and checks what it receives. */
export type IntegrityMethod =
  | {
      readonly kind: "signature";
      /** PKCS#8 PEM or KeyObject of our ECDSA P-256 key. */
      readonly privateKey: string | KeyObject;
      /** Our certificate (chain) in PEM, sent as `sender_cert`. */
      readonly certificatePem: string;
    }
  | {
      readonly kind: "hmac";
      /** Key that MACs what we send (ours: the client key if we are the TLS client). */
      readonly sendKey: Uint8Array;
      /** Key that checks what we receive. */
      readonly receiveKey: Uint8Array;
    };

export interface IntegrityOptions {
  readonly method?: IntegrityMethod | undefined;
  /**
   * The Records of this peer must carry a valid `mac_signature` (R-E2E.30: the MTP does not protect
   * them). When false, a present `mac_signature` is still verified.
   */
  readonly requireFromPeer?: boolean | undefined;
  /**
   * Decides whether `sender_cert` may speak for `fromId` (default: its subjectAltName has the URI
   * `urn:bbf:usp:id:<fromId>`). Plug @x/cert-validate here to check the chain too.
   */
  readonly acceptSenderCertificate?: ((certificate: X509Certificate, fromId: string) => boolean) | undefined;
}

/** Computes `mac_signature` for a Record whose other fields are final. */
export function computeMacSignature(record: UspRecord, method: IntegrityMethod): Uint8Array {
  const input = integrityInput(record);
  if (method.kind === "hmac") {
    return new Uint8Array(createHmac("sha256", method.sendKey).update(input).digest());
  }
  const key = typeof method.privateKey === "string" ? createPrivateKey(method.privateKey) : method.privateKey;
  // Node signs EC keys as DER (ASN.1), which is ECDSA_P256_SHA256_ASN1.
  return new Uint8Array(signData("sha256", input, key));
}

function defaultAcceptSender(certificate: X509Certificate, fromId: string): boolean {
  const san = certificate.subjectAltName ?? "";
  return san.split(/,\s*/).some((entry) => entry === `URI:urn:bbf:usp:id:${fromId}`);
}

/**
 * Verifies `mac_signature`. Returns normally when valid (or absent and not required).
 * @throws {SessionError} ERR_E2E_INTEGRITY
 */
export function verifyMacSignature(record: UspRecord, options: IntegrityOptions): void {
  const mac = record.macSignature;
  if (mac.length === 0) {
    if (options.requireFromPeer)
      throw new SessionError("ERR_E2E_INTEGRITY", "mac_signature is required but absent");
    return;
  }
  const input = integrityInput(record);
  const method = options.method;
  if (record.senderCert.length > 0 && (method === undefined || method.kind === "signature")) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(Buffer.from(record.senderCert));
    } catch (error) {
      throw new SessionError("ERR_E2E_INTEGRITY", "sender_cert is not a PEM certificate", { cause: error });
    }
    const accept = options.acceptSenderCertificate ?? defaultAcceptSender;
    if (!accept(certificate, record.fromId)) {
      throw new SessionError("ERR_E2E_INTEGRITY", `sender_cert does not speak for ${record.fromId}`);
    }
    let ok = false;
    try {
      ok = verifyData("sha256", input, certificate.publicKey, mac);
    } catch {
      ok = false;
    }
    if (!ok) throw new SessionError("ERR_E2E_INTEGRITY", "mac_signature does not verify against sender_cert");
    return;
  }
  if (method?.kind === "hmac") {
    const expected = createHmac("sha256", method.receiveKey).update(input).digest();
    if (expected.length !== mac.length || !timingSafeEqual(expected, mac)) {
      throw new SessionError("ERR_E2E_INTEGRITY", "mac_signature (HMAC-SHA256) does not match");
    }
    return;
  }
  throw new SessionError(
    "ERR_E2E_INTEGRITY",
    "mac_signature present but no way to verify it (no sender_cert, no key)",
  );
}

/** Bytes `mac_signature` will take, for Record sizing. */
export function macLengthOf(method: IntegrityMethod | undefined): number {
  if (method === undefined) return 0;
  return method.kind === "hmac" ? HMAC_SHA256_LENGTH : ECDSA_P256_MAX_SIGNATURE;
}

/**
 * The two HMAC keys of R-E2E.33-39 from an established TLS session: 64 octets exported with label
 * `EXPORTER-BBF-USP-Record` and an empty context; the first 32 are the client's, the last 32 the server's.
 * Returns the integrity method for this side of the socket.
 */
export function hmacKeysFromTls(socket: TLSSocket, side: "client" | "server"): IntegrityMethod {
  const material = socket.exportKeyingMaterial(64, TLS_EXPORTER_LABEL, Buffer.alloc(0));
  const clientKey = new Uint8Array(material.subarray(0, 32));
  const serverKey = new Uint8Array(material.subarray(32, 64));
  return side === "client"
    ? { kind: "hmac", sendKey: clientKey, receiveKey: serverKey }
    : { kind: "hmac", sendKey: serverKey, receiveKey: clientKey };
}
