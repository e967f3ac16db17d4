/**
 * RFC 5280 §6.1 path validation with path building (backtracking over presented intermediates
 * and anchors), a work budget, inclusive one-second validity, an unknown-time mode (TR-369
 * R-MTP.2), name constraints, key usage / EKU, critical extensions, a signature-algorithm policy,
 * host/IP matching and caller-supplied CRLs. Synchronous; no I/O.
 */
import { fingerprintMatches, type ResolvedAnchor, resolveAnchors, type TrustAnchor } from "./anchors.js";
import { KU, OID, type ParsedCertificate, parseCertificate } from "./cert.js";
import {
  addConstraints,
  ConstraintBudgetExceeded,
  type ConstraintState,
  type Counter,
  checkNames,
  constraintDefect,
  emptyConstraintState,
} from "./constraints.js";
import { type CrlInput, crlStatus, type ParsedCrl, toCrlList } from "./crl.js";
import { CertInputError, CertOptionsError, CertParseError } from "./errors.js";
import { matchEmail, matchHost } from "./identity.js";
import { type CertInput, toDerList } from "./input.js";
import { formatName } from "./name.js";
import { type PathPolicy, PolicyBudgetExceeded, type PolicyCounter, processPolicies } from "./policy.js";
import {
  checkSignature,
  DEFAULT_SIGNATURE_ALGORITHMS,
  keyPolicyViolation,
  type SignatureCheck,
} from "./signature.js";
import type { Finding, FindingCode, PathErrorCode } from "./types.js";

/** Work limits; exceeding any of them fails with `PATH_BUDGET_EXCEEDED` (never a hang). */
export interface PathBudget {
  /** Presented certificates (peer + intermediates) considered. Default 16. */
  readonly maxCerts: number;
  /** Certificates in one path, peer and anchor included. Default 10. */
  readonly maxPathLength: number;
  /** Signature verifications. Default 64. */
  readonly maxSignatureChecks: number;
  /** Path-building steps. Default 2,000. */
  readonly maxBuildSteps: number;
  /** Name-constraint comparisons. Default 250,000. */
  readonly maxNameConstraintChecks: number;
  /**
   * Certificate-policy tree work (RFC 5280 §6.1): policy nodes created plus expected-policy
   * entries visited, over all candidate paths. Default 10,000. Bounds the policy-tree blow-up
   * that policy mappings allow (the CVE-2023-0464 class).
   */
  readonly maxPolicyNodes: number;
}

export const DEFAULT_BUDGET: PathBudget = {
  maxCerts: 16,
  maxPathLength: 10,
  maxSignatureChecks: 64,
  maxBuildSteps: 2000,
  maxNameConstraintChecks: 250_000,
  maxPolicyNodes: 10_000,
};

/** Absolute time, or `"none"` / `"unknown"` when the caller has no accurate clock (R-MTP.2). */
export type TimeInput = Date | "none" | "unknown";

export type KeyUsageName = keyof typeof KU;

export type RevocationCallback = (
  cert: ParsedCertificate,
  issuer: ParsedCertificate | undefined,
) => "good" | "revoked" | "unknown";

