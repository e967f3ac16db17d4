import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createPki, createRootCa, type Pki } from "@x/test-certs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CertInputError,
  CertOptionsError,
  CertParseError,
  dnsNameMatches,
  isSpecialUseLanDomain,
  type LimboSuite,
  parseCertificate,
  parseCrl,
  parseFingerprint,
  parseIp,
  validatePath,
} from "../src/index.js";
import { constrainedIntermediate } from "./helpers.js";

const fixture = JSON.parse(
  readFileSync(
    resolve(
      dirname(fileURLToPath(import.meta.url)),
      "../../../../shared/fixtures/x509-limbo/limbo-2023-12-02.json",
    ),
    "utf8",
  ),
) as LimboSuite;
const limboCase = (id: string) => fixture.testcases.find((t) => t.id === id)!;

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

const now = () => new Date();
const codes = (l: readonly { code: string }[]) => l.map((f) => f.code);

describe("validatePath basics", () => {
  it("validates leaf ← intermediate ← root and reports the path", () => {
    const r = validatePath(pki.server.chainPem, {
      anchors: [pki.root.certPem],
      time: now(),
      purpose: "serverAuth",
      host: "localhost",
    });
    expect(r.ok).toBe(true);
    expect(r.path.map((c) => c.fingerprint256)).toEqual([
      pki.server.fingerprint256,
      pki.intermediate.fingerprint256,
      pki.root.fingerprint256,
    ]);
    expect(r.anchor).toMatchObject({ kind: "certificate", index: 0 });
  });
  it("accepts DER, arrays and node X509Certificate inputs alike", async () => {
    const { X509Certificate } = await import("node:crypto");
    const opts = { anchors: [pki.root.certDer], time: now() };
    expect(validatePath([pki.server.certDer, pki.intermediate.certDer], opts).ok).toBe(true);
    expect(
      validatePath(
        [new X509Certificate(pki.server.certPem), new X509Certificate(pki.intermediate.certPem)],
        opts,
      ).ok,
    ).toBe(true);
    expect(validatePath(pki.server.certPem, { ...opts, intermediates: pki.intermediate.certPem }).ok).toBe(
      true,
    );
    expect(
      validatePath(pki.server.certPem, {
        trustAnchors: [pki.root.certPem],
        intermediates: pki.intermediate.certPem,
        time: now(),
      }).ok,
    ).toBe(true);
  });
  it("fails without the intermediate", () => {
    const r = validatePath(pki.server.certPem, { anchors: [pki.root.certPem], time: now() });
    expect(codes(r.errors)).toEqual(["CHAIN_NO_ANCHOR"]);
  });
  it("validity is inclusive at both ends, at one-second granularity", () => {
    const c = pki.server.certificate;
    const opts = (t: Date) => ({ anchors: [pki.root.certPem], time: t });
    expect(validatePath(pki.server.chainPem, opts(new Date(c.notBefore.getTime()))).ok).toBe(true);
    expect(validatePath(pki.server.chainPem, opts(new Date(c.notAfter.getTime() + 999))).ok).toBe(true);
    expect(
      codes(validatePath(pki.server.chainPem, opts(new Date(c.notAfter.getTime() + 1000))).errors),
    ).toContain("CERT_EXPIRED");
    expect(
      codes(validatePath(pki.server.chainPem, opts(new Date(c.notBefore.getTime() - 1))).errors),
    ).toContain("CERT_NOT_YET_VALID");
  });
  it("time 'none' skips validity, says so, and keeps every other check", () => {
    const r = validatePath(pki.expired.chainPem, { anchors: [pki.root.certPem], time: "none" });
    expect(r.ok).toBe(true);
    expect(r.timeChecked).toBe(false);
    expect(codes(r.warnings)).toContain("TIME_UNKNOWN");
    expect(validatePath(pki.untrusted.chainPem, { anchors: [pki.root.certPem], time: "none" }).ok).toBe(
      false,
    );
  });
  it("an expired anchor fails with accurate time", async () => {
    const old = await createRootCa({
      notBefore: new Date(Date.now() - 9e9),
      notAfter: new Date(Date.now() - 1e9),
    });
    const leaf = await old.issueLeaf({ dns: ["a.example"] });
    expect(codes(validatePath(leaf.chainPem, { anchors: [old.certPem], time: now() }).errors)).toContain(
      "CERT_EXPIRED",
    );
  });
  it("pathLenConstraint 0 forbids a further intermediate", async () => {
    const root = await createRootCa({ pathLength: 0 });
    const ica = await root.issueIntermediate();
    const leaf = await ica.issueLeaf({ dns: ["a.example"] });
    expect(codes(validatePath(leaf.chainPem, { anchors: [root.certPem], time: now() }).errors)).toContain(
      "PATH_LENGTH_EXCEEDED",
    );
    expect(validatePath(leaf.chainPem, { anchors: [ica.certPem], time: now() }).ok).toBe(true);
  });
  it("maxDepth counts logical intermediates", async () => {
    const ica2 = await pki.intermediate.issueIntermediate({ commonName: "Second ICA" });
    const leaf = await ica2.issueLeaf({ dns: ["a.example"] });
    const base = { anchors: [pki.root.certPem], time: now() };
    expect(validatePath(leaf.chainPem, { ...base, maxDepth: 2 }).ok).toBe(true);
    expect(codes(validatePath(leaf.chainPem, { ...base, maxDepth: 1 }).errors)).toContain(
      "MAX_DEPTH_EXCEEDED",
    );
  });
  it("EKU: clientAuth-only leaf fails serverAuth; absent EKU means any", async () => {
    const client = await pki.intermediate.issueLeaf({ dns: ["a.example"], usage: "client" });
    const none = await pki.intermediate.issueLeaf({ dns: ["a.example"], usage: "none" });
    const base = { anchors: [pki.root.certPem], time: now(), purpose: "serverAuth" as const };
    expect(codes(validatePath(client.chainPem, base).errors)).toEqual(["EKU_MISMATCH"]);
    expect(validatePath(none.chainPem, base).ok).toBe(true);
  });
  it("host matching: no partial wildcards, no CN fallback, IP only against iPAddress", async () => {
    const wild = await pki.intermediate.issueLeaf({ dns: ["*.example.com"], commonName: "plain.example" });
    const base = { anchors: [pki.root.certPem], time: now() };
    expect(validatePath(wild.chainPem, { ...base, host: "a.example.com" }).ok).toBe(true);
    expect(validatePath(wild.chainPem, { ...base, host: "a.b.example.com" }).ok).toBe(false);
    expect(validatePath(wild.chainPem, { ...base, host: "example.com" }).ok).toBe(false);
    expect(validatePath(wild.chainPem, { ...base, host: "plain.example" }).ok).toBe(false);
    expect(validatePath(pki.server.chainPem, { ...base, ip: "127.0.0.1" }).ok).toBe(true);
    expect(codes(validatePath(pki.server.chainPem, { ...base, ip: "127.0.0.2" }).errors)).toEqual([
      "IP_MISMATCH",
    ]);
    expect(codes(validatePath(pki.server.chainPem, { ...base, host: "127.0.0.2" }).errors)).toEqual([
      "IP_MISMATCH",
    ]);
  });
  it("revocation: a CRL from the issuer revokes; unknown is a warning unless required", async () => {
    const crl = await pki.intermediate.issueCrl([pki.server.certificate.serialNumber]);
    const base = { anchors: [pki.root.certPem], time: now() };
    expect(codes(validatePath(pki.server.chainPem, { ...base, crls: crl }).errors)).toEqual(["CERT_REVOKED"]);
    const other = await pki.intermediate.issueCrl(["01"]);
    const good = validatePath(pki.server.chainPem, { ...base, crls: other });
    expect(good.ok).toBe(true);
    expect(codes(good.warnings)).toContain("REVOCATION_UNKNOWN"); // the intermediate has no CRL from the root
    expect(validatePath(pki.server.chainPem, { ...base, crls: other, requireRevocation: true }).ok).toBe(
      false,
    );
  });
  it("a stale CRL is ignored with accurate time, and used when time is unknown", async () => {
    const stale = await pki.intermediate.issueCrl([pki.server.certificate.serialNumber], {
      thisUpdate: new Date(Date.now() - 9e8),
      nextUpdate: new Date(Date.now() - 1e8),
    });
    const base = { anchors: [pki.root.certPem], crls: stale };
    expect(validatePath(pki.server.chainPem, { ...base, time: now() }).ok).toBe(true);
    expect(codes(validatePath(pki.server.chainPem, { ...base, time: "none" }).errors)).toEqual([
      "CERT_REVOKED",
    ]);
  });
  it("a URN SAN below a URI name constraint is rejected (RFC 5280 §4.2.1.10)", async () => {
    const ca = await constrainedIntermediate(pki.root, [{ uniformResourceIdentifier: ".example.com" }]);
    const usp = await ca.issueLeaf([{ type: "url", value: "urn:bbf:usp:id:proto::controller" }]);
    const web = await ca.issueLeaf([{ type: "url", value: "https://a.example.com/x" }]);
    const base = { anchors: [pki.root.certPem], time: now() };
    const r = validatePath(usp.chainPem, base);
    expect(codes(r.errors)).toEqual(["NAME_CONSTRAINT_VIOLATION"]);
    expect(r.errors[0]?.message).toMatch(/no host/);
    expect(validatePath(web.chainPem, base).ok).toBe(true);
  });
  it("DNS name constraints are enforced on SANs", async () => {
    const ca = await constrainedIntermediate(pki.root, [{ dNSName: "example.com" }]);
    const inside = await ca.issueLeaf([{ type: "dns", value: "a.example.com" }]);
    const outside = await ca.issueLeaf([{ type: "dns", value: "a.example.org" }]);
    const base = { anchors: [pki.root.certPem], time: now() };
    expect(validatePath(inside.chainPem, base).ok).toBe(true);
    expect(codes(validatePath(outside.chainPem, base).errors)).toEqual(["NAME_CONSTRAINT_VIOLATION"]);
  });
  it.each([
    "rfc5280::ski::intermediate-missing-ski",
    "rfc5280::aki::leaf-missing-aki",
    "rfc5280::serial::zero",
  ])("lenient profile turns the profile rule of %s into a warning, and nothing else", (id) => {
    const tc = limboCase(id);
    const opts = {
      anchors: tc.trusted_certs,
      intermediates: tc.untrusted_intermediates,
      time: now(),
      host: "example.com",
    };
    const strict = validatePath(tc.peer_certificate, opts);
    expect(codes(strict.errors)).toEqual(["PROFILE_VIOLATION"]);
    const lenient = validatePath(tc.peer_certificate, { ...opts, profile: "lenient" });
    expect(lenient.ok).toBe(true);
    expect(codes(lenient.warnings)).toContain("PROFILE_VIOLATION");
    // The profile never relaxes chain semantics: the wrong host still fails.
    expect(validatePath(tc.peer_certificate, { ...opts, profile: "lenient", host: "other.example" }).ok).toBe(
      false,
    );
  });
});

