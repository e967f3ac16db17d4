/**
 * TR-369 "Receiving a X.509 Certificate" (R-MTP.1–4a) as a pure function with a per-step trace.
 * Nodes of the figure: 1 cached-session (OPT), 2 dates (MUST), 3 identity (MUST, only when we
 * initiated), 4 stored-cert (OPT), 5 ca-or-broker (MUST), 6 revoked (OPT), 7 tofu (OPT), 8 timer.
 */
import type { AnchorMeta, TrustAnchor } from "./anchors.js";
import { fingerprint, type ParsedCertificate } from "./cert.js";
import { type CrlInput, crlStatus, toCrlList } from "./crl.js";
import { endpointIdsFromCert, matchEndpointId, type UspVersionMode } from "./eid.js";
import { isSpecialUseLanDomain, matchHost } from "./identity.js";
import { type CertInput, toDerList } from "./input.js";
import type { PolicyInputs } from "./policy.js";
import { DEFAULT_SIGNATURE_ALGORITHMS } from "./signature.js";
import type { Finding, FindingCode, TraceStep } from "./types.js";
import {
  type PathAnchorInfo,
  type PathBudget,
  type PathOptions,
  type PathResult,
  type RevocationCallback,
  type TimeInput,
  validatePath,
} from "./validate.js";

export interface UspTarget {
  /** URL we connected to (`wss://host/path`, `mqtts://broker`); its host is matched. */
  readonly url?: string;
  /** Host name or IP literal we connected to (alternative to `url`). */
  readonly host?: string;
  /** Endpoint ID of the Controller we meant to reach (figure step 3, third alternative). */
  readonly endpointId?: string;
}

/** Certificate-policy inputs (RFC 5280 §6.1.1) are passed to path validation unchanged. */
export interface UspContext extends PolicyInputs {
  /** Who is validating: the figure is normative for Agents; Controllers may reuse it. Default `agent`. */
  readonly role?: "agent" | "controller";
  /** Whether we initiated the MTP connection (step 3 applies only then). */
  readonly initiatedBySelf: boolean;
  readonly target?: UspTarget;
  /** Accurate time, or `"none"` when the Agent has none (R-MTP.2). */
  readonly time: TimeInput;
  /** ControllerTrust credentials: CA anchors with `allowedUses` / `role`. */
  readonly anchors: readonly TrustAnchor[];
  /** Trusted Broker entries: the exact broker certificate / fingerprint, or a broker CA. */
  readonly brokers?: readonly TrustAnchor[];
  /** Certificates stored for the Controller being contacted (Controller.{i}.Credential), or fingerprints. */
  readonly storedCertificates?: readonly (CertInput | { readonly fingerprint256: string })[];
  /** Step 1: a cached session keyed to the current trust configuration. Undefined = check not done. */
  readonly cachedSession?: boolean;
  readonly crls?: CrlInput;
  readonly revocation?: RevocationCallback;
  /** Accept when a revocation source is configured but answers "unknown" (warning). */
  readonly allowRevocationUnknown?: boolean;
  /** Trust on first use (TR-181 TOFUAllowed / TOFUInactivityTimer). Undefined = refuse. */
  readonly tofu?: { readonly allowed: boolean; readonly inactivityTimerSec?: number };
  readonly uspVersion?: UspVersionMode;
  readonly allowEidWildcard?: boolean;
  /** Required EKU; default serverAuth when we initiated, clientAuth otherwise; `null` disables. */
  readonly purpose?: "serverAuth" | "clientAuth" | null;
  readonly profile?: "rfc5280" | "lenient";
  readonly budget?: Partial<PathBudget>;
  readonly signatureAlgorithms?: readonly string[];
}

export type UspBasis = "cached-session" | "stored-cert" | "trusted-ca" | "trusted-broker" | "tofu";

export interface UspDecision {
  readonly decision: "establish" | "terminate";
  readonly basis: UspBasis | null;
  /** TOFU only: seconds of USP inactivity after which the MTP must be torn down (0 = disabled). */
  readonly inactivityTimerSec?: number;
  /** Endpoint IDs found in the peer certificate SAN. */
  readonly endpointIds: readonly string[];
  readonly anchor: PathAnchorInfo | undefined;
  /** Role(s) of the anchor credential (for InheritedRole). */
  readonly role: readonly string[] | undefined;
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  readonly trace: readonly TraceStep[];
  readonly path: readonly ParsedCertificate[];
  readonly peer: ParsedCertificate | undefined;
}

const DATE_CODES = new Set<FindingCode>(["CERT_EXPIRED", "CERT_NOT_YET_VALID"]);

