import { createPki, type Pki } from "@x/test-certs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CheckCertWithEidInput,
  checkCertWithEid,
  determineRole,
  type RoleVerdict,
} from "../src/index.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

const ROLE = ["Device.LocalAgent.ControllerTrust.Role.1"];
const UNTRUSTED = ["Device.LocalAgent.ControllerTrust.Role.9"];
const BANNED = ["Device.LocalAgent.ControllerTrust.Role.13"];
const input = (over: Partial<CheckCertWithEidInput> = {}): CheckCertWithEidInput => ({
  chain: pki.controller.chainPem,
  endpointId: "proto::controller",
  time: new Date(),
  anchors: [{ cert: pki.root.certPem, role: ROLE, allowedUses: "MTP-and-USP" }],
  untrustedRole: UNTRUSTED,
  bannedRole: BANNED,
  ...over,
});
const steps = (v: RoleVerdict) => v.trace.map((s) => `${s.step}:${s.branch}`);

describe("TR-369 'Checking a Certificate' and 'Determining the Role'", () => {
  it("C1 yes: already checked in this session → OK without further steps", () => {
    const v = checkCertWithEid(input({ alreadyChecked: true }));
    expect(v.ok).toBe(true);
    expect(steps(v)).toEqual(["C1-already-checked:yes"]);
  });
  it("C2 no → C6 trusted CA → C8 not revoked → CA Role inherited, certificate stored", () => {
    const v = checkCertWithEid(input());
    expect(v).toMatchObject({ ok: true, inheritedRole: ROLE, storeCertificate: true, banned: false });
    expect(steps(v)).toContain("C6-trusted-ca:yes");
  });
  it("MTP-only credentials do not authorize USP communication", () => {
    const v = checkCertWithEid(
      input({ anchors: [{ cert: pki.root.certPem, role: ROLE, allowedUses: "MTP-only" }] }),
    );
    expect(v.ok).toBe(false);
    expect(steps(v)).toContain("C6-trusted-ca:no");
  });
  it("C2 no → C6 no → C7 trusted signature required (default) → Not OK", () => {
    const v = checkCertWithEid(input({ chain: pki.selfSigned.certPem, endpointId: "proto::x" }));
    expect(v.ok).toBe(false);
    expect(steps(v)).toContain("C7-trusted-signature-required:skipped");
  });
  it("C7 TOFU allowed → untrusted Role assigned, EID-less certificate not stored", () => {
    const v = checkCertWithEid(
      input({ chain: pki.selfSigned.certPem, endpointId: "proto::x", tofuAllowed: true }),
    );
    expect(v).toMatchObject({ ok: true, assignedRole: UNTRUSTED, storeCertificate: false });
  });
  it("C2 yes → C3 stored cert → C8 → existing assigned Role kept", () => {
    const v = checkCertWithEid(
      input({
        controllers: [
          { endpointId: "proto::controller", certificates: [pki.controller.certPem], assignedRole: ["R.2"] },
        ],
      }),
    );
    expect(v).toMatchObject({ ok: true, assignedRole: ["R.2"], inheritedRole: ROLE });
    expect(steps(v)).toContain("C3-stored-cert:yes");
  });
  it("C2 yes → C3 different cert → C4 not trusted → Not OK (no TOFU for a known EID)", () => {
    const v = checkCertWithEid(
      input({
        chain: pki.untrusted.chainPem,
        tofuAllowed: true,
        controllers: [{ endpointId: "proto::controller", certificates: [pki.controller.certPem] }],
      }),
    );
    expect(v.ok).toBe(false);
    expect(steps(v)).toContain("C4-trusted-ca:no");
  });
  it("C4 trusted → C5 revoked → Not OK", () => {
    const v = checkCertWithEid(
      input({
        controllers: [
          { endpointId: "proto::controller", certificates: [{ fingerprint256: "00".repeat(32) }] },
        ],
        revocation: (c) => (c.fingerprint256 === pki.controller.fingerprint256 ? "revoked" : "good"),
      }),
    );
    expect(v.ok).toBe(false);
    expect(steps(v)).toContain("C5-revoked:yes");
  });
  it("C8 revoked → banned Role, Not OK", () => {
    const v = checkCertWithEid(input({ revocation: () => "revoked" }));
    expect(v).toMatchObject({ ok: false, banned: true, assignedRole: BANNED });
  });
  it("determineRole D1–D3", () => {
    expect(determineRole({ caRole: ["A"] })).toMatchObject({ inheritedRole: ["A"], assignedRole: undefined });
    expect(determineRole({ assignedRole: ["B"] })).toMatchObject({ assignedRole: ["B"] });
    expect(determineRole({ untrustedRole: ["U"] })).toMatchObject({ assignedRole: ["U"] });
  });
});