export interface PathOptions {
  /** Trust anchors. (`trustAnchors` is accepted as an alias.) */
  readonly anchors?: readonly TrustAnchor[];
  readonly trustAnchors?: readonly TrustAnchor[];
  /** Untrusted intermediates, in addition to those after the peer in `chain`. */
  readonly intermediates?: CertInput;
  /** Validation time; required, there is no implicit "now". */
  readonly time: TimeInput;
  /** Required EKU of the peer certificate: `serverAuth`, `clientAuth` or an OID. Absent EKU = any. */
  readonly purpose?: "serverAuth" | "clientAuth" | (string & {});
  /** Accept `anyExtendedKeyUsage` for `purpose` (default false). */
  readonly allowAnyExtendedKeyUsage?: boolean;
  /** KeyUsage bits the peer certificate must have when it has a KeyUsage extension. */
  readonly keyUsage?: readonly KeyUsageName[];
  /** Expected DNS host name of the peer. */
  readonly host?: string;
  /** Expected IP address of the peer (matched against iPAddress SANs only). */
  readonly ip?: string;
  /** Expected e-mail address (rfc822Name SAN). */
  readonly email?: string;
  /** Fall back to the subject CN when there is no dNSName SAN (default false; reported as a warning). */
  readonly allowCommonNameFallback?: boolean;
  /** Maximum number of logical (non-self-issued) intermediates. */
  readonly maxDepth?: number;
  readonly budget?: Partial<PathBudget>;
  readonly crls?: CrlInput;
  readonly revocation?: RevocationCallback;
  /** Fail when revocation status cannot be determined for a certificate (default false: warning). */
  readonly requireRevocation?: boolean;
  /** Allowed signature algorithms (names as in {@link DEFAULT_SIGNATURE_ALGORITHMS}). */
  readonly signatureAlgorithms?: readonly string[];
  /** `rfc5280` (default) enforces issuance-profile rules; `lenient` reports them as warnings. */
  readonly profile?: "rfc5280" | "lenient";
  /** Error codes to downgrade to `tolerated` findings (used by the STTP / SciStream overrides). */
  readonly tolerate?: readonly PathErrorCode[];
  /**
   * RFC 5280 user-initial-policy-set: policy OIDs acceptable to the caller. Default
   * `["2.5.29.32.0"]` (anyPolicy). Always narrows `policies` in the result; fails the path only
   * when an explicit policy is required (by `requireExplicitPolicy` or a policyConstraints
   * extension in the path).
   */
  readonly initialPolicies?: readonly string[];
  /** RFC 5280 initial-explicit-policy: fail unless the path is valid for a policy of `initialPolicies` (default false). */
  readonly requireExplicitPolicy?: boolean;
  /** RFC 5280 initial-policy-mapping-inhibit: policy mappings are not honoured (default false). */
  readonly inhibitPolicyMapping?: boolean;
  /** RFC 5280 initial-any-policy-inhibit: anyPolicy in a certificate matches nothing (default false). */
  readonly inhibitAnyPolicy?: boolean;
}

export interface PathAnchorInfo {
  /** Index in the `anchors` option. */
  readonly index: number;
  readonly kind: "certificate" | "fingerprint" | "pinned";
  readonly label?: string;
  readonly allowedUses?: string;
  readonly role?: readonly string[];
  readonly broker?: boolean;
  readonly subject: string;
  readonly fingerprint256: string;
}

export interface PathResult {
  readonly ok: boolean;
  /** The validated (or best-effort) path, peer first, anchor last. */
  readonly path: readonly ParsedCertificate[];
  readonly anchor: PathAnchorInfo | undefined;
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  /** Errors suppressed by `tolerate`. */
  readonly tolerated: readonly Finding[];
  readonly timeChecked: boolean;
  /** Peer certificate, when it could be parsed. */
  readonly peer: ParsedCertificate | undefined;
  /**
   * Certificate policies the path is valid for (RFC 5280 §6.1.5: the valid policy tree at the
   * peer's depth, intersected with `initialPolicies`), with their qualifiers. `2.5.29.32.0`
   * (anyPolicy) means any policy; empty when the path asserts no common policy. Absent when no
   * path was processed (parse or budget failure).
   */
  readonly policies?: readonly PathPolicy[];
}

class BudgetExceeded extends Error {}

interface Attempt {
  readonly path: ParsedCertificate[];
  readonly anchor: ResolvedAnchor | undefined;
  readonly errors: Finding[];
  readonly warnings: Finding[];
  readonly tolerated: Finding[];
  readonly policies?: readonly PathPolicy[];
}

const EKU_NAMES: Record<string, string> = { serverAuth: OID.serverAuth, clientAuth: OID.clientAuth };

function finding(code: FindingCode, message: string, depth?: number, cert?: ParsedCertificate): Finding {
  return cert ? { code, message, depth, certFingerprint: cert.fingerprint256 } : { code, message, depth };
}

/**
 * Validates a certificate chain. `chain` is the peer certificate, optionally followed by the
 * intermediates it presented. Returns a result; throws only on unusable options or anchors.
 */
