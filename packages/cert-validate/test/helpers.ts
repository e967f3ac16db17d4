/** Certificates the factory does not make: CAs with name constraints, built with @peculiar/x509. */

import { webcrypto } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from "@peculiar/asn1-x509";
import { type Authority, type IssuedCertificate, x509 } from "@x/test-certs";

const DAY = 86_400_000;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const GEN = { name: "ECDSA", namedCurve: "P-256" } as const;

export interface ConstrainedCa {
  readonly certPem: string;
  readonly certDer: Uint8Array;
  issueLeaf(san: x509.JsonGeneralNames): Promise<{ certPem: string; chainPem: string }>;
}

/** An intermediate under `parent` carrying a critical NameConstraints with the given permitted names. */
export async function constrainedIntermediate(
  parent: Authority | IssuedCertificate,
  permitted: ConstructorParameters<typeof GeneralName>[0][],
): Promise<ConstrainedCa> {
  const keys = (await webcrypto.subtle.generateKey(GEN, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const nc = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(
      permitted.map((p) => new GeneralSubtree({ base: new GeneralName(p) })),
    ),
  });
  const ca = await x509.X509CertificateGenerator.create({
    serialNumber: "01ab",
    subject: "CN=Constrained CA",
    issuer: parent.certificate.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: parent.keys.privateKey,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey),
      new x509.Extension("2.5.29.30", true, AsnConvert.serialize(nc)),
    ],
  });
  const certPem = `${ca.toString("pem")}\n`;
  return {
    certPem,
    certDer: new Uint8Array(ca.rawData),
    async issueLeaf(san) {
      const leafKeys = (await webcrypto.subtle.generateKey(GEN, true, [
        "sign",
        "verify",
      ])) as webcrypto.CryptoKeyPair;
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: "02cd",
        subject: "CN=leaf",
        issuer: ca.subject,
        notBefore: new Date(Date.now() - DAY),
        notAfter: new Date(Date.now() + 10 * DAY),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: SIGN,
        extensions: [
          new x509.SubjectAlternativeNameExtension(san, false),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const leafPem = `${leaf.toString("pem")}\n`;
      return { certPem: leafPem, chainPem: leafPem + certPem };
    },
  };
}