describe("work budget and hostile input", () => {
  it("too many presented certificates fail fast with PATH_BUDGET_EXCEEDED", () => {
    const many = Array.from({ length: 20 }, () => pki.intermediate.certPem).join("");
    const r = validatePath(pki.server.certPem + many, { anchors: [pki.root.certPem], time: now() });
    expect(codes(r.errors)).toEqual(["PATH_BUDGET_EXCEEDED"]);
  });
  it("a signature budget of 1 is exceeded by a 3-certificate chain", () => {
    const r = validatePath(pki.server.chainPem, {
      anchors: [pki.root.certPem],
      time: now(),
      budget: { maxSignatureChecks: 1 },
    });
    expect(codes(r.errors)).toEqual(["PATH_BUDGET_EXCEEDED"]);
  });
  it("an unparseable peer certificate is a MALFORMED_CERTIFICATE result, not an exception", () => {
    const r = validatePath(new Uint8Array([0x30, 0x82, 0xff, 0xff, 0]), { anchors: [], time: now() });
    expect(codes(r.errors)).toEqual(["MALFORMED_CERTIFICATE"]);
  });
  it("usage faults throw typed errors", () => {
    expect(() => validatePath("not pem", { anchors: [], time: now() })).toThrow(CertInputError);
    expect(() =>
      validatePath(pki.server.certPem, { anchors: [{ fingerprint: "sha256:zz" }], time: now() }),
    ).toThrow(CertOptionsError);
    expect(() => validatePath(pki.server.certPem, { anchors: [], time: new Date(Number.NaN) })).toThrow(
      CertInputError,
    );
    expect(() => parseCertificate(new Uint8Array([1, 2, 3]))).toThrow(CertParseError);
  });
  it("fuzz: random bytes never crash the parser (only CertParseError)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          parseCertificate(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(CertParseError);
        }
      }),
      { numRuns: 500 },
    );
  });
  it("fuzz: mutated real certificates never throw from validatePath and never validate with a broken signature", () => {
    const der = pki.server.certDer;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: der.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const m = new Uint8Array(der);
        m[pos]! ^= x;
        try {
          parseCertificate(m);
        } catch (err) {
          expect(err).toBeInstanceOf(CertParseError);
        }
        const r = validatePath([m, pki.intermediate.certDer], { anchors: [pki.root.certPem], time: now() });
        if (r.ok) {
          // Only bytes outside the signed TBS and the signature can change without failing... none exist,
          // except a re-encoding that parses identically (impossible under strict DER).
          expect(r.peer?.der).toEqual(m);
          expect.unreachable(`mutation at ${pos} validated`);
        }
      }),
      { numRuns: 300 },
    );
  });
  it("fuzz: CRL parser on random and mutated input throws only CertParseError", async () => {
    const pem = await pki.intermediate.issueCrl(["0a0b"]);
    const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
    expect(parseCrl(der).revoked.has("0a0b")).toBe(true);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: der.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ maxLength: 200 }),
        (pos, x, junk) => {
          const m = new Uint8Array(der);
          m[pos]! ^= x;
          for (const input of [m, junk]) {
            try {
              parseCrl(input);
            } catch (err) {
              expect(err).toBeInstanceOf(CertParseError);
            }
          }
        },
      ),
      { numRuns: 600 },
    );
  });
  it("fuzz: truncations of a real chain never throw", () => {
    const all = Buffer.from(pki.server.chainPem);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: pki.server.certDer.length - 1 }), (cut) => {
        const r = validatePath(pki.server.certDer.subarray(0, cut), {
          anchors: [pki.root.certPem],
          time: now(),
        });
        expect(r.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
    expect(all.length).toBeGreaterThan(0);
  });
});

