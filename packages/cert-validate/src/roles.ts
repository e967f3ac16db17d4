/**
 * TR-369 figures "Checking a Certificate" (C1–C8) and "Determining the Role" (D1–D3), run per
 * received Record (R-SEC.24/24a), as a pure function over injected Controller state. The caller
 * persists what the verdict says (assigned Role, store the certificate); nothing is stored here.
 */
import type { TrustAnchor } from "./anchors.js";
import { fingerprint, type ParsedCertificate } from "./cert.js";
import { type CrlInput, crlStatus, toCrlList } from "./crl.js";
import { matchEndpointId, type UspVersionMode } from "./eid.js";
import { type CertInput, toDerList } from "./input.js";
import { DEFAULT_SIGNATURE_ALGORITHMS } from "./signature.js";
import type { Finding, TraceStep } from "./types.js";
import { type RevocationCallback, type TimeInput, validatePath } from "./validate.js";

/** A `Device.LocalAgent.Controller.{i}` entry. */
export interface ControllerEntry {
  readonly endpointId: string;
  /** Certificates referenced by `Credential` (inputs or SHA-256 fingerprints). */
  readonly certificates?: readonly (CertInput | { readonly fingerprint256: string })[];
  /** Current `AssignedRole`. */
  readonly assignedRole?: readonly string[];
}

export interface CheckCertWithEidInput {
  /** The MTP certificate chain, or the `sender_cert` chain with payload_security=tls. */
  readonly chain: CertInput;
  /** The Endpoint ID the Record claims (`from_id`). */
  readonly endpointId: string;
  readonly time: TimeInput;
  /** ControllerTrust.Credential entries; `MTP-only` entries do not authorize USP communication. */
  readonly anchors: readonly TrustAnchor[];
  readonly controllers?: readonly ControllerEntry[];
  /** C1 (OPT): this certificate was already checked in this MTP session with a Role determined. */
  readonly alreadyChecked?: boolean;
  readonly crls?: CrlInput;
  readonly revocation?: RevocationCallback;
  /** C7: TrustOnFirstUseAllowed. Default false (trusted signature required). */
  readonly tofuAllowed?: boolean;
  readonly untrustedRole?: readonly string[];
  readonly bannedRole?: readonly string[];
  /** Policy to store Controller certificates (required for TOFU). Default true. */
  readonly storeControllerCertificates?: boolean;
  readonly uspVersion?: UspVersionMode;
  readonly allowEidWildcard?: boolean;
}

export interface RoleVerdict {
  readonly ok: boolean;
  /** Roles to write to the Controller's `AssignedRole` (replacing it), when set. */
  readonly assignedRole?: readonly string[];
  /** Roles to write to `InheritedRole` (from the CA credential), when set. */
  readonly inheritedRole?: readonly string[];
  /** Store the received certificate for this Endpoint ID (it carries the EID in its SAN). */
  readonly storeCertificate: boolean;
  /** The Controller is banned (revoked certificate): only the banned Role applies. */
  readonly banned: boolean;
  readonly errors: readonly Finding[];
  readonly trace: readonly TraceStep[];
}

const USP_USES = new Set(["MTP-and-USP", "MTP-and-broker", undefined]);