export function validatePath(chain: CertInput, options: PathOptions): PathResult {
  const ders = toDerList(chain);
  if (ders.length === 0) throw new CertInputError("empty chain");
  if (options.time === undefined) throw new CertInputError("options.time is required (a Date, or 'none')");
  const budget: PathBudget = { ...DEFAULT_BUDGET, ...options.budget };
  if (options.initialPolicies !== undefined && options.initialPolicies.length === 0)
    throw new CertOptionsError("options.initialPolicies is empty (use ['2.5.29.32.0'] for any policy)");
  const timeMs =
    options.time instanceof Date
      ? Math.floor(options.time.getTime() / 1000) * 1000
      : (undefined as number | undefined);
  if (timeMs !== undefined && Number.isNaN(timeMs))
    throw new CertInputError("options.time is an invalid Date");
  const warnings: Finding[] = [];
  if (timeMs === undefined)
    warnings.push(finding("TIME_UNKNOWN", "no accurate time: validity periods were not checked (R-MTP.2)"));

  let leaf: ParsedCertificate;
  try {
    leaf = parseCertificate(ders[0]!);
  } catch (err) {
    return {
      ok: false,
      path: [],
      anchor: undefined,
      errors: [finding("MALFORMED_CERTIFICATE", `peer certificate: ${(err as Error).message}`, 0)],
      warnings,
      tolerated: [],
      timeChecked: timeMs !== undefined,
      peer: undefined,
    };
  }
  const anchors = resolveAnchors(options.anchors ?? options.trustAnchors ?? []);
  const extra = options.intermediates === undefined ? [] : toDerList(options.intermediates);
  const presented = [...ders.slice(1), ...extra];
  if (presented.length + 1 > budget.maxCerts)
    return budgetResult(leaf, warnings, timeMs, `more than ${budget.maxCerts} certificates presented`);
  const pool: ParsedCertificate[] = [];
  const seen = new Set<string>([leaf.fingerprint256]);
  for (const der of presented) {
    try {
      const c = parseCertificate(der);
      if (!seen.has(c.fingerprint256)) pool.push(c);
      seen.add(c.fingerprint256);
    } catch {
      // An unparseable intermediate cannot be part of any path; skipping it loses nothing.
    }
  }
  const crls: ParsedCrl[] = options.crls === undefined ? [] : toCrlList(options.crls);
  const ctx = new Context(options, budget, timeMs, anchors, crls);
  let chosen: Attempt;
  try {
    // bestFailure re-checks a path, which spends budget too, so it sits inside the same guard.
    chosen = ctx.build(leaf, pool) ?? ctx.bestFailure(leaf);
  } catch (err) {
    if (err instanceof BudgetExceeded || err instanceof ConstraintBudgetExceeded)
      return budgetResult(leaf, warnings, timeMs, err.message);
    throw err;
  }
  const errors = [...chosen.errors];
  const tolerated = [...chosen.tolerated];
  warnings.push(...chosen.warnings);
  // Identity of the peer: independent of the path.
  const tolerate = new Set(options.tolerate ?? []);
  const identityError = (code: PathErrorCode, message: string) => {
    const f = finding(code, message, 0, leaf);
    (tolerate.has(code) ? tolerated : errors).push(f);
  };
  if (options.host !== undefined) {
    const m = matchHost(leaf, options.host, { allowCommonNameFallback: options.allowCommonNameFallback });
    if (!m.ok) identityError(m.code, m.reason);
    else if (m.via === "cn")
      warnings.push(finding("OVERRIDE_CN_FALLBACK", `host ${options.host} matched the subject CN`, 0, leaf));
  }
  if (options.ip !== undefined) {
    const m = matchHost(leaf, options.ip);
    if (!m.ok) identityError("IP_MISMATCH", m.reason);
  }
  if (options.email !== undefined && !matchEmail(leaf, options.email))
    identityError("NAME_MISMATCH", `no rfc822Name SAN equals ${options.email}`);
  return {
    ok: errors.length === 0,
    path: chosen.path,
    anchor: chosen.anchor ? anchorInfo(chosen.anchor, chosen.path) : undefined,
    errors,
    warnings,
    tolerated,
    timeChecked: timeMs !== undefined,
    peer: leaf,
    policies: chosen.policies,
  };
}