describe("identity helpers", () => {
  it.each([
    ["*.example.com", "a.example.com", true],
    ["*.example.com", "A.EXAMPLE.COM.", true],
    ["*.example.com", "example.com", false],
    ["*.example.com", "a.b.example.com", false],
    ["f*.example.com", "foo.example.com", false],
    ["*.com", "example.com", false],
    ["example.com.", "example.com", true],
  ])("dnsNameMatches(%s, %s) = %s", (p, h, want) => {
    expect(dnsNameMatches(p, h)).toBe(want);
  });
  it("special-use LAN domains", () => {
    expect(isSpecialUseLanDomain("a.local")).toBe(true);
    expect(isSpecialUseLanDomain("a.HOME.ARPA.")).toBe(true);
    expect(isSpecialUseLanDomain("local")).toBe(false);
    expect(isSpecialUseLanDomain("home.arpa")).toBe(false);
    expect(isSpecialUseLanDomain("a.localhost")).toBe(false);
  });
  it("parseIp handles v4, v6, compressed and bracketed forms", () => {
    expect(Array.from(parseIp("10.0.0.1")!)).toEqual([10, 0, 0, 1]);
    expect(Array.from(parseIp("[::1]")!)).toEqual([...Array(15).fill(0), 1]);
    expect(Array.from(parseIp("::ffff:1.2.3.4")!).slice(10)).toEqual([0xff, 0xff, 1, 2, 3, 4]);
    expect(parseIp("example.com")).toBeUndefined();
  });
  it("parseFingerprint accepts the common spellings", () => {
    const hex = "ab".repeat(32);
    expect(parseFingerprint(`sha256:${hex}`)).toEqual({ alg: "sha256", hex });
    expect(parseFingerprint(hex.toUpperCase().match(/../g)!.join(":"))).toEqual({ alg: "sha256", hex });
    expect(parseFingerprint({ alg: "SHA-1", hex: "cd".repeat(20) })).toEqual({
      alg: "sha1",
      hex: "cd".repeat(20),
    });
    expect(() => parseFingerprint("sha256:abc")).toThrow(CertOptionsError);
  });
});
