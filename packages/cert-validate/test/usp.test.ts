import { createPki, createRootCa, createSelfSigned, type Pki } from "@x/test-certs";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateUspCertificate, type TraceStep, type UspContext, type UspDecision } from "../src/index.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

const DAY = 86_400_000;
const base = (over: Partial<UspContext> = {}): UspContext => ({
  initiatedBySelf: true,
  target: { url: "wss://localhost:8443/usp" },
  time: new Date(),
  anchors: [pki.root.certPem],
  ...over,
});
const stepOf = (d: UspDecision, name: string): TraceStep | undefined => d.trace.find((s) => s.step === name);
const path = (d: UspDecision) => d.trace.map((s) => `${s.step}:${s.branch}`);

describe("TR-369 figure 'Receiving a X.509 Certificate': one test per connector", () => {
  it("0→1 and 1→2: every evaluation starts at 'cached session'; not done means No", () => {
    const d = evaluateUspCertificate(pki.controller.chainPem, base());
    expect(path(d).slice(0, 3)).toEqual(["certificate-presented:yes", "cached-session:skipped", "dates:yes"]);
    expect(stepOf(d, "cached-session")?.level).toBe("OPT");
  });
  it("1→ESTABLISH: a cached session establishes without further checks", () => {
    const d = evaluateUspCertificate(pki.expired.chainPem, base({ cachedSession: true }));
    expect(d.decision).toBe("establish");
    expect(d.basis).toBe("cached-session");
    expect(stepOf(d, "dates")).toBeUndefined();
  });
  it("2→TERMINATE: an expired certificate with accurate time", () => {
    const d = evaluateUspCertificate(pki.expired.chainPem, base());
    expect(d.decision).toBe("terminate");
    expect(stepOf(d, "dates")).toMatchObject({ level: "MUST", branch: "no", code: "CERT_EXPIRED" });
  });
  it("2→TERMINATE: not yet valid", () => {
    const d = evaluateUspCertificate(pki.notYetValid.chainPem, base());
    expect(stepOf(d, "dates")).toMatchObject({ branch: "no", code: "CERT_NOT_YET_VALID" });
  });
  it("2→3 and 3→4: valid dates, host matches the URL", () => {
    const d = evaluateUspCertificate(pki.controller.chainPem, base());
    expect(stepOf(d, "dates")?.branch).toBe("yes");
    expect(stepOf(d, "identity")).toMatchObject({ level: "MUST", branch: "yes" });
    expect(stepOf(d, "stored-cert")?.branch).toBe("skipped");
  });
  it("3→TERMINATE: wrong name when the Agent initiated", () => {
    const d = evaluateUspCertificate(pki.wrongName.chainPem, base());
    expect(d.decision).toBe("terminate");
    expect(stepOf(d, "identity")).toMatchObject({ branch: "no", code: "NAME_MISMATCH" });
  });
  it("3 does not apply when the peer initiated", () => {
    const d = evaluateUspCertificate(
      pki.wrongName.chainPem,
      base({ initiatedBySelf: false, purpose: "serverAuth" }),
    );
    expect(stepOf(d, "identity")?.branch).toBe("not-applicable");
    expect(d.decision).toBe("establish");
  });
  it("4→6: the stored Controller certificate skips the CA check", () => {
    const d = evaluateUspCertificate(
      pki.selfSigned.certPem,
      base({ storedCertificates: [pki.selfSigned.certPem] }),
    );
    expect(stepOf(d, "stored-cert")?.branch).toBe("yes");
    expect(stepOf(d, "ca-or-broker")).toBeUndefined();
    expect(d).toMatchObject({ decision: "establish", basis: "stored-cert" });
  });
  it("4→5: a stored certificate that does not match falls through to the CA check", () => {
    const d = evaluateUspCertificate(
      pki.controller.chainPem,
      base({ storedCertificates: [{ fingerprint256: "00".repeat(32) }] }),
    );
    expect(stepOf(d, "stored-cert")?.branch).toBe("no");
    expect(stepOf(d, "ca-or-broker")?.branch).toBe("yes");
  });
  it("5→6 and 6→ESTABLISH: trusted CA, no revocation source (OPT not done → not revoked)", () => {
    const d = evaluateUspCertificate(pki.controller.chainPem, base());
    expect(d).toMatchObject({ decision: "establish", basis: "trusted-ca" });
    expect(stepOf(d, "revoked")).toMatchObject({ level: "OPT", branch: "skipped" });
    expect(d.endpointIds).toContain("proto::controller");
  });
  it("6→TERMINATE: revoked by a CRL from the issuing CA", async () => {
    const crl = await pki.intermediate.issueCrl([pki.controller.certificate.serialNumber]);
    const d = evaluateUspCertificate(pki.controller.chainPem, base({ crls: crl }));
    expect(d.decision).toBe("terminate");
    expect(stepOf(d, "revoked")).toMatchObject({ branch: "yes", code: "CERT_REVOKED" });
  });
  it("6→ESTABLISH: a CRL that does not list the certificate", async () => {
    const crl = await pki.intermediate.issueCrl(["0badc0de"]);
    const d = evaluateUspCertificate(pki.controller.chainPem, base({ crls: crl }));
    expect(d.decision).toBe("establish");
    expect(stepOf(d, "revoked")?.branch).toBe("no");
  });
  it("stored-cert path still checks revocation", () => {
    const d = evaluateUspCertificate(
      pki.controller.chainPem,
      base({ storedCertificates: [pki.controller.certPem], revocation: () => "revoked" }),
    );
    expect(path(d)).toContain("stored-cert:yes");
    expect(stepOf(d, "revoked")?.code).toBe("CERT_REVOKED");
    expect(d.decision).toBe("terminate");
  });
  it("revocation source answering unknown terminates unless allowRevocationUnknown", () => {
    const strict = evaluateUspCertificate(pki.controller.chainPem, base({ revocation: () => "unknown" }));
    expect(strict.decision).toBe("terminate");
    expect(strict.errors[0]?.code).toBe("REVOCATION_UNKNOWN");
    const relaxed = evaluateUspCertificate(
      pki.controller.chainPem,
      base({ revocation: () => "unknown", allowRevocationUnknown: true }),
    );
    expect(relaxed.decision).toBe("establish");
    expect(relaxed.warnings.map((w) => w.code)).toContain("OVERRIDE_REVOCATION_UNKNOWN");
  });
  it("5→7 and 7→TERMINATE: untrusted, TOFU not configured → refused by default", () => {
    const d = evaluateUspCertificate(pki.untrusted.chainPem, base());
    expect(stepOf(d, "ca-or-broker")).toMatchObject({ branch: "no", code: "CHAIN_NO_ANCHOR" });
    expect(stepOf(d, "tofu")).toMatchObject({ level: "OPT", branch: "skipped", code: "TOFU_REFUSED" });
    expect(d.decision).toBe("terminate");
  });
  it("7→TERMINATE: TOFUAllowed=false", () => {
    const d = evaluateUspCertificate(pki.selfSigned.certPem, base({ tofu: { allowed: false } }));
    expect(stepOf(d, "tofu")).toMatchObject({ branch: "yes", code: "TOFU_REFUSED" });
  });
  it("7→8 and 8→ESTABLISH: TOFU allowed, with the inactivity timer and a warning", () => {
    const d = evaluateUspCertificate(
      pki.selfSigned.certPem,
      base({ tofu: { allowed: true, inactivityTimerSec: 120 } }),
    );
    expect(d).toMatchObject({ decision: "establish", basis: "tofu", inactivityTimerSec: 120 });
    expect(d.warnings.map((w) => w.code)).toContain("TOFU_ACCEPTED");
    expect(stepOf(d, "revoked")).toBeUndefined();
  });
  it("TOFU does not launder an expired self-signed certificate", async () => {
    const old = await createSelfSigned({
      dns: ["localhost"],
      notBefore: new Date(Date.now() - 9 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const d = evaluateUspCertificate(old.certPem, base({ tofu: { allowed: true } }));
    expect(d.decision).toBe("terminate");
    expect(stepOf(d, "dates")?.branch).toBe("no");
  });
  it("TOFU timer 0 means disabled", () => {
    const d = evaluateUspCertificate(
      pki.selfSigned.certPem,
      base({ tofu: { allowed: true, inactivityTimerSec: 0 } }),
    );
    expect(d.inactivityTimerSec).toBe(0);
    expect(stepOf(d, "tofu-timer")?.reason).toMatch(/disabled/);
  });
});

describe("TR-369 absolute time (R-MTP.2)", () => {
  it("no accurate time + expired leaf from a trusted CA → establish with TIME_UNKNOWN", () => {
    const d = evaluateUspCertificate(pki.expired.chainPem, base({ time: "none" }));
    expect(d.decision).toBe("establish");
    expect(d.warnings.map((w) => w.code)).toContain("TIME_UNKNOWN");
    expect(stepOf(d, "dates")?.code).toBe("TIME_UNKNOWN");
  });
  it("no accurate time + expired leaf from an untrusted CA → terminate (the masking case)", async () => {
    const leaf = await pki.untrustedRoot.issueLeaf({
      dns: ["localhost"],
      notBefore: new Date(Date.now() - 9 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const d = evaluateUspCertificate(leaf.chainPem, base({ time: "none" }));
    expect(d.decision).toBe("terminate");
    expect(d.errors.map((e) => e.code)).toContain("CHAIN_NO_ANCHOR");
  });
});

describe("TR-369 identity alternatives (step 3)", () => {
  it.each(["printer.local", "printer.local.", "Printer.LOCAL", "nas.home.arpa", "x.y.home.arpa."])(
    "special-use LAN domain %s passes without a name match",
    (host) => {
      const d = evaluateUspCertificate(pki.wrongName.chainPem, base({ target: { host } }));
      expect(stepOf(d, "identity")?.branch).toBe("yes");
      expect(d.warnings.map((w) => w.code)).toContain("SPECIAL_USE_DOMAIN_NAME_NOT_CHECKED");
      expect(d.decision).toBe("establish");
    },
  );
  it("'local' alone is not a special-use name", () => {
    const d = evaluateUspCertificate(pki.wrongName.chainPem, base({ target: { host: "local" } }));
    expect(stepOf(d, "identity")?.branch).toBe("no");
  });
  it("EID in the certificate matching the target Controller passes when the host does not", async () => {
    const c = await pki.intermediate.issueLeaf({
      dns: ["other.example"],
      uris: ["urn:bbf:usp:id:proto::ctrl-1"],
    });
    const d = evaluateUspCertificate(
      c.chainPem,
      base({ target: { host: "controller.example", endpointId: "proto::ctrl-1" } }),
    );
    expect(stepOf(d, "identity")?.reason).toMatch(/Endpoint ID/);
    expect(d.decision).toBe("establish");
  });
  it("a URN-only SAN against a DNS target fails unless the EID alternative applies", async () => {
    const urnOnly = await pki.intermediate.issueLeaf({
      commonName: "controller.example",
      uris: ["urn:bbf:usp:id:proto::c9"],
    });
    const byHost = evaluateUspCertificate(urnOnly.chainPem, base({ target: { host: "controller.example" } }));
    expect(stepOf(byHost, "identity")).toMatchObject({ branch: "no", code: "NAME_MISMATCH" });
    const byEid = evaluateUspCertificate(
      urnOnly.chainPem,
      base({ target: { host: "controller.example", endpointId: "proto::c9" } }),
    );
    expect(byEid.decision).toBe("establish");
  });
  it("wrong EID and wrong host → terminate", () => {
    const d = evaluateUspCertificate(
      pki.controller.chainPem,
      base({ target: { host: "x.example", endpointId: "proto::other" } }),
    );
    expect(stepOf(d, "identity")?.branch).toBe("no");
    expect(d.decision).toBe("terminate");
  });
  it("IP literal target is matched against iPAddress SANs", () => {
    expect(
      evaluateUspCertificate(pki.server.chainPem, base({ target: { url: "wss://127.0.0.1:1/" } })).decision,
    ).toBe("establish");
    expect(
      evaluateUspCertificate(pki.server.chainPem, base({ target: { url: "wss://[::1]:1/" } })).decision,
    ).toBe("establish");
    const d = evaluateUspCertificate(pki.server.chainPem, base({ target: { host: "10.0.0.1" } }));
    expect(stepOf(d, "identity")?.code).toBe("IP_MISMATCH");
  });
  it("no target at all while initiating is a failure, not a pass", () => {
    const d = evaluateUspCertificate(pki.controller.chainPem, base({ target: {} }));
    expect(d.decision).toBe("terminate");
  });
});

describe("TR-369 trust anchors and brokers", () => {
  it("an intermediate as the only anchor (R-SEC.2: root or intermediate)", () => {
    const d = evaluateUspCertificate(pki.controller.chainPem, base({ anchors: [pki.intermediate.certPem] }));
    expect(d).toMatchObject({ decision: "establish", basis: "trusted-ca" });
    expect(d.path.length).toBe(2);
  });
  it.each(["SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] as const)(
    "fingerprint-only anchor (%s)",
    async (alg) => {
      const { createHash } = await import("node:crypto");
      const hex = createHash(alg.replace("-", "").toLowerCase())
        .update(pki.intermediate.certDer)
        .digest("hex");
      const d = evaluateUspCertificate(
        pki.controller.chainPem,
        base({ anchors: [{ fingerprint: { alg, hex } }] }),
      );
      expect(d.decision).toBe("establish");
      expect(d.anchor?.kind).toBe("fingerprint");
    },
  );
  it("Trusted Broker by exact certificate", () => {
    const d = evaluateUspCertificate(
      pki.selfSigned.certPem,
      base({ anchors: [], brokers: [pki.selfSigned.certPem] }),
    );
    expect(d).toMatchObject({ decision: "establish", basis: "trusted-broker" });
  });
  it("Trusted Broker by broker CA", async () => {
    const brokerCa = await createRootCa({ commonName: "Broker CA" });
    const broker = await brokerCa.issueLeaf({ dns: ["localhost"] });
    const d = evaluateUspCertificate(broker.chainPem, base({ brokers: [brokerCa.certPem] }));
    expect(d).toMatchObject({ decision: "establish", basis: "trusted-broker" });
  });
  it("anchor metadata (role) is reported for InheritedRole", () => {
    const d = evaluateUspCertificate(
      pki.controller.chainPem,
      base({
        anchors: [
          {
            cert: pki.root.certPem,
            role: ["Device.LocalAgent.ControllerTrust.Role.1"],
            allowedUses: "MTP-and-USP",
          },
        ],
      }),
    );
    expect(d.role).toEqual(["Device.LocalAgent.ControllerTrust.Role.1"]);
  });
  it("a chain reaching a trusted CA but failing another check is not sent to TOFU", () => {
    const d = evaluateUspCertificate(
      pki.agent.chainPem,
      base({ initiatedBySelf: false, purpose: "serverAuth", tofu: { allowed: true } }),
    );
    expect(d.decision).toBe("establish");
    const e = evaluateUspCertificate(
      pki.controller.chainPem,
      base({ initiatedBySelf: false, purpose: "1.3.6.1.5.5.7.3.3" as "serverAuth", tofu: { allowed: true } }),
    );
    expect(e.decision).toBe("terminate");
    expect(e.basis).toBeNull();
    expect(stepOf(e, "ca-or-broker")?.code).toBe("EKU_MISMATCH");
  });
  it("no certificate at all → NO_PEER_CERTIFICATE (R-MTP.1)", () => {
    const d = evaluateUspCertificate([], base());
    expect(d.decision).toBe("terminate");
    expect(d.errors[0]?.code).toBe("NO_PEER_CERTIFICATE");
  });
  it("garbage instead of a certificate terminates with MALFORMED_CERTIFICATE", () => {
    const d = evaluateUspCertificate(new Uint8Array([0x30, 0x03, 1, 2, 3]), base());
    expect(d.decision).toBe("terminate");
    expect(d.errors[0]?.code).toBe("MALFORMED_CERTIFICATE");
  });
});