function budgetResult(leaf: ParsedCertificate, warnings: Finding[], timeMs: number | undefined, msg: string) {
  return {
    ok: false,
    path: [leaf],
    anchor: undefined,
    errors: [finding("PATH_BUDGET_EXCEEDED", msg)],
    warnings,
    tolerated: [],
    timeChecked: timeMs !== undefined,
    peer: leaf,
  };
}

function anchorInfo(a: ResolvedAnchor, path: readonly ParsedCertificate[]): PathAnchorInfo {
  const top = path[path.length - 1]!;
  return {
    index: a.index,
    kind: path.length === 1 ? "pinned" : a.cert ? "certificate" : "fingerprint",
    label: a.meta.label,
    allowedUses: a.meta.allowedUses,
    role: a.meta.role,
    broker: a.meta.broker,
    subject: formatName(top.subject),
    fingerprint256: top.fingerprint256,
  };
}

class Context {
  private readonly sigCache = new Map<string, SignatureCheck>();
  private readonly allowedAlgs: ReadonlySet<string>;
  private readonly tolerate: ReadonlySet<string>;
  private steps = 0;
  private signatures = 0;
  private readonly nc: Counter;
  private readonly policyWork: PolicyCounter;
  private firstAnchored: Attempt | undefined;
  private deepest: ParsedCertificate[] = [];

  constructor(
    private readonly options: PathOptions,
    private readonly budget: PathBudget,
    private readonly timeMs: number | undefined,
    private readonly anchors: readonly ResolvedAnchor[],
    private readonly crls: readonly ParsedCrl[],
  ) {
    this.allowedAlgs = new Set(options.signatureAlgorithms ?? DEFAULT_SIGNATURE_ALGORITHMS);
    this.tolerate = new Set(options.tolerate ?? []);
    this.nc = { remaining: budget.maxNameConstraintChecks };
    this.policyWork = { remaining: budget.maxPolicyNodes, limit: budget.maxPolicyNodes };
  }

  private verifySig(child: ParsedCertificate, parent: ParsedCertificate): SignatureCheck {
    const key = `${child.fingerprint256}|${parent.fingerprint256}`;
    let r = this.sigCache.get(key);
    if (!r) {
      if (++this.signatures > this.budget.maxSignatureChecks)
        throw new BudgetExceeded(`more than ${this.budget.maxSignatureChecks} signature checks`);
      let pk: ReturnType<ParsedCertificate["publicKey"]>;
      try {
        pk = parent.publicKey();
      } catch (err) {
        r = {
          ok: false,
          code: "SIGNATURE_INVALID",
          reason: `issuer key unusable: ${(err as Error).message}`,
        };
        this.sigCache.set(key, r);
        return r;
      }
      r = checkSignature(child.tbs, child.signatureAlgorithm, child.signature, pk, this.allowedAlgs);
      this.sigCache.set(key, r);
    }
    return r;
  }

  private anchorMatching(cert: ParsedCertificate): ResolvedAnchor | undefined {
    for (const a of this.anchors) {
      if (a.cert ? a.cert.fingerprint256 === cert.fingerprint256 : fingerprintMatches(a.fingerprint!, cert))
        return a;
    }
    return undefined;
  }

  private isCurrent(c: ParsedCertificate): boolean {
    return this.timeMs === undefined || (c.notBefore <= this.timeMs && this.timeMs <= c.notAfter);
  }

  /** Candidates that may have issued `cert`, best first. A signature that does not verify is no edge. */
  private issuersOf(cert: ParsedCertificate, from: readonly ParsedCertificate[]): ParsedCertificate[] {
    const names = from.filter((c) => c.subject.key === cert.issuer.key);
    const score = (c: ParsedCertificate) => {
      let s = 0;
      if (this.isCurrent(c)) s -= 2;
      const aki = cert.authorityKeyId?.keyId;
      if (aki && c.subjectKeyId && Buffer.compare(aki, c.subjectKeyId) === 0) s -= 1;
      return s;
    };
    return names
      .map((c, i) => ({ c, i, s: score(c) }))
      .sort((a, b) => a.s - b.s || a.i - b.i)
      .map((x) => x.c);
  }

