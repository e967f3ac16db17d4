/**
 * Validating a 3-certificate ECDSA P-256 chain (root → intermediate → leaf, with a DNS SAN and a
 * USP URN SAN): ours (full RFC 5280 path validation) vs Node's native X509Certificate parse +
 * verify + checkIssued + dates + checkHost on the same chain (which is not a path validation).
 */
import { X509Certificate } from "node:crypto";
import { measureOps, runBenchmarks } from "@x/bench";
import { createRootCa } from "@x/test-certs";
import { validatePath } from "../src/index.js";

const root = await createRootCa({ commonName: "Bench Root" });
const ica = await root.issueIntermediate({ commonName: "Bench ICA", pathLength: 0 });
const leaf = await ica.issueLeaf({
  dns: ["controller.example.com"],
  uris: ["urn:bbf:usp:id:proto::controller-1"],
});
const leafDer = leaf.certDer;
const icaDer = ica.certDer;
const rootDer = root.certDer;
const rootPem = root.certPem;

function native(): boolean {
  const l = new X509Certificate(leafDer);
  const i = new X509Certificate(icaDer);
  const r = new X509Certificate(rootDer);
  const now = Date.now();
  const valid = (c: X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
  return (
    l.checkIssued(i) &&
    i.checkIssued(r) &&
    l.verify(i.publicKey) &&
    i.verify(r.publicKey) &&
    r.verify(r.publicKey) &&
    valid(l) &&
    valid(i) &&
    valid(r) &&
    l.checkHost("controller.example.com") !== undefined &&
    (l.subjectAltName ?? "").includes("urn:bbf:usp:id:")
  );
}

function ours(anchor: string | Uint8Array): boolean {
  return validatePath([leafDer, icaDer], {
    anchors: [anchor],
    time: new Date(),
    purpose: "serverAuth",
    host: "controller.example.com",
  }).ok;
}

if (!native() || !ours(rootPem) || !ours(new Uint8Array(rootDer)))
  throw new Error("benchmark chain does not validate");

await runBenchmarks("@x/cert-validate", [
  {
    name: "validate a 3-certificate P-256 chain",
    note: "aim: ours within 3x of native; native checks signatures/issuance/dates/host but builds no path and enforces no RFC 5280 constraints",
    candidates: [
      {
        name: "node:crypto X509Certificate (native)",
        baseline: true,
        run: () => measureOps(native, { unit: "chains/s" }),
      },
      { name: "ours, anchor cached", run: () => measureOps(() => ours(rootPem), { unit: "chains/s" }) },
      {
        name: "ours, anchor parsed per call",
        run: () => measureOps(() => ours(new Uint8Array(rootDer)), { unit: "chains/s" }),
      },
    ],
  },
]);
