/**
 * Certificate factory for tests: root and intermediate CAs, server and client leaves with
 * DNS, IP, URI (e.g. `urn:bbf:usp:id:proto::agent`) and e-mail subjectAltNames, and the bad ones
 * (expired, not yet valid, wrong name, self-signed, untrusted root). ECDSA P-256 by default,
 * RSA 2048 on request. Every output comes as PEM and DER, ready for `node:tls`.
 */
import { createHash, randomBytes, webcrypto } from "node:crypto";

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;

import { x509 } from "./x509.js";

const subtle = webcrypto.subtle;

export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048";

export interface IssuedCertificate {
  /** The parsed certificate (@peculiar/x509). */
  readonly certificate: x509.X509Certificate;
  readonly certPem: string;
  readonly certDer: Uint8Array;
  /** PKCS#8 PEM private key. */
  readonly keyPem: string;
  readonly keys: CryptoKeyPair;
  /** SHA-256 of the DER certificate, lower-case hex. */
  readonly fingerprint256: string;
  readonly subject: string;
  /** The chain from this certificate up to (excluding) the root: leaf first, PEM. */
  readonly chainPem: string;
  /** The root that anchors this certificate (itself for a root or self-signed certificate). */
  readonly rootPem: string;
}

export interface Authority extends IssuedCertificate {
  issueIntermediate(options?: AuthorityOptions): Promise<Authority>;
  issueLeaf(options?: LeafOptions): Promise<IssuedCertificate>;
  /** A CRL listing the given serial numbers (hex) as revoked, signed by this authority. PEM. */
  issueCrl(
    revokedSerials: readonly string[],
    options?: { thisUpdate?: Date; nextUpdate?: Date },
  ): Promise<string>;
}

export interface AuthorityOptions {
  readonly commonName?: string;
  readonly keyType?: KeyType;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** basicConstraints pathLenConstraint. */
  readonly pathLength?: number;
}

export interface LeafOptions {
  readonly commonName?: string;
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly uris?: readonly string[];
  readonly emails?: readonly string[];
  readonly keyType?: KeyType;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Extended key usage: server, client or both (default both). */
  readonly usage?: "server" | "client" | "both" | "none";
  /** Serial number, hex (random when absent). */
  readonly serialNumber?: string;
}

const DAY = 86_400_000;

function algorithmFor(keyType: KeyType): {
  gen: EcKeyGenParams | RsaHashedKeyGenParams;
  sign: Algorithm | EcdsaParams;
} {
  switch (keyType) {
    case "ec-p256":
      return {
        gen: { name: "ECDSA", namedCurve: "P-256" },
        sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
      };
    case "ec-p384":
      return {
        gen: { name: "ECDSA", namedCurve: "P-384" },
        sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
      };
    case "rsa-2048":
      return {
        gen: {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        },
        sign: { name: "RSASSA-PKCS1-v1_5" },
      };
  }
}

async function generateKeys(keyType: KeyType): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(algorithmFor(keyType).gen, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey("pkcs8", key));
  const body = der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, no leading zero byte
  return bytes.toString("hex");
}

async function finish(
  certificate: x509.X509Certificate,
  keys: CryptoKeyPair,
  chainAbove: readonly string[],
  rootPem: string | undefined,
): Promise<IssuedCertificate> {
  const certPem = `${certificate.toString("pem")}\n`;
  const certDer = new Uint8Array(certificate.rawData);
  return {
    certificate,
    certPem,
    certDer,
    keyPem: await keyToPem(keys.privateKey),
    keys,
    fingerprint256: createHash("sha256").update(certDer).digest("hex"),
    subject: certificate.subject,
    chainPem: [certPem, ...chainAbove].join(""),
    rootPem: rootPem ?? certPem,
  };
}

function generalNames(options: LeafOptions): x509.JsonGeneralNames {
  return [
    ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(options.emails ?? []).map((value) => ({ type: "email" as const, value })),
  ];
}

function leafExtensions(options: LeafOptions, keys: CryptoKeyPair): Promise<x509.Extension[]> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
  ];
  const usage = options.usage ?? "both";
  if (usage !== "none") {
    const ekus: string[] = [];
    if (usage === "server" || usage === "both") ekus.push(x509.ExtendedKeyUsage.serverAuth);
    if (usage === "client" || usage === "both") ekus.push(x509.ExtendedKeyUsage.clientAuth);
    extensions.push(new x509.ExtendedKeyUsageExtension(ekus, false));
  }
  const names = generalNames(options);
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  return x509.SubjectKeyIdentifierExtension.create(keys.publicKey).then((ski) => [...extensions, ski]);
}

