import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { createPki, createSelfSigned, tlsOptions } from "../src/index.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function handshake(
  serverOpts: tls.TlsOptions,
  clientOpts: tls.ConnectionOptions,
): Promise<{ ok: boolean; error?: string }> {
  const server = tls.createServer(serverOpts, (s) => s.end());
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => server.close());
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ...clientOpts }, () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: error.code ?? error.message }),
    );
  });
}

describe("certificate factory", () => {
  it("builds a chain that Node's own verifier accepts, and the bad certificates it rejects", async () => {
    const pki = await createPki();
    const root = new X509Certificate(pki.root.certPem);
    const inter = new X509Certificate(pki.intermediate.certPem);
    const server = new X509Certificate(pki.server.certPem);
    expect(inter.checkIssued(root)).toBe(true);
    expect(server.checkIssued(inter)).toBe(true);
    expect(server.verify(inter.publicKey)).toBe(true);
    expect(server.checkHost("localhost")).toBe("localhost");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(new X509Certificate(pki.agent.certPem).subjectAltName).toContain(
      "URI:urn:bbf:usp:id:proto::agent",
    );

    const trust = pki.root.certPem;
    expect(await handshake(tlsOptions(pki.server), { ca: trust, servername: "localhost" })).toEqual({
      ok: true,
    });
    expect((await handshake(tlsOptions(pki.expired), { ca: trust, servername: "localhost" })).error).toBe(
      "CERT_HAS_EXPIRED",
    );
    expect((await handshake(tlsOptions(pki.notYetValid), { ca: trust, servername: "localhost" })).error).toBe(
      "CERT_NOT_YET_VALID",
    );
    expect((await handshake(tlsOptions(pki.wrongName), { ca: trust, servername: "localhost" })).error).toBe(
      "ERR_TLS_CERT_ALTNAME_INVALID",
    );
    expect((await handshake(tlsOptions(pki.untrusted), { ca: trust, servername: "localhost" })).ok).toBe(
      false,
    );
    expect((await handshake(tlsOptions(pki.selfSigned), { ca: trust, servername: "localhost" })).error).toBe(
      "DEPTH_ZERO_SELF_SIGNED_CERT",
    );
  });

  it("makes RSA certificates and CRLs", async () => {
    const self = await createSelfSigned({ keyType: "rsa-2048", dns: ["localhost"] });
    expect(new X509Certificate(self.certPem).publicKey.asymmetricKeyType).toBe("rsa");
    const pki = await createPki();
    const crl = await pki.intermediate.issueCrl([pki.server.certificate.serialNumber]);
    expect(crl).toContain("BEGIN X509 CRL");
  });
});