/** Runs "Check Cert with EID" followed, where the figure says so, by "Determining the Role". */
export function checkCertWithEid(input: CheckCertWithEidInput): RoleVerdict {
  const trace: TraceStep[] = [];
  const errors: Finding[] = [];
  const step = (s: TraceStep) => trace.push(s);
  const notOk = (): RoleVerdict => ({ ok: false, storeCertificate: false, banned: false, errors, trace });

  if (input.alreadyChecked === true) {
    step({
      step: "C1-already-checked",
      level: "OPT",
      branch: "yes",
      reason: "certificate already checked in this MTP session",
    });
    return { ok: true, storeCertificate: false, banned: false, errors, trace };
  }
  step({
    step: "C1-already-checked",
    level: "OPT",
    branch: input.alreadyChecked === false ? "no" : "skipped",
    reason: "clear temporary cached information for this EID (e.g. Roles inherited from a CA)",
  });
  const ders = toDerList(input.chain);
  // Only credentials that can authorize USP communication count at the Record layer.
  const anchors = input.anchors.filter(
    (a) => !(typeof a === "object" && a !== null && "allowedUses" in a && !USP_USES.has(a.allowedUses)),
  );
  const path = validatePath(ders, { anchors, time: input.time });
  const peer = path.peer;
  if (!peer) {
    errors.push(...path.errors);
    step({
      step: "C2-stored-eid",
      level: "MUST",
      branch: "no",
      reason: "certificate unparseable",
      code: "MALFORMED_CERTIFICATE",
    });
    return notOk();
  }
  const carriesEid = matchEndpointId(peer, input.endpointId, {
    allowWildcard: input.allowEidWildcard,
    uspVersion: input.uspVersion,
  }).ok;
  const controller = input.controllers?.find((c) => c.endpointId === input.endpointId);
  const trustedCa = () => {
    if (path.ok)
      return {
        yes: true,
        reason: `signed by trusted CA ${path.anchor?.label ?? path.anchor?.subject ?? ""}`.trim(),
      };
    const e = path.errors[0]!;
    errors.push(...path.errors);
    return { yes: false, reason: e.message, code: e.code };
  };
  const determine = (viaCa: boolean): RoleVerdict => {
    const t = determineRole({
      caRole: viaCa && path.anchor?.allowedUses !== "MTP-only" ? path.anchor?.role : undefined,
      assignedRole: controller?.assignedRole,
      untrustedRole: input.untrustedRole,
    });
    trace.push(...t.trace);
    const store = carriesEid && input.storeControllerCertificates !== false;
    step({
      step: "store-certificate",
      level: "OPT",
      branch: store ? "yes" : "no",
      reason: store ? "certificate carries the EID in its SAN" : "not stored (no EID in SAN, or policy)",
    });
    return {
      ok: true,
      assignedRole: t.assignedRole,
      inheritedRole: t.inheritedRole,
      storeCertificate: store,
      banned: false,
      errors,
      trace,
    };
  };
  const revoked = (id: string): RoleVerdict | undefined => {
    const r = revocation(path.ok ? path.path : [peer], input);
    if (r === undefined) {
      step({
        step: id,
        level: "OPT",
        branch: "skipped",
        reason: "no revocation source configured: taking No",
      });
      return undefined;
    }
    if (r === "revoked") {
      errors.push({
        code: "CERT_REVOKED",
        message: "certificate revoked",
        depth: 0,
        certFingerprint: peer.fingerprint256,
      });
      step({ step: id, level: "OPT", branch: "yes", reason: "certificate revoked", code: "CERT_REVOKED" });
      return {
        ok: false,
        storeCertificate: false,
        banned: true,
        assignedRole: input.bannedRole,
        errors,
        trace,
      };
    }
    step({ step: id, level: "OPT", branch: "no", reason: "not revoked" });
    return undefined;
  };

  if (controller) {
    step({
      step: "C2-stored-eid",
      level: "MUST",
      branch: "yes",
      reason: `Controller entry for ${input.endpointId}`,
    });
    const stored = new Set(
      (controller.certificates ?? []).flatMap((s) =>
        typeof s === "object" && s !== null && "fingerprint256" in s && typeof s.fingerprint256 === "string"
          ? [s.fingerprint256.replace(/:/g, "").toLowerCase()]
          : toDerList(s as CertInput).map((d) => fingerprint(d)),
      ),
    );
    if (stored.has(peer.fingerprint256)) {
      step({
        step: "C3-stored-cert",
        level: "MUST",
        branch: "yes",
        reason: "received certificate is the stored one",
      });
      return revoked("C8-revoked") ?? determine(path.ok);
    }
    step({
      step: "C3-stored-cert",
      level: "MUST",
      branch: "no",
      reason: "received certificate differs from the stored one",
    });
    const ca = trustedCa();
    step({
      step: "C4-trusted-ca",
      level: "MUST",
      branch: ca.yes ? "yes" : "no",
      reason: ca.reason,
      code: ca.code,
    });
    if (!ca.yes) return notOk();
    return revoked("C5-revoked") ?? determine(true);
  }
  step({
    step: "C2-stored-eid",
    level: "MUST",
    branch: "no",
    reason: `no Controller entry for ${input.endpointId}`,
  });
  const ca = trustedCa();
  step({
    step: "C6-trusted-ca",
    level: "MUST",
    branch: ca.yes ? "yes" : "no",
    reason: ca.reason,
    code: ca.code,
  });
  if (ca.yes) return revoked("C8-revoked") ?? determine(true);
  if (input.tofuAllowed !== true) {
    errors.push({ code: "TOFU_REFUSED", message: "trusted signature required" });
    step({
      step: "C7-trusted-signature-required",
      level: "OPT",
      branch: input.tofuAllowed === false ? "yes" : "skipped",
      reason: "trust on first use not allowed",
      code: "TOFU_REFUSED",
    });
    return notOk();
  }
  if (path.errors.some((e) => e.code !== "CHAIN_NO_ANCHOR")) {
    step({
      step: "C7-trusted-signature-required",
      level: "OPT",
      branch: "yes",
      reason: "certificate invalid beyond trust",
    });
    return notOk();
  }
  errors.length = 0;
  step({
    step: "C7-trusted-signature-required",
    level: "OPT",
    branch: "no",
    reason: "TrustOnFirstUseAllowed",
  });
  return determine(false);
}