function hostOf(target: UspTarget | undefined): string | undefined {
  if (target?.host) return target.host;
  if (target?.url) {
    try {
      const h = new URL(target.url).hostname;
      return h.startsWith("[") ? h.slice(1, -1) : h;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Runs the TR-369 figure. Never throws for a bad peer certificate; throws for unusable options. */
export function evaluateUspCertificate(chain: CertInput, context: UspContext): UspDecision {
  const trace: TraceStep[] = [];
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  let endpointIds: string[] = [];
  const step = (s: TraceStep) => trace.push(s);
  const done = (
    decision: "establish" | "terminate",
    basis: UspBasis | null,
    extra: { path?: PathResult; inactivityTimerSec?: number } = {},
  ): UspDecision => ({
    decision,
    basis,
    inactivityTimerSec: extra.inactivityTimerSec,
    endpointIds,
    anchor: extra.path?.anchor,
    role: extra.path?.anchor?.role,
    errors,
    warnings,
    trace,
    path: extra.path?.path ?? [],
    peer: extra.path?.peer,
  });

  const ders = chain === undefined ? [] : toDerList(chain);
  if (ders.length === 0 && context.cachedSession === true) {
    // A resumed session: the peer does not resend its certificate; the cache is the basis.
    step({
      step: "certificate-presented",
      level: "MUST",
      branch: "not-applicable",
      reason: "resumed session",
    });
    step({
      step: "cached-session",
      level: "OPT",
      branch: "yes",
      reason: "session cached under the current trust configuration",
    });
    return done("establish", "cached-session");
  }
  if (ders.length === 0) {
    errors.push({ code: "NO_PEER_CERTIFICATE", message: "the peer presented no certificate (R-MTP.1)" });
    step({
      step: "certificate-presented",
      level: "MUST",
      branch: "no",
      reason: "no certificate",
      code: "NO_PEER_CERTIFICATE",
    });
    return done("terminate", null);
  }
  step({
    step: "certificate-presented",
    level: "MUST",
    branch: "yes",
    reason: `${ders.length} certificate(s)`,
  });

  const initiated = context.initiatedBySelf;
  const purpose =
    context.purpose === null ? undefined : (context.purpose ?? (initiated ? "serverAuth" : "clientAuth"));
  const brokerAnchors: TrustAnchor[] = (context.brokers ?? []).map((b) => withMeta(b, { broker: true }));
  const base: PathOptions = {
    anchors: [...context.anchors, ...brokerAnchors],
    time: context.time,
    purpose,
    profile: context.profile,
    budget: context.budget,
    signatureAlgorithms: context.signatureAlgorithms,
    initialPolicies: context.initialPolicies,
    requireExplicitPolicy: context.requireExplicitPolicy,
    inhibitPolicyMapping: context.inhibitPolicyMapping,
    inhibitAnyPolicy: context.inhibitAnyPolicy,
  };
  // Pass A: the strict verdict of the chain against all CA and broker anchors (no revocation: step 6).
  const strict = validatePath(ders, base);
  const peer = strict.peer;
  if (!peer) {
    errors.push(...strict.errors);
    step({
      step: "dates",
      level: "MUST",
      branch: "no",
      reason: "peer certificate unparseable",
      code: "MALFORMED_CERTIFICATE",
    });
    return done("terminate", null, { path: strict });
  }
  endpointIds = endpointIdsFromCert(peer, { uspVersion: context.uspVersion });
  warnings.push(...strict.warnings.filter((w) => w.code !== "REVOCATION_UNKNOWN"));

  // 1. Cached encrypted session? (OPT)
  if (context.cachedSession === true) {
    step({
      step: "cached-session",
      level: "OPT",
      branch: "yes",
      reason: "session cached under the current trust configuration",
    });
    return done("establish", "cached-session", { path: strict });
  }
  step({
    step: "cached-session",
    level: "OPT",
    branch: context.cachedSession === false ? "no" : "skipped",
    reason: context.cachedSession === false ? "no cached session" : "check not done: taking No",
  });

  // 2. Dates valid? (MUST) — on the path the validator chose; pass B tolerates dates to find them.
  if (strict.timeChecked) {
    let dateFindings = strict.errors.filter((e) => DATE_CODES.has(e.code));
    if (!strict.ok && dateFindings.length === 0) {
      const relaxed = validatePath(ders, { ...base, tolerate: ["CERT_EXPIRED", "CERT_NOT_YET_VALID"] });
      dateFindings = relaxed.tolerated.filter((e) => DATE_CODES.has(e.code));
    }
    if (dateFindings.length) {
      errors.push(...dateFindings);
      step({
        step: "dates",
        level: "MUST",
        branch: "no",
        reason: dateFindings[0]!.message,
        code: dateFindings[0]!.code,
      });
      return done("terminate", null, { path: strict });
    }
    step({
      step: "dates",
      level: "MUST",
      branch: "yes",
      reason: "every certificate of the path is within its validity period",
    });
  } else {
    step({
      step: "dates",
      level: "MUST",
      branch: "yes",
      reason: "no accurate time: absolute-time checks skipped (R-MTP.2)",
      code: "TIME_UNKNOWN",
    });
  }

  // 3. Identity (MUST; only if we initiated the MTP connection).
  if (!initiated) {
    step({
      step: "identity",
      level: "MUST",
      branch: "not-applicable",
      reason: "the peer initiated the connection",
    });
  } else {
    const host = hostOf(context.target);
    const eid = context.target?.endpointId;
    let passed: string | undefined;
    let failure: { code: FindingCode; reason: string } | undefined;
    if (host !== undefined) {
      const m = matchHost(peer, host);
      if (m.ok) passed = `${m.via === "ip" ? "iPAddress" : "dNSName"} SAN matches ${host}`;
      else if (isSpecialUseLanDomain(host)) {
        passed = `${host} is a special-use LAN domain: name not checked`;
        warnings.push({ code: "SPECIAL_USE_DOMAIN_NAME_NOT_CHECKED", message: passed, depth: 0 });
      } else failure = { code: m.code, reason: m.reason };
    }
    if (!passed && eid !== undefined) {
      const m = matchEndpointId(peer, eid, {
        allowWildcard: context.allowEidWildcard,
        uspVersion: context.uspVersion,
      });
      if (m.ok) passed = `certificate Endpoint ID ${m.matched} matches the target Controller ${eid}`;
      else if (!failure) failure = { code: m.code, reason: m.reason };
      else failure = { code: m.code, reason: `${failure.reason}; ${m.reason}` };
    }
    if (host === undefined && eid === undefined)
      failure = {
        code: "NAME_MISMATCH",
        reason: "no target host, URL or Endpoint ID to check the certificate against",
      };
    if (!passed) {
      errors.push({
        code: failure!.code,
        message: failure!.reason,
        depth: 0,
        certFingerprint: peer.fingerprint256,
      });
      step({ step: "identity", level: "MUST", branch: "no", reason: failure!.reason, code: failure!.code });
      return done("terminate", null, { path: strict });
    }
    step({ step: "identity", level: "MUST", branch: "yes", reason: passed });
  }

  // 4. Matches stored, valid cert for the Controller? (OPT)
  let basis: UspBasis | undefined;
  if (context.storedCertificates === undefined) {
    step({
      step: "stored-cert",
      level: "OPT",
      branch: "skipped",
      reason: "no stored Controller certificates: taking No",
    });
  } else {
    const stored = new Set(
      context.storedCertificates.flatMap((s) =>
        typeof s === "object" && s !== null && "fingerprint256" in s && typeof s.fingerprint256 === "string"
          ? [s.fingerprint256.replace(/:/g, "").toLowerCase()]
          : toDerList(s as CertInput).map((d) => fingerprint(d)),
      ),
    );
    if (stored.has(peer.fingerprint256)) {
      basis = "stored-cert";
      step({
        step: "stored-cert",
        level: "OPT",
        branch: "yes",
        reason: "peer certificate equals a stored Controller certificate",
      });
    } else
      step({
        step: "stored-cert",
        level: "OPT",
        branch: "no",
        reason: "peer certificate matches no stored certificate",
      });
  }

  // 5. Signed by a trusted CA or is Trusted Broker? (MUST)
  if (!basis) {
    if (strict.ok) {
      basis = strict.anchor?.broker ? "trusted-broker" : "trusted-ca";
      step({
        step: "ca-or-broker",
        level: "MUST",
        branch: "yes",
        reason:
          `${basis === "trusted-broker" ? "Trusted Broker" : "trusted CA"} ${strict.anchor?.label ?? strict.anchor?.subject ?? ""}`.trim(),
      });
    } else {
      const nonTrust = strict.errors.filter((e) => e.code !== "CHAIN_NO_ANCHOR");
      if (strict.anchor || nonTrust.length) {
        // The chain reaches (or is) something but is invalid: TOFU must not launder it.
        const e = nonTrust[0] ?? strict.errors[0]!;
        errors.push(...(nonTrust.length ? nonTrust : strict.errors));
        step({
          step: "ca-or-broker",
          level: "MUST",
          branch: "no",
          reason: `invalid chain: ${e.message}`,
          code: e.code,
        });
        return done("terminate", null, { path: strict });
      }
      step({
        step: "ca-or-broker",
        level: "MUST",
        branch: "no",
        reason: "no path to a trusted CA or Trusted Broker",
        code: "CHAIN_NO_ANCHOR",
      });
      // 7. Trusted signature required? (OPT; default: refuse trust on first use)
      const tofu = context.tofu;
      if (!tofu?.allowed) {
        errors.push(...strict.errors);
        errors.push({
          code: "TOFU_REFUSED",
          message: tofu ? "TOFUAllowed is false" : "trust on first use not enabled",
        });
        step({
          step: "tofu",
          level: "OPT",
          branch: tofu ? "yes" : "skipped",
          reason: tofu
            ? "trusted signature required (TOFUAllowed=false)"
            : "check not done: refusing trust on first use",
          code: "TOFU_REFUSED",
        });
        return done("terminate", null, { path: strict });
      }
      step({ step: "tofu", level: "OPT", branch: "no", reason: "TOFUAllowed: accepting on first use" });
      const timer = tofu.inactivityTimerSec ?? 0;
      warnings.push({
        code: "TOFU_ACCEPTED",
        message: "certificate accepted on first use (R-SEC.6: assign the untrusted Role)",
        depth: 0,
        certFingerprint: peer.fingerprint256,
      });
      step({
        step: "tofu-timer",
        level: "INFO",
        branch: "yes",
        reason: timer > 0 ? `inactivity timer ${timer} s` : "inactivity timer disabled (0)",
      });
      return done("establish", "tofu", { path: strict, inactivityTimerSec: timer });
    }
  }

  // 6. Revoked? (OPT)
  const rev = revocationOf(strict.ok ? strict.path : [peer], context);
  if (rev.status === "not-configured") {
    step({
      step: "revoked",
      level: "OPT",
      branch: "skipped",
      reason: "no revocation source configured: taking No",
    });
  } else if (rev.status === "revoked") {
    errors.push(rev.finding);
    step({ step: "revoked", level: "OPT", branch: "yes", reason: rev.finding.message, code: "CERT_REVOKED" });
    return done("terminate", null, { path: strict });
  } else if (rev.status === "unknown") {
    if (!context.allowRevocationUnknown) {
      errors.push(rev.finding);
      step({
        step: "revoked",
        level: "OPT",
        branch: "yes",
        reason: `status unknown: ${rev.finding.message}`,
        code: "REVOCATION_UNKNOWN",
      });
      return done("terminate", null, { path: strict });
    }
    warnings.push({ ...rev.finding, code: "OVERRIDE_REVOCATION_UNKNOWN", suppressed: "REVOCATION_UNKNOWN" });
    step({
      step: "revoked",
      level: "OPT",
      branch: "no",
      reason: "status unknown, accepted by allowRevocationUnknown",
      code: "OVERRIDE_REVOCATION_UNKNOWN",
    });
  } else step({ step: "revoked", level: "OPT", branch: "no", reason: "not revoked" });
  return done("establish", basis, { path: strict });
}

function withMeta(a: TrustAnchor, meta: AnchorMeta): TrustAnchor {
  if (typeof a === "object" && a !== null && !Array.isArray(a) && ("cert" in a || "fingerprint" in a))
    return { ...a, ...meta } as TrustAnchor;
  return { cert: a as CertInput, ...meta };
}

type Revocation = { status: "not-configured" | "good" } | { status: "revoked" | "unknown"; finding: Finding };

/** Revocation of the peer (must be known) and of the CAs above it (revoked fails; unknown ignored). */
function revocationOf(path: readonly ParsedCertificate[], ctx: UspContext): Revocation {
  if (ctx.crls === undefined && ctx.revocation === undefined) return { status: "not-configured" };
  const crls = ctx.crls === undefined ? [] : toCrlList(ctx.crls);
  const time = ctx.time instanceof Date ? Math.floor(ctx.time.getTime() / 1000) * 1000 : undefined;
  const allowed = new Set(ctx.signatureAlgorithms ?? DEFAULT_SIGNATURE_ALGORITHMS);
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const issuer = path[i + 1];
    if (!issuer && i > 0) break;
    let status: "good" | "revoked" | "unknown" = "unknown";
    let reason = "no revocation information";
    if (issuer && crls.length) {
      const s = crlStatus(c, issuer, crls, time, allowed);
      status = s.status;
      if (s.status !== "good") reason = s.reason;
    }
    if (status === "unknown" && ctx.revocation) {
      status = ctx.revocation(c, issuer);
      reason = "revocation callback";
    }
    const finding: Finding = {
      code: status === "revoked" ? "CERT_REVOKED" : "REVOCATION_UNKNOWN",
      message:
        status === "revoked" ? `certificate revoked (${reason})` : `revocation status unknown (${reason})`,
      depth: i,
      certFingerprint: c.fingerprint256,
    };
    if (status === "revoked") return { status, finding };
    if (status === "unknown" && i === 0) return { status, finding };
  }
  return { status: "good" };
}