  build(leaf: ParsedCertificate, pool: readonly ParsedCertificate[]): Attempt | undefined {
    const anchorCerts = this.anchors.filter((a) => a.cert).map((a) => a.cert!);
    const anchorFps = new Set(anchorCerts.map((c) => c.fingerprint256));
    const intermediates = pool.filter((c) => !anchorFps.has(c.fingerprint256));
    const dfs = (path: ParsedCertificate[]): Attempt | undefined => {
      if (++this.steps > this.budget.maxBuildSteps)
        throw new BudgetExceeded(`more than ${this.budget.maxBuildSteps} path-building steps`);
      if (path.length > this.deepest.length) this.deepest = path;
      const cur = path[path.length - 1]!;
      const self = this.anchorMatching(cur);
      if (self) {
        const r = this.evaluate(path, self);
        if (r) return r;
      }
      if (path.length >= this.budget.maxPathLength) return undefined;
      const inPath = (c: ParsedCertificate) =>
        path.some(
          (p) =>
            p.fingerprint256 === c.fingerprint256 ||
            (p.subject.key === c.subject.key && Buffer.compare(p.spki, c.spki) === 0),
        );
      for (const a of this.issuersOf(cur, anchorCerts)) {
        if (inPath(a) || !this.verifySig(cur, a).ok) continue;
        const r = this.evaluate([...path, a], this.anchorMatching(a)!);
        if (r) return r;
      }
      for (const c of this.issuersOf(cur, intermediates)) {
        if (inPath(c) || !this.verifySig(cur, c).ok) continue;
        const r = dfs([...path, c]);
        if (r) return r;
      }
      return undefined;
    };
    return dfs([leaf]);
  }

  /** The failure to report: the first path that reached an anchor, else the longest untrusted path. */
  bestFailure(leaf: ParsedCertificate): Attempt {
    if (this.firstAnchored) return this.firstAnchored;
    const path = this.deepest.length ? this.deepest : [leaf];
    return this.check(path, undefined);
  }

  /** Checks a complete candidate path; returns it when valid, records the first anchored failure. */
  private evaluate(path: ParsedCertificate[], anchor: ResolvedAnchor): Attempt | undefined {
    const a = this.check(path, anchor);
    if (a.errors.length === 0) return a;
    this.firstAnchored ??= a;
    return undefined;
  }