/** "Determining the Role" (D1–D3): CA Role → inherited; existing assigned Role; else the untrusted Role. */
export function determineRole(input: {
  readonly caRole?: readonly string[];
  readonly assignedRole?: readonly string[];
  readonly untrustedRole?: readonly string[];
}): { assignedRole?: readonly string[]; inheritedRole?: readonly string[]; trace: TraceStep[] } {
  const trace: TraceStep[] = [];
  const inherited = input.caRole?.length ? input.caRole : undefined;
  trace.push({
    step: "D1-ca-role",
    level: "MUST",
    branch: inherited ? "yes" : "no",
    reason: inherited ? `inherit ${inherited.join(", ")}` : "no CA Role",
  });
  const existing = input.assignedRole?.length ? input.assignedRole : undefined;
  trace.push({
    step: "D2-existing-role",
    level: "MUST",
    branch: existing ? "yes" : "no",
    reason: existing ? `keep ${existing.join(", ")}` : "no assigned Role",
  });
  if (inherited || existing) {
    trace.push({ step: "D3-role-applied", level: "MUST", branch: "yes", reason: "a Role applies" });
    return { inheritedRole: inherited, assignedRole: existing, trace };
  }
  trace.push({ step: "D3-role-applied", level: "MUST", branch: "no", reason: "apply the untrusted Role" });
  return { assignedRole: input.untrustedRole ?? [], trace };
}

function revocation(
  path: readonly ParsedCertificate[],
  input: CheckCertWithEidInput,
): "revoked" | "good" | undefined {
  if (input.crls === undefined && input.revocation === undefined) return undefined;
  const crls = input.crls === undefined ? [] : toCrlList(input.crls);
  const time = input.time instanceof Date ? input.time.getTime() : undefined;
  const allowed = new Set(DEFAULT_SIGNATURE_ALGORITHMS);
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const issuer = path[i + 1];
    let status: "good" | "revoked" | "unknown" = "unknown";
    if (issuer && crls.length) status = crlStatus(c, issuer, crls, time, allowed).status;
    if (status === "unknown" && input.revocation) status = input.revocation(c, issuer);
    if (status === "revoked") return "revoked";
  }
  return "good";
}
