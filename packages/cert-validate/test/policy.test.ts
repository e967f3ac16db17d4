/**
 * RFC 5280 §6.1 certificate policy processing, PKITS-style: chains built with @peculiar/x509 and
 * the @peculiar/asn1-x509 classes for the four policy extensions.
 */
import { execFile } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  CertificatePolicies,
  InhibitAnyPolicy,
  PolicyConstraints,
  PolicyInformation,
  PolicyMapping,
  PolicyMappings,
  PolicyQualifierInfo,
} from "@peculiar/asn1-x509";
import { x509 } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ANY_POLICY,
  CertOptionsError,
  evaluateSttpCertificate,
  evaluateUspCertificate,
  type PathOptions,
  parseCertificate,
  validatePath,
} from "../src/index.js";

const DAY = 86_400_000;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const GEN = { name: "ECDSA", namedCurve: "P-256" } as const;
const P1 = "1.3.6.1.4.1.55555.1.1";
const P2 = "1.3.6.1.4.1.55555.1.2";
const P3 = "1.3.6.1.4.1.55555.1.3";
const CPS = "1.3.6.1.5.5.7.2.1";

interface Made {
  readonly cert: x509.X509Certificate;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly pem: string;
}

let serial = 0x10;
async function make(name: string, parent: Made | undefined, ca: boolean, extensions: x509.Extension[]) {
  const keys = (await webcrypto.subtle.generateKey(GEN, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const issuerKeys = parent?.keys ?? keys;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(4, "0"),
    subject: `CN=${name}`,
    issuer: parent ? parent.cert.subject : `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: issuerKeys.privateKey,
    signingAlgorithm: SIGN,
    extensions: [
      ...(ca
        ? [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
          ]
        : [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "leaf.example" }], false)]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey),
      ...extensions,
    ],
  });
  return { cert, keys, pem: `${cert.toString("pem")}\n` } satisfies Made;
}

const skip = (n: number) => new Uint8Array([n]).buffer;
const policies = (oids: readonly string[], critical = false, cps?: string) =>
  new x509.Extension(
    "2.5.29.32",
    critical,
    AsnConvert.serialize(
      new CertificatePolicies(
        oids.map(
          (o) =>
            new PolicyInformation({
              policyIdentifier: o,
              policyQualifiers: cps
                ? [
                    new PolicyQualifierInfo({
                      policyQualifierId: CPS,
                      qualifier: new Uint8Array([0x16, cps.length, ...Buffer.from(cps)]).buffer,
                    }),
                  ]
                : undefined,
            }),
        ),
      ),
    ),
  );
const mappings = (pairs: readonly (readonly [string, string])[], critical = false) =>
  new x509.Extension(
    "2.5.29.33",
    critical,
    AsnConvert.serialize(
      new PolicyMappings(
        pairs.map(([i, s]) =>
          Object.assign(new PolicyMapping(), { issuerDomainPolicy: i, subjectDomainPolicy: s }),
        ),
      ),
    ),
  );
const constraints = (c: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number }, critical = true) =>
  new x509.Extension(
    "2.5.29.36",
    critical,
    AsnConvert.serialize(
      new PolicyConstraints({
        requireExplicitPolicy:
          c.requireExplicitPolicy === undefined ? undefined : skip(c.requireExplicitPolicy),
        inhibitPolicyMapping: c.inhibitPolicyMapping === undefined ? undefined : skip(c.inhibitPolicyMapping),
      }),
    ),
  );
const inhibitAny = (n: number, critical = true) =>
  new x509.Extension("2.5.29.54", critical, AsnConvert.serialize(new InhibitAnyPolicy(skip(n))));

let root: Made;
beforeAll(async () => {
  root = await make("Policy Root", undefined, true, []);
}, 60_000);

/** root → CA 1 → … → CA k → leaf, each CA and the leaf with the given extensions. */
async function chain(cas: x509.Extension[][], leafExt: x509.Extension[]) {
  let parent = root;
  const made: Made[] = [];
  for (const [k, ext] of cas.entries()) {
    parent = await make(`Policy CA ${k + 1}`, parent, true, ext);
    made.push(parent);
  }
  const leaf = await make("Policy Leaf", parent, false, leafExt);
  return [leaf.pem, ...made.reverse().map((m) => m.pem)].join("");
}

const validate = (pem: string, extra: Partial<PathOptions> = {}) =>
  validatePath(pem, { anchors: [root.pem], time: new Date(), ...extra });
const codes = (l: readonly { code: string }[]) => l.map((f) => f.code);
const oids = (r: { policies?: readonly { oid: string }[] }) => r.policies?.map((p) => p.oid);

describe("certificate policies (RFC 5280 §6.1)", () => {
  it("a path without policy extensions validates as before, with an empty policy set", async () => {
    const pem = await chain([[]], []);
    const r = validate(pem);
    expect(r.ok).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.policies).toEqual([]);
    const strict = validate(pem, { requireExplicitPolicy: true });
    expect(codes(strict.errors)).toEqual(["NO_VALID_POLICY"]);
  });

  it("all certificates asserting the same policy: valid for it, with its qualifiers", async () => {
    const pem = await chain(
      [[policies([P1])], [policies([P1])]],
      [policies([P1], false, "https://cps.example")],
    );
    const r = validate(pem, { requireExplicitPolicy: true });
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P1]);
    expect(r.policies?.[0]?.qualifiers.map((q) => q.id)).toEqual([CPS]);
    expect(Buffer.from(r.policies![0]!.qualifiers[0]!.value.subarray(2)).toString()).toBe(
      "https://cps.example",
    );
    expect(validate(pem, { requireExplicitPolicy: true, initialPolicies: [P2, P1] }).ok).toBe(true);
  });

  it("leaf asserting a policy its issuer lacks: invalid under requireExplicitPolicy, else valid with no policy", async () => {
    const required = await chain(
      [[policies([P1]), constraints({ requireExplicitPolicy: 0 })]],
      [policies([P2])],
    );
    const r = validate(required);
    expect(r.ok).toBe(false);
    expect(r.errors).toMatchObject([{ code: "NO_VALID_POLICY", depth: 0 }]);
    const free = await chain([[policies([P1])]], [policies([P2])]);
    const f = validate(free);
    expect(f.ok).toBe(true);
    expect(f.policies).toEqual([]);
  });

  it("requireExplicitPolicy with a skip count applies only below the skipped certificates", async () => {
    // CA 1 says requireExplicitPolicy N: N more certificates may follow before the path needs an
    // explicit policy. Two follow here (CA 2 without policies, then the leaf).
    const pem = await chain(
      [[policies([P1]), constraints({ requireExplicitPolicy: 3 })], []],
      [policies([P1])],
    );
    expect(validate(pem).ok).toBe(true);
    const tight = await chain(
      [[policies([P1]), constraints({ requireExplicitPolicy: 2 })], []],
      [policies([P1])],
    );
    expect(codes(validate(tight).errors)).toEqual(["NO_VALID_POLICY"]);
  });

  it("a leaf requireExplicitPolicy 0 is applied at wrap-up (RFC 5280 §6.1.5 (b))", async () => {
    const pem = await chain([[]], [constraints({ requireExplicitPolicy: 0 }, false)]);
    expect(codes(validate(pem).errors)).toEqual(["NO_VALID_POLICY"]);
  });

  it("user-initial-policy-set mismatch: invalid with an explicit policy, valid with an empty set otherwise", async () => {
    const pem = await chain([[policies([P1])]], [policies([P1])]);
    const r = validate(pem, { initialPolicies: [P2], requireExplicitPolicy: true });
    expect(r.errors).toMatchObject([{ code: "NO_VALID_POLICY" }]);
    const loose = validate(pem, { initialPolicies: [P2] });
    expect(loose.ok).toBe(true);
    expect(loose.policies).toEqual([]);
  });

  it("honours policy mappings (issuerDomainPolicy → subjectDomainPolicy)", async () => {
    const pem = await chain([[policies([P1]), mappings([[P1, P2]])]], [policies([P2])]);
    const r = validate(pem, { requireExplicitPolicy: true });
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P2]);
    // The user set is expressed in the issuer's (anchor-side) domain.
    expect(validate(pem, { requireExplicitPolicy: true, initialPolicies: [P1] }).ok).toBe(true);
    expect(codes(validate(pem, { requireExplicitPolicy: true, initialPolicies: [P2] }).errors)).toEqual([
      "NO_VALID_POLICY",
    ]);
    // Without the mapping the leaf's P2 is unrelated to P1.
    const unmapped = await chain([[policies([P1])]], [policies([P2])]);
    expect(codes(validate(unmapped, { requireExplicitPolicy: true }).errors)).toEqual(["NO_VALID_POLICY"]);
  });

  it("initial-policy-mapping-inhibit (inhibitPolicyMapping option) disables mappings", async () => {
    const pem = await chain([[policies([P1]), mappings([[P1, P2]])]], [policies([P2])]);
    const r = validate(pem, { requireExplicitPolicy: true, inhibitPolicyMapping: true });
    expect(codes(r.errors)).toEqual(["NO_VALID_POLICY"]);
  });

  it("policyConstraints inhibitPolicyMapping stops mappings in later certificates", async () => {
    const inhibited = await chain(
      [
        [policies([P1]), constraints({ requireExplicitPolicy: 0, inhibitPolicyMapping: 0 })],
        [policies([P1]), mappings([[P1, P2]])],
      ],
      [policies([P2])],
    );
    expect(codes(validate(inhibited).errors)).toEqual(["NO_VALID_POLICY"]);
    const allowed = await chain(
      [
        [policies([P1]), constraints({ requireExplicitPolicy: 0, inhibitPolicyMapping: 1 })],
        [policies([P1]), mappings([[P1, P2]])],
      ],
      [policies([P2])],
    );
    const r = validate(allowed);
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P2]);
  });

  it("rejects mappings to or from anyPolicy", async () => {
    for (const pair of [
      [ANY_POLICY, P2],
      [P1, ANY_POLICY],
    ] as const) {
      const pem = await chain([[policies([P1]), mappings([pair])]], [policies([P2])]);
      const r = validate(pem);
      expect(r.ok).toBe(false);
      expect(r.errors).toMatchObject([{ code: "MALFORMED_EXTENSION", depth: 1 }]);
    }
  });

  it("anyPolicy in an intermediate expands to the leaf's policies", async () => {
    const pem = await chain([[policies([ANY_POLICY])]], [policies([P1, P2])]);
    const r = validate(pem, { requireExplicitPolicy: true });
    expect(r.errors).toEqual([]);
    expect(oids(r)?.sort()).toEqual([P1, P2]);
    const only = validate(pem, { requireExplicitPolicy: true, initialPolicies: [P2, P3] });
    expect(only.errors).toEqual([]);
    expect(oids(only)).toEqual([P2]);
    // A leaf asserting anyPolicy inherits its issuer's policy.
    const anyLeaf = await chain([[policies([P1])]], [policies([ANY_POLICY])]);
    expect(oids(validate(anyLeaf, { requireExplicitPolicy: true }))).toEqual([P1]);
    // anyPolicy all the way down: valid for every policy, and for any user set.
    const allAny = await chain([[policies([ANY_POLICY])]], [policies([ANY_POLICY])]);
    expect(oids(validate(allAny, { requireExplicitPolicy: true }))).toEqual([ANY_POLICY]);
    expect(oids(validate(allAny, { requireExplicitPolicy: true, initialPolicies: [P3] }))).toEqual([P3]);
  });

  it("initial-any-policy-inhibit and the inhibitAnyPolicy extension skip anyPolicy", async () => {
    const pem = await chain([[policies([ANY_POLICY])]], [policies([P1])]);
    expect(codes(validate(pem, { requireExplicitPolicy: true, inhibitAnyPolicy: true }).errors)).toEqual([
      "NO_VALID_POLICY",
    ]);
    const skip0 = await chain(
      [[policies([ANY_POLICY]), inhibitAny(0)], [policies([ANY_POLICY])]],
      [policies([P1])],
    );
    expect(codes(validate(skip0, { requireExplicitPolicy: true }).errors)).toEqual(["NO_VALID_POLICY"]);
    const skip1 = await chain(
      [[policies([ANY_POLICY]), inhibitAny(1)], [policies([ANY_POLICY])]],
      [policies([P1])],
    );
    const r = validate(skip1, { requireExplicitPolicy: true });
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P1]);
  });

  it("a self-issued intermediate may still use anyPolicy after inhibitAnyPolicy 0 (RFC 5280 §6.1.3 (d)(2))", async () => {
    const ca = await make("Rollover CA", root, true, [policies([ANY_POLICY]), inhibitAny(0)]);
    // Same subject, new key: a key-rollover certificate, self-issued but not self-signed.
    const rolled = await make("Rollover CA", ca, true, [policies([ANY_POLICY])]);
    const leaf = await make("Rollover Leaf", rolled, false, [policies([P1])]);
    const r = validate(leaf.pem + rolled.pem + ca.pem, { requireExplicitPolicy: true });
    expect(r.path).toHaveLength(4);
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P1]);
    // The peer gets no such exemption.
    const anyLeaf = await make("Rollover Any Leaf", rolled, false, [policies([ANY_POLICY])]);
    const f = validate(anyLeaf.pem + rolled.pem + ca.pem, { requireExplicitPolicy: true });
    expect(codes(f.errors)).toEqual(["NO_VALID_POLICY"]);
  });

  it("the STTP and USP flows pass the policy inputs through", async () => {
    const pem = await chain([[policies([P1])]], [policies([P1])]);
    const sttp = evaluateSttpCertificate(pem, { anchors: [root.pem], requireExplicitPolicy: true });
    expect(sttp.ok).toBe(true);
    expect(oids(sttp)).toEqual([P1]);
    const refused = evaluateSttpCertificate(pem, {
      anchors: [root.pem],
      requireExplicitPolicy: true,
      initialPolicies: [P2],
    });
    expect(codes(refused.errors)).toEqual(["NO_VALID_POLICY"]);
    const usp = (extra: object) =>
      evaluateUspCertificate(pem, {
        initiatedBySelf: false,
        time: new Date(),
        anchors: [root.pem],
        purpose: null,
        ...extra,
      });
    expect(usp({ requireExplicitPolicy: true, initialPolicies: [P1] }).decision).toBe("establish");
    const d = usp({ requireExplicitPolicy: true, initialPolicies: [P2] });
    expect(d.decision).toBe("terminate");
    expect(codes(d.errors)).toContain("NO_VALID_POLICY");
  });

  it("accepts the four policy extensions when critical", async () => {
    const pem = await chain(
      [
        [
          policies([P1], true),
          mappings([[P1, P2]], true),
          constraints({ requireExplicitPolicy: 0 }, true),
          inhibitAny(0, true),
        ],
      ],
      [policies([P2], true)],
    );
    const r = validate(pem);
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P2]);
  });

  it("a pinned peer is a path of length 0: valid for the user set", async () => {
    const leaf = await make("Pinned", undefined, false, [policies([P1])]);
    const r = validatePath(leaf.pem, {
      anchors: [leaf.pem],
      time: new Date(),
      requireExplicitPolicy: true,
      initialPolicies: [P2],
    });
    expect(r.errors).toEqual([]);
    expect(oids(r)).toEqual([P2]);
  });

  it("parses the policy extensions and rejects malformed ones", async () => {
    const ca = await make("Parsed", root, true, [
      policies([P1, ANY_POLICY]),
      mappings([[P1, P2]]),
      constraints({ inhibitPolicyMapping: 3 }),
      inhibitAny(2),
    ]);
    const c = parseCertificate(new Uint8Array(ca.cert.rawData));
    expect(c.problems).toEqual([]);
    expect(c.policies?.map((p) => p.oid)).toEqual([P1, ANY_POLICY]);
    expect(c.policyMappings).toEqual([{ issuer: P1, subject: P2 }]);
    expect(c.policyConstraints).toEqual({ requireExplicitPolicy: undefined, inhibitPolicyMapping: 3 });
    expect(c.inhibitAnyPolicy).toBe(2);
    const dup = await make("Dup", root, false, [policies([P1, P1])]);
    expect(codes(parseCertificate(new Uint8Array(dup.cert.rawData)).problems)).toEqual([
      "MALFORMED_EXTENSION",
    ]);
    const empty = await make("Empty PC", root, false, [
      new x509.Extension("2.5.29.36", true, new Uint8Array([0x30, 0])),
    ]);
    expect(codes(parseCertificate(new Uint8Array(empty.cert.rawData)).problems)).toEqual([
      "MALFORMED_EXTENSION",
    ]);
  });

  it("rejects an empty initialPolicies", async () => {
    const pem = await chain([], []);
    expect(() => validate(pem, { initialPolicies: [] })).toThrow(CertOptionsError);
  });

  it("a policy-tree explosion through mappings hits the budget with PATH_BUDGET_EXCEEDED", async () => {
    // Every CA asserts k policies and maps each to all k: each level multiplies the tree by k
    // (k^depth nodes, the CVE-2023-0464 shape). The default budget stops it at level 4.
    const k = 10;
    const ps = Array.from({ length: k }, (_, i) => `1.3.6.1.4.1.55555.9.${i}`);
    const all = ps.flatMap((a) => ps.map((b) => [a, b] as const));
    const ca = [policies(ps), mappings(all)];
    const pem = await chain([ca, ca, ca, ca, ca], [policies(ps)]);
    const r = validate(pem);
    expect(r.ok).toBe(false);
    expect(codes(r.errors)).toEqual(["PATH_BUDGET_EXCEEDED"]);
    expect(r.errors[0]?.message).toMatch(/policy/);
    // The same chain is fine when its tree fits the budget.
    const small = await chain([ca], [policies(ps)]);
    const ok = validate(small, { requireExplicitPolicy: true });
    expect(ok.errors).toEqual([]);
    expect(ok.policies).toHaveLength(k);
  });
});

describe("agreement with OpenSSL verify -policy_check", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cert-validate-policy-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (args: string[]) =>
    new Promise<boolean>((res) => execFile("openssl", args, { timeout: 30_000 }, (err) => res(!err)));

  it("gives the same verdict on the policy scenarios", async () => {
    const scenarios: { name: string; pem: string; opts: Partial<PathOptions> }[] = [];
    const add = (name: string, pem: string, ...sets: Partial<PathOptions>[]) => {
      for (const opts of sets) scenarios.push({ name: `${name} ${JSON.stringify(opts)}`, pem, opts });
    };
    const explicit = { requireExplicitPolicy: true };
    add("same policy", await chain([[policies([P1])]], [policies([P1])]), {}, explicit, {
      ...explicit,
      initialPolicies: [P2],
    });
    add("leaf policy unknown to CA", await chain([[policies([P1])]], [policies([P2])]), {}, explicit);
    add("no policies", await chain([[]], []), {}, explicit);
    add(
      "mapping",
      await chain([[policies([P1]), mappings([[P1, P2]])]], [policies([P2])]),
      explicit,
      { ...explicit, inhibitPolicyMapping: true },
      { ...explicit, initialPolicies: [P1] },
      { ...explicit, initialPolicies: [P2] },
    );
    add(
      "anyPolicy CA",
      await chain([[policies([ANY_POLICY])]], [policies([P1, P2])]),
      explicit,
      { ...explicit, inhibitAnyPolicy: true },
      { ...explicit, initialPolicies: [P2] },
      { ...explicit, initialPolicies: [P3] },
    );
    add(
      "inhibitAnyPolicy 0",
      await chain([[policies([ANY_POLICY]), inhibitAny(0)], [policies([ANY_POLICY])]], [policies([P1])]),
      {},
      explicit,
    );
    add(
      "requireExplicitPolicy 2",
      await chain([[policies([P1]), constraints({ requireExplicitPolicy: 2 })], []], [policies([P1])]),
      {},
    );
    add(
      "inhibitPolicyMapping 0",
      await chain(
        [
          [policies([P1]), constraints({ requireExplicitPolicy: 0, inhibitPolicyMapping: 0 })],
          [policies([P1]), mappings([[P1, P2]])],
        ],
        [policies([P2])],
      ),
      {},
    );
    const verdicts: boolean[] = [];
    const rootFile = join(dir, "root.pem");
    writeFileSync(rootFile, root.pem);
    for (const [i, s] of scenarios.entries()) {
      const [leafPem] = s.pem.split(/(?<=-----END CERTIFICATE-----\n)/);
      const leafFile = join(dir, `${i}-leaf.pem`);
      const chainFile = join(dir, `${i}-chain.pem`);
      writeFileSync(leafFile, leafPem!);
      writeFileSync(chainFile, s.pem);
      const args = ["verify", "-x509_strict", "-policy_check", "-CAfile", rootFile, "-untrusted", chainFile];
      if (s.opts.requireExplicitPolicy) args.push("-explicit_policy");
      if (s.opts.inhibitPolicyMapping) args.push("-inhibit_map");
      if (s.opts.inhibitAnyPolicy) args.push("-inhibit_any");
      // OpenSSL takes an absent -policy as an empty user set (so -explicit_policy always fails);
      // RFC 5280's default is {anyPolicy}, so pass it explicitly.
      for (const p of s.opts.initialPolicies ?? [ANY_POLICY]) args.push("-policy", p);
      const theirs = await openssl([...args, leafFile]);
      const ours = validate(s.pem, s.opts).ok;
      expect({ case: s.name, ours }).toEqual({ case: s.name, ours: theirs });
      verdicts.push(ours);
    }
    expect(verdicts.filter(Boolean).length).toBe(9);
    expect(verdicts.length).toBe(19);
  }, 60_000);
});