  private check(path: readonly ParsedCertificate[], anchor: ResolvedAnchor | undefined): Attempt {
    const errors: Finding[] = [];
    const warnings: Finding[] = [];
    const tolerated: Finding[] = [];
    const lenient = this.options.profile === "lenient";
    const add = (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => {
      const f = finding(code, msg, depth, cert);
      if (this.tolerate.has(code)) tolerated.push(f);
      else if (code === "PROFILE_VIOLATION" && lenient) warnings.push(f);
      else errors.push(f);
    };
    const n = path.length;
    const top = path[n - 1]!;
    const t = this.timeMs;
    const checkTime = (c: ParsedCertificate, d: number) => {
      if (t === undefined) return;
      if (t < c.notBefore)
        add("CERT_NOT_YET_VALID", `not valid before ${new Date(c.notBefore).toISOString()}`, d, c);
      else if (t > c.notAfter) add("CERT_EXPIRED", `expired at ${new Date(c.notAfter).toISOString()}`, d, c);
    };
    const problems = (c: ParsedCertificate, d: number) => {
      for (const p of c.problems) add(p.code as PathErrorCode, p.message, d, c);
    };
    const keyPolicy = (c: ParsedCertificate, d: number) => {
      const v = keyPolicyViolation(c);
      if (v) add("PUBLIC_KEY_DISALLOWED", v, d, c);
    };

    if (!anchor)
      add("CHAIN_NO_ANCHOR", `no path to a trust anchor (stopped at ${formatName(top.subject)})`, n - 1, top);
    if (!anchor && top.selfIssued && !this.selfSigned(top))
      add(
        "SIGNATURE_INVALID",
        "self-issued certificate whose signature does not verify with its own key",
        n - 1,
        top,
      );

    // Pinned peer: the anchor is the peer certificate itself; no CA checks apply.
    if (anchor && n === 1) {
      checkTime(top, 0);
      problems(top, 0);
      keyPolicy(top, 0);
      this.serialCheck(top, 0, add);
      this.leafChecks(top, add, true);
      const policies = this.policies(path, add);
      return { path: [...path], anchor, errors, warnings, tolerated, policies };
    }

    // The top of the path: the trust anchor (or, untrusted, the highest certificate reached).
    const state: ConstraintState = emptyConstraintState();
    let maxPathLen = Number.POSITIVE_INFINITY;
    let logicalDepth = 0;
    const topIsLeaf = n === 1;
    if (!topIsLeaf) {
      const d = n - 1;
      checkTime(top, d);
      problems(top, d);
      keyPolicy(top, d);
      this.caChecks(top, d, add, true);
      if (top.nameConstraints) {
        const defect = constraintDefect(top.nameConstraints);
        if (defect) add("NAME_CONSTRAINT_INVALID", defect, d, top);
        else addConstraints(state, top.nameConstraints);
      }
      if (top.basicConstraints?.pathLen !== undefined) maxPathLen = top.basicConstraints.pathLen;
    }

    for (let i = topIsLeaf ? 0 : n - 2; i >= 0; i--) {
      const c = path[i]!;
      const issuer = path[i + 1];
      if (issuer) {
        const sig = this.verifySig(c, issuer);
        if (!sig.ok) add(sig.code, sig.reason, i, c);
        if (c.issuer.key !== issuer.subject.key)
          add("ISSUER_NAME_MISMATCH", "issuer name does not chain", i, c);
      }
      if (
        c.tbsSignatureAlgorithm.der.length !== c.signatureAlgorithm.der.length ||
        Buffer.compare(c.tbsSignatureAlgorithm.der, c.signatureAlgorithm.der) !== 0
      )
        add("SIGNATURE_ALGORITHM_MISMATCH", "TBS and outer signature algorithms differ", i, c);
      checkTime(c, i);
      problems(c, i);
      keyPolicy(c, i);
      this.profileChecks(c, i, add);
      if (c.issuer.empty) add("MALFORMED_CERTIFICATE", "empty issuer name", i, c);
      if (!c.selfIssued || i === 0) {
        try {
          const v = checkNames(c, state, this.nc);
          if (v) add("NAME_CONSTRAINT_VIOLATION", v, i, c);
        } catch (err) {
          if (err instanceof ConstraintBudgetExceeded) throw new BudgetExceeded(err.message);
          throw err;
        }
      }
      if (issuer && (this.crls.length || this.options.revocation))
        this.revocation(c, issuer, i, add, warnings);
      if (i > 0) {
        this.caChecks(c, i, add, false);
        if (!c.selfIssued) {
          if (maxPathLen <= 0) add("PATH_LENGTH_EXCEEDED", "pathLenConstraint of an issuer exceeded", i, c);
          maxPathLen--;
          logicalDepth++;
          if (this.options.maxDepth !== undefined && logicalDepth > this.options.maxDepth)
            add("MAX_DEPTH_EXCEEDED", `more than ${this.options.maxDepth} intermediates`, i, c);
        }
        const pl = c.basicConstraints?.pathLen;
        if (pl !== undefined && pl < maxPathLen) maxPathLen = pl;
        if (c.nameConstraints) {
          const defect = constraintDefect(c.nameConstraints);
          if (defect) add("NAME_CONSTRAINT_INVALID", defect, i, c);
          else addConstraints(state, c.nameConstraints);
        }
      } else this.leafChecks(c, add, false);
    }
    const policies = this.policies(path, add);
    return { path: [...path], anchor, errors, warnings, tolerated, policies };
  }

  /**
   * RFC 5280 §6.1 policy processing over the path below the top certificate (the trust anchor is
   * an input of the algorithm, not a certificate of the path, so its own policy extensions are not
   * processed, as in RFC 5280 §6.1.1 (d)). A pinned peer is a path of length 0.
   */
  private policies(
    path: readonly ParsedCertificate[],
    add: (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => void,
  ): readonly PathPolicy[] {
    const certs = path.slice(0, -1).reverse();
    const n = certs.length;
    let r: ReturnType<typeof processPolicies>;
    try {
      r = processPolicies(certs, this.options, this.policyWork);
    } catch (err) {
      if (err instanceof PolicyBudgetExceeded) throw new BudgetExceeded(err.message);
      throw err;
    }
    // RFC index i (1 = issued by the anchor, n = peer) is depth n - i.
    for (const i of r.invalidMappings)
      add(
        "MALFORMED_EXTENSION",
        "policyMappings maps to or from anyPolicy (RFC 5280 §6.1.4 (a))",
        n - i,
        certs[i - 1]!,
      );
    if (r.failure)
      add(r.failure.code, r.failure.message, n - r.failure.index, certs[r.failure.index - 1] ?? path[0]!);
    return r.policies;
  }

  private revocation(
    c: ParsedCertificate,
    issuer: ParsedCertificate,
    d: number,
    add: (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => void,
    warnings: Finding[],
  ): void {
    let status: "good" | "revoked" | "unknown" = "unknown";
    let reason = "";
    if (this.crls.length) {
      const s = crlStatus(c, issuer, this.crls, this.timeMs, this.allowedAlgs);
      status = s.status;
      reason = s.status === "good" ? "" : s.reason;
    }
    if (status === "unknown" && this.options.revocation) {
      status = this.options.revocation(c, issuer);
      reason = "revocation callback";
    }
    if (status === "revoked") add("CERT_REVOKED", `revoked (${reason})`, d, c);
    else if (status === "unknown") {
      if (this.options.requireRevocation)
        add("REVOCATION_UNKNOWN", `revocation status unknown: ${reason}`, d, c);
      else warnings.push(finding("REVOCATION_UNKNOWN", `revocation status unknown: ${reason}`, d, c));
    }
  }

  /** Checks for a certificate acting as an issuer (intermediate or anchor). */
  private caChecks(
    c: ParsedCertificate,
    d: number,
    add: (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => void,
    isTop: boolean,
  ): void {
    if (!c.basicConstraints?.ca) add("ISSUER_NOT_CA", "issuer lacks basicConstraints cA=TRUE", d, c);
    const ncExt = c.extensions.find((e) => e.oid === OID.nameConstraints);
    if (ncExt && !ncExt.critical)
      add("PROFILE_VIOLATION", "nameConstraints must be critical (RFC 5280 §4.2.1.10)", d, c);
    else if (!c.extensions.find((e) => e.oid === OID.basicConstraints)?.critical)
      add("PROFILE_VIOLATION", "CA basicConstraints must be critical (RFC 5280 §4.2.1.9)", d, c);
    if (c.keyUsage !== undefined && !(c.keyUsage & KU.keyCertSign))
      add("KEY_USAGE_INVALID", "issuer KeyUsage lacks keyCertSign", d, c);
    if (c.subject.empty) add("MALFORMED_CERTIFICATE", "CA with an empty subject", d, c);
    if (!c.subjectKeyId) add("PROFILE_VIOLATION", "CA certificate without subjectKeyIdentifier", d, c);
    if (!isTop && c.version !== 3) add("MALFORMED_CERTIFICATE", "intermediate is not X.509 v3", d, c);
    if (isTop) {
      if (c.issuer.empty) add("MALFORMED_CERTIFICATE", "empty issuer name", d, c);
      const aki = c.authorityKeyId;
      if (!aki && !c.selfIssued)
        add(
          "PROFILE_VIOLATION",
          "cross-signed anchor without authorityKeyIdentifier (RFC 5280 §4.2.1.1)",
          d,
          c,
        );
      if (aki) {
        if (!aki.keyId) add("PROFILE_VIOLATION", "authorityKeyIdentifier without keyIdentifier", d, c);
        else if (
          c.selfIssued &&
          c.subjectKeyId &&
          Buffer.compare(aki.keyId, c.subjectKeyId) !== 0 &&
          this.selfSigned(c)
        )
          add("PROFILE_VIOLATION", "self-signed anchor whose AKI differs from its SKI", d, c);
      }
      for (const e of c.extensions)
        if ((e.oid === OID.authorityKeyIdentifier || e.oid === OID.subjectKeyIdentifier) && e.critical)
          add("PROFILE_VIOLATION", `extension ${e.oid} must not be critical`, d, c);
    }
  }

  private selfSigned(c: ParsedCertificate): boolean {
    return this.verifySig(c, c).ok;
  }

  /** RFC 5280 §4.1.2.2: positive, at most 20 octets. */
  private serialCheck(
    c: ParsedCertificate,
    d: number,
    add: (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => void,
  ): void {
    const s = c.serial;
    if (s[0]! & 0x80) add("PROFILE_VIOLATION", "negative serial number", d, c);
    else if (s.length === 1 && s[0] === 0) add("PROFILE_VIOLATION", "zero serial number", d, c);
    if (s.length > 21 || (s.length === 21 && s[0] !== 0))
      add("PROFILE_VIOLATION", "serial number longer than 20 octets", d, c);
  }

  /** RFC 5280 issuance-profile rules on non-anchor certificates (warnings under `lenient`). */
  private profileChecks(
    c: ParsedCertificate,
    d: number,
    add: (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => void,
  ): void {
    this.serialCheck(c, d, add);
    if (!c.authorityKeyId) {
      // Only a self-signed certificate may omit the AKI (RFC 5280 §4.2.1.1).
      if (!(c.selfIssued && this.selfSigned(c)))
        add("PROFILE_VIOLATION", "missing authorityKeyIdentifier", d, c);
    } else if (!c.authorityKeyId.keyId)
      add("PROFILE_VIOLATION", "authorityKeyIdentifier without keyIdentifier", d, c);
    for (const e of c.extensions) {
      if ((e.oid === OID.authorityKeyIdentifier || e.oid === OID.subjectKeyIdentifier) && e.critical)
        add("PROFILE_VIOLATION", `extension ${e.oid} must not be critical`, d, c);
      if (e.oid === OID.authorityInfoAccess && e.critical)
        add("MALFORMED_EXTENSION", "authorityInfoAccess must not be critical", d, c);
    }
    const san = c.extensions.find((e) => e.oid === OID.subjectAltName);
    if (c.subject.empty && !san?.critical)
      add("MALFORMED_CERTIFICATE", "empty subject requires a critical subjectAltName", d, c);
  }

  private leafChecks(
    c: ParsedCertificate,
    add: (code: PathErrorCode, msg: string, depth: number, cert: ParsedCertificate) => void,
    pinned: boolean,
  ): void {
    if (!pinned) {
      if (c.basicConstraints?.ca && c.keyUsage !== undefined && !(c.keyUsage & KU.keyCertSign))
        add("KEY_USAGE_INVALID", "cA=TRUE with a KeyUsage lacking keyCertSign is inconsistent", 0, c);
      if (c.version !== 3) add("PROFILE_VIOLATION", "end-entity certificate is not X.509 v3", 0, c);
    }
    if (c.nameConstraints)
      add("NAME_CONSTRAINT_INVALID", "nameConstraints in an end-entity certificate", 0, c);
    if (c.keyUsage !== undefined && c.keyUsage & KU.keyCertSign && !c.basicConstraints?.ca)
      add("KEY_USAGE_INVALID", "keyCertSign without basicConstraints cA", 0, c);
    const purpose = this.options.purpose;
    if (purpose && c.extKeyUsage) {
      const oid = EKU_NAMES[purpose] ?? purpose;
      const ok =
        c.extKeyUsage.includes(oid) ||
        (this.options.allowAnyExtendedKeyUsage === true && c.extKeyUsage.includes(OID.anyExtendedKeyUsage));
      if (!ok) add("EKU_MISMATCH", `extendedKeyUsage lacks ${purpose}`, 0, c);
    }
    for (const name of this.options.keyUsage ?? []) {
      if (c.keyUsage !== undefined && !(c.keyUsage & KU[name]))
        add("KEY_USAGE_INVALID", `KeyUsage lacks ${name}`, 0, c);
    }
  }
}

/** Parses one DER or PEM certificate (throws {@link CertParseError}). */
export function parseCertificateInput(input: CertInput): ParsedCertificate {
  const [der, more] = toDerList(input);
  if (!der || more) throw new CertParseError("expected exactly one certificate");
  return parseCertificate(der);
}