async function makeAuthority(
  certificate: x509.X509Certificate,
  keys: CryptoKeyPair,
  keyType: KeyType,
  chainAbove: readonly string[],
  rootPem: string | undefined,
): Promise<Authority> {
  const issued = await finish(certificate, keys, chainAbove, rootPem);
  const myChain = chainAbove.length === 0 && rootPem === undefined ? [] : [issued.certPem, ...chainAbove];
  const root = issued.rootPem;
  const authorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey);

  const authority: Authority = {
    ...issued,
    async issueIntermediate(options = {}) {
      const type = options.keyType ?? keyType;
      const childKeys = await generateKeys(type);
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(true, options.pathLength, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(childKeys.publicKey),
        authorityKeyId,
      ];
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: `CN=${options.commonName ?? "Test Intermediate CA"}`,
        issuer: certificate.subject,
        notBefore: options.notBefore ?? new Date(Date.now() - DAY),
        notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY),
        publicKey: childKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: algorithmFor(keyType).sign,
        extensions,
      });
      return makeAuthority(cert, childKeys, type, myChain, root);
    },
    async issueLeaf(options = {}) {
      const type = options.keyType ?? keyType;
      const leafKeys = await generateKeys(type);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: options.serialNumber ?? randomSerial(),
        subject: `CN=${options.commonName ?? options.dns?.[0] ?? "test leaf"}`,
        issuer: certificate.subject,
        notBefore: options.notBefore ?? new Date(Date.now() - DAY),
        notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: algorithmFor(keyType).sign,
        extensions: [...(await leafExtensions(options, leafKeys)), authorityKeyId],
      });
      return finish(cert, leafKeys, myChain, root);
    },
    async issueCrl(revokedSerials, options = {}) {
      const crl = await x509.X509CrlGenerator.create({
        issuer: certificate.subject,
        thisUpdate: options.thisUpdate ?? new Date(Date.now() - 60_000),
        nextUpdate: options.nextUpdate ?? new Date(Date.now() + 7 * DAY),
        entries: revokedSerials.map((serialNumber) => ({
          serialNumber,
          revocationDate: new Date(Date.now() - 60_000),
        })),
        signingKey: keys.privateKey,
        signingAlgorithm: algorithmFor(keyType).sign,
        extensions: [authorityKeyId],
      });
      // OpenSSL and Node expect the "X509 CRL" PEM label.
      return `${crl.toString("pem").replace(/(BEGIN|END) CRL/g, "$1 X509 CRL")}\n`;
    },
  };
  return authority;
}

/** A self-signed root CA. */
export async function createRootCa(options: AuthorityOptions = {}): Promise<Authority> {
  const keyType = options.keyType ?? "ec-p256";
  const keys = await generateKeys(keyType);
  const name = `CN=${options.commonName ?? "Test Root CA"}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 3650 * DAY),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: algorithmFor(keyType).sign,
    extensions: [
      new x509.BasicConstraintsExtension(true, options.pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return makeAuthority(cert, keys, keyType, [], undefined);
}

/** A self-signed end-entity certificate (not a CA), e.g. for pinning tests. */
export async function createSelfSigned(options: LeafOptions = {}): Promise<IssuedCertificate> {
  const keyType = options.keyType ?? "ec-p256";
  const keys = await generateKeys(keyType);
  const name = `CN=${options.commonName ?? options.dns?.[0] ?? "self-signed"}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serialNumber ?? randomSerial(),
    subject: name,
    issuer: name,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: algorithmFor(keyType).sign,
    extensions: await leafExtensions(options, keys),
  });
  return finish(cert, keys, [], undefined);
}

export interface Pki {
  readonly root: Authority;
  readonly intermediate: Authority;
  /** Server leaf for localhost, 127.0.0.1 and ::1, issued by the intermediate. */
  readonly server: IssuedCertificate;
  /** Client leaf with the USP Agent Endpoint ID URI `urn:bbf:usp:id:proto::agent`. */
  readonly agent: IssuedCertificate;
  /** Client/server leaf with the USP Controller Endpoint ID URI `urn:bbf:usp:id:proto::controller`. */
  readonly controller: IssuedCertificate;
  /** Server leaf whose validity ended yesterday. */
  readonly expired: IssuedCertificate;
  /** Server leaf valid only from tomorrow. */
  readonly notYetValid: IssuedCertificate;
  /** Server leaf for `wrong.example` only. */
  readonly wrongName: IssuedCertificate;
  /** Self-signed localhost server certificate (not under the root). */
  readonly selfSigned: IssuedCertificate;
  /** A leaf for localhost from a different root the tests do not trust. */
  readonly untrusted: IssuedCertificate;
  readonly untrustedRoot: Authority;
}

/** The whole set most tests need, generated fresh (ECDSA P-256 unless told otherwise). */
export async function createPki(options: { keyType?: KeyType } = {}): Promise<Pki> {
  const keyType = options.keyType ?? "ec-p256";
  const root = await createRootCa({ keyType });
  const intermediate = await root.issueIntermediate({ keyType });
  const localhost = { dns: ["localhost"], ips: ["127.0.0.1", "::1"] };
  const untrustedRoot = await createRootCa({ keyType, commonName: "Untrusted Root CA" });
  return {
    root,
    intermediate,
    server: await intermediate.issueLeaf({ ...localhost, commonName: "localhost", keyType }),
    agent: await intermediate.issueLeaf({
      commonName: "proto::agent",
      uris: ["urn:bbf:usp:id:proto::agent"],
      ...localhost,
      keyType,
    }),
    controller: await intermediate.issueLeaf({
      commonName: "proto::controller",
      uris: ["urn:bbf:usp:id:proto::controller"],
      ...localhost,
      keyType,
    }),
    expired: await intermediate.issueLeaf({
      ...localhost,
      commonName: "expired",
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
      keyType,
    }),
    notYetValid: await intermediate.issueLeaf({
      ...localhost,
      commonName: "not yet valid",
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 30 * DAY),
      keyType,
    }),
    wrongName: await intermediate.issueLeaf({ dns: ["wrong.example"], commonName: "wrong.example", keyType }),
    selfSigned: await createSelfSigned({ ...localhost, commonName: "localhost", keyType }),
    untrusted: await untrustedRoot.issueLeaf({ ...localhost, commonName: "localhost", keyType }),
    untrustedRoot,
  };
}

/** `node:tls` options presenting `leaf` (with its chain) and trusting `root`. */
export function tlsOptions(
  leaf: IssuedCertificate,
  trust?: { readonly certPem: string } | string,
): { key: string; cert: string; ca?: string } {
  const ca = typeof trust === "string" ? trust : trust?.certPem;
  return { key: leaf.keyPem, cert: leaf.chainPem, ...(ca === undefined ? {} : { ca }) };
}

export { x509 } from "./x509.js";
