import { createPki, createSelfSigned, type Pki } from "@x/test-certs";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateSttpCertificate, type SttpPolicy } from "../src/index.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

const DAY = 86_400_000;
const codes = (l: readonly { code: string }[]) => l.map((f) => f.code);
const policy = (over: Partial<SttpPolicy> = {}): SttpPolicy => ({
  anchors: [pki.root.certPem],
  host: "localhost",
  ...over,
});

describe("STTP policy: strict by default", () => {
  it("a good chain passes with no warnings", () => {
    const r = evaluateSttpCertificate(pki.server.chainPem, policy());
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([]);
  });
  it.each([
    ["wrong name", () => pki.wrongName.chainPem, "NAME_MISMATCH"],
    ["untrusted issuer", () => pki.untrusted.chainPem, "CHAIN_NO_ANCHOR"],
    ["unpinned self-signed", () => pki.selfSigned.certPem, "CHAIN_NO_ANCHOR"],
    ["expired", () => pki.expired.chainPem, "CERT_EXPIRED"],
    ["not yet valid", () => pki.notYetValid.chainPem, "CERT_NOT_YET_VALID"],
  ])("%s fails by default", (_n, chain, code) => {
    const r = evaluateSttpCertificate(chain(), policy());
    expect(r.ok).toBe(false);
    expect(codes(r.errors)).toContain(code);
  });
  it("a pinned self-signed peer is trust configuration, not a relaxation (no warning)", () => {
    const r = evaluateSttpCertificate(pki.selfSigned.certPem, policy({ anchors: [pki.selfSigned.certPem] }));
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(r.anchor?.kind).toBe("pinned");
  });
  it("pinned by SHA-256 fingerprint", () => {
    const r = evaluateSttpCertificate(
      pki.selfSigned.certPem,
      policy({ anchors: [{ fingerprint: `sha256:${pki.selfSigned.fingerprint256}` }] }),
    );
    expect(r.ok).toBe(true);
  });
});

describe("STTP tolerances: each suppresses exactly its class and is reported", () => {
  it("allowNameMismatch", () => {
    const r = evaluateSttpCertificate(pki.wrongName.chainPem, policy({ allowNameMismatch: true }));
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([
      expect.objectContaining({ code: "OVERRIDE_NAME_MISMATCH", suppressed: "NAME_MISMATCH" }),
    ]);
  });
  it("allowIpMismatch (NAT)", () => {
    const r = evaluateSttpCertificate(
      pki.server.chainPem,
      policy({ host: undefined, ip: "10.1.2.3", allowIpMismatch: true }),
    );
    expect(r.ok).toBe(true);
    expect(codes(r.warnings)).toEqual(["OVERRIDE_IP_MISMATCH"]);
  });
  it("allowUntrustedIssuer", () => {
    const r = evaluateSttpCertificate(pki.untrusted.chainPem, policy({ allowUntrustedIssuer: true }));
    expect(r.ok).toBe(true);
    expect(codes(r.warnings)).toEqual(["OVERRIDE_UNTRUSTED_ISSUER"]);
  });
  it("allowExpired", () => {
    const r = evaluateSttpCertificate(pki.expired.chainPem, policy({ allowExpired: true }));
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([
      expect.objectContaining({ code: "OVERRIDE_VALIDITY", suppressed: "CERT_EXPIRED", depth: 0 }),
    ]);
  });
  it("allowRevocationUnknown", () => {
    const strict = evaluateSttpCertificate(pki.server.chainPem, policy({ revocation: () => "unknown" }));
    expect(codes(strict.errors)).toContain("REVOCATION_UNKNOWN");
    const r = evaluateSttpCertificate(
      pki.server.chainPem,
      policy({ revocation: () => "unknown", allowRevocationUnknown: true }),
    );
    expect(r.ok).toBe(true);
    expect(codes(r.warnings)).toContain("OVERRIDE_REVOCATION_UNKNOWN");
  });
  it("allowCommonNameFallback", async () => {
    const cnOnly = await pki.intermediate.issueLeaf({ commonName: "legacy.example" });
    expect(evaluateSttpCertificate(cnOnly.chainPem, policy({ host: "legacy.example" })).ok).toBe(false);
    const r = evaluateSttpCertificate(
      cnOnly.chainPem,
      policy({ host: "legacy.example", allowCommonNameFallback: true }),
    );
    expect(r.ok).toBe(true);
    expect(codes(r.warnings)).toEqual(["OVERRIDE_CN_FALLBACK"]);
  });
  it("an enabled but unused tolerance produces nothing", () => {
    const r = evaluateSttpCertificate(
      pki.server.chainPem,
      policy({ allowExpired: true, allowNameMismatch: true, allowUntrustedIssuer: true }),
    );
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([]);
  });
  it("allowExpired does not accept an expired certificate from an untrusted CA (masking)", async () => {
    const leaf = await pki.untrustedRoot.issueLeaf({
      dns: ["localhost"],
      notBefore: new Date(Date.now() - 9 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const r = evaluateSttpCertificate(leaf.chainPem, policy({ allowExpired: true }));
    expect(r.ok).toBe(false);
    expect(codes(r.errors)).toEqual(["CHAIN_NO_ANCHOR"]);
  });
  it("allowNameMismatch does not hide an expiry; both needed for both errors", () => {
    const expiredWrongHost = policy({ host: "elsewhere.example", allowNameMismatch: true });
    expect(evaluateSttpCertificate(pki.expired.chainPem, expiredWrongHost).ok).toBe(false);
    const r = evaluateSttpCertificate(pki.expired.chainPem, { ...expiredWrongHost, allowExpired: true });
    expect(r.ok).toBe(true);
    expect(codes(r.warnings).sort()).toEqual(["OVERRIDE_NAME_MISMATCH", "OVERRIDE_VALIDITY"]);
  });
  it("allowUntrustedIssuer still rejects a broken signature", async () => {
    const other = await createSelfSigned({ dns: ["localhost"] });
    const der = new Uint8Array(other.certDer);
    der[der.length - 5]! ^= 0xff; // corrupt the signature
    const chain = [pki.server.certDer, der];
    const r = evaluateSttpCertificate(chain, policy({ allowUntrustedIssuer: true, anchors: [] }));
    expect(r.ok).toBe(true); // the leaf alone is untrusted; the corrupt cert is not its issuer
    const self = new Uint8Array(pki.selfSigned.certDer);
    self[self.length - 3]! ^= 0x55;
    const bad = evaluateSttpCertificate(self, policy({ allowUntrustedIssuer: true, anchors: [] }));
    expect(bad.ok).toBe(false);
    expect(codes(bad.errors)).toContain("SIGNATURE_INVALID");
    expect(codes(bad.warnings)).toContain("OVERRIDE_UNTRUSTED_ISSUER");
  });
});
