/**
 * Differential check against the OpenSSL CLI (`verify -x509_strict -partial_chain -purpose
 * sslserver`) on chains where both define the same behaviour. Bounded: one spawn per case.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Authority, createRootCa, type IssuedCertificate } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validatePath } from "../src/index.js";

const DAY = 86_400_000;
let dir: string;
let root: Authority;
let ica: Authority;
const cases: { name: string; leaf: IssuedCertificate; anchor: () => string; untrusted: () => string }[] = [];

function openssl(args: string[]): Promise<boolean> {
  return new Promise((res) => execFile("openssl", args, { timeout: 30_000 }, (err) => res(!err)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cert-validate-openssl-"));
  root = await createRootCa({ commonName: "Diff Root" });
  ica = await root.issueIntermediate({ commonName: "Diff ICA", pathLength: 0 });
  const other = await createRootCa({ commonName: "Other Root" });
  const tooDeepIca = await ica.issueIntermediate({ commonName: "Too Deep ICA" });
  const expiredIca = await root.issueIntermediate({
    commonName: "Expired ICA",
    notBefore: new Date(Date.now() - 9 * DAY),
    notAfter: new Date(Date.now() - DAY),
  });
  const dns = { dns: ["diff.example"] };
  const add = (
    name: string,
    leaf: IssuedCertificate,
    anchor = () => root.certPem,
    untrusted = () => leaf.chainPem,
  ) => cases.push({ name, leaf, anchor, untrusted });
  add("valid", await ica.issueLeaf(dns));
  add(
    "expired leaf",
    await ica.issueLeaf({
      ...dns,
      notBefore: new Date(Date.now() - 9 * DAY),
      notAfter: new Date(Date.now() - DAY),
    }),
  );
  add(
    "not yet valid leaf",
    await ica.issueLeaf({
      ...dns,
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 9 * DAY),
    }),
  );
  add("client-only EKU for a server", await ica.issueLeaf({ ...dns, usage: "client" }));
  add("untrusted root", await other.issueLeaf(dns));
  add("pathLen 0 violated", await tooDeepIca.issueLeaf(dns));
  add("expired intermediate", await expiredIca.issueLeaf(dns));
  add("intermediate as anchor", await ica.issueLeaf(dns), () => ica.certPem);
  const missing = await ica.issueLeaf(dns);
  add(
    "missing intermediate",
    missing,
    () => root.certPem,
    () => missing.certPem,
  );
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("agreement with OpenSSL verify on semantic cases", () => {
  it("every case gets the same verdict", async () => {
    expect(cases.length).toBe(9);
    const verdicts: boolean[] = [];
    for (const [i, c] of cases.entries()) {
      const files = {
        leaf: join(dir, `${i}-leaf.pem`),
        ca: join(dir, `${i}-ca.pem`),
        chain: join(dir, `${i}-chain.pem`),
      };
      writeFileSync(files.leaf, c.leaf.certPem);
      writeFileSync(files.ca, c.anchor());
      writeFileSync(files.chain, c.untrusted());
      const theirs = await openssl([
        "verify",
        "-x509_strict",
        "-partial_chain",
        "-purpose",
        "sslserver",
        "-CAfile",
        files.ca,
        "-untrusted",
        files.chain,
        files.leaf,
      ]);
      const ours = validatePath(c.leaf.certPem, {
        anchors: [c.anchor()],
        intermediates: c.untrusted(),
        time: new Date(),
        purpose: "serverAuth",
      }).ok;
      expect({ case: c.name, ours }).toEqual({ case: c.name, ours: theirs });
      verdicts.push(ours);
    }
    // Only "valid" and "intermediate as anchor" are good chains.
    expect(verdicts).toEqual([true, false, false, false, false, false, false, true, false]);
  });
});
