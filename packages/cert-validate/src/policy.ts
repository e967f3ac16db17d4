/**
 * RFC 5280 §6.1 certificate policy processing: the valid_policy_tree with the explicit_policy,
 * inhibit_anyPolicy and policy_mapping counters (§6.1.2 (a), (d)–(f)), the per-certificate
 * steps §6.1.3 (d)–(f), the preparation steps §6.1.4 (a)–(b) and (h)–(j), and the wrap-up
 * §6.1.5 (a)–(b) and (g) (intersection with the user-initial-policy-set).
 *
 * The tree is kept level by level as RFC 5280 describes it. With policy mappings it can grow
 * exponentially in the path length (the "policy tree" denial of service, e.g. CVE-2023-0464), so
 * every node created and every expected-policy entry visited is charged to a work counter; when
 * it runs out, processing stops with {@link PolicyBudgetExceeded} and the caller fails the
 * validation with PATH_BUDGET_EXCEEDED.
 */
import { OID, type ParsedCertificate, type PolicyQualifier } from "./cert.js";

export const ANY_POLICY = OID.anyPolicy;

/** Caller inputs of §6.1.1 (c), (e), (f), (g). */
export interface PolicyInputs {
  /** user-initial-policy-set; default `[anyPolicy]`. */
  readonly initialPolicies?: readonly string[];
  /** initial-explicit-policy: the path must be valid for at least one policy of the set. */
  readonly requireExplicitPolicy?: boolean;
  /** initial-policy-mapping-inhibit. */
  readonly inhibitPolicyMapping?: boolean;
  /** initial-any-policy-inhibit. */
  readonly inhibitAnyPolicy?: boolean;
}

/** One policy of the outcome, with the qualifiers the tree carried for it. */
export interface PathPolicy {
  /** Policy OID; `2.5.29.32.0` (anyPolicy) when the path is valid for any policy. */
  readonly oid: string;
  readonly qualifiers: readonly PolicyQualifier[];
}

export interface PolicyOutcome {
  /**
   * Policies of the valid_policy_tree at depth n after the §6.1.5 (g) intersection with the
   * user-initial-policy-set. With the default set (anyPolicy) this is the authorities-constrained
   * policy set. Empty when the tree is NULL.
   */
  readonly policies: readonly PathPolicy[];
  /** A policy failure, with the RFC index (1 = certificate issued by the anchor, n = peer). */
  readonly failure?: { readonly index: number; readonly code: "NO_VALID_POLICY"; readonly message: string };
  /** Mappings to or from anyPolicy (§6.1.4 (a)), by RFC index. */
  readonly invalidMappings: readonly number[];
}

/** Thrown when the policy tree exceeds its work budget. */
export class PolicyBudgetExceeded extends Error {}

interface Node {
  readonly policy: string;
  readonly qualifiers: readonly PolicyQualifier[];
  expected: Set<string>;
  readonly parent: Node | undefined;
  children: number;
}

/** Work counter shared across all candidate paths of one validation. */
export interface PolicyCounter {
  remaining: number;
  readonly limit: number;
}

function charge(counter: PolicyCounter, units: number): void {
  counter.remaining -= units;
  if (counter.remaining < 0)
    throw new PolicyBudgetExceeded(`more than ${counter.limit} policy-tree work units (nodes, mappings)`);
}

/**
 * Runs policy processing over `certs` in RFC order (index 0 here = RFC certificate 1, issued by the
 * trust anchor; the last = the peer). The trust anchor itself is not part of `certs`.
 */
export function processPolicies(
  certs: readonly ParsedCertificate[],
  inputs: PolicyInputs,
  counter: PolicyCounter,
): PolicyOutcome {
  const n = certs.length;
  const userSet = inputs.initialPolicies ?? [ANY_POLICY];
  const userAny = userSet.includes(ANY_POLICY);
  let explicitPolicy = inputs.requireExplicitPolicy ? 0 : n + 1;
  let inhibitAny = inputs.inhibitAnyPolicy ? 0 : n + 1;
  let policyMapping = inputs.inhibitPolicyMapping ? 0 : n + 1;
  const invalidMappings: number[] = [];

  // levels[d] holds the nodes of depth d; `null` is the NULL tree.
  const root: Node = {
    policy: ANY_POLICY,
    qualifiers: [],
    expected: new Set([ANY_POLICY]),
    parent: undefined,
    children: 0,
  };
  let levels: Node[][] | null = [[root]];
  charge(counter, 1);

  /** Deletes childless nodes of depth < `depth`, bottom-up; returns false when the tree emptied. */
  const prune = (depth: number): boolean => {
    if (!levels) return false;
    for (let d = depth - 1; d >= 0; d--) {
      const keep: Node[] = [];
      for (const node of levels[d]!) {
        if (node.children > 0) keep.push(node);
        else if (node.parent) node.parent.children--;
      }
      levels[d] = keep;
    }
    if (levels[0]!.length === 0 || levels[depth]!.length === 0) levels = null;
    return levels !== null;
  };
  const addChild = (
    level: Node[],
    parent: Node,
    policy: string,
    q: readonly PolicyQualifier[],
    exp: Set<string>,
  ) => {
    charge(counter, 1);
    parent.children++;
    level.push({ policy, qualifiers: q, expected: exp, parent, children: 0 });
  };

  for (let i = 1; i <= n; i++) {
    const cert = certs[i - 1]!;
    const policies = cert.policies;
    // §6.1.3 (d): extend the tree by one level.
    if (policies && levels) {
      const prev = levels[i - 1]!;
      const next: Node[] = [];
      let anyQualifiers: readonly PolicyQualifier[] | undefined;
      const asserted = new Set<string>();
      // Index the previous level by expected policy, so that (d)(1) costs what it creates rather
      // than |policies| x |nodes| comparisons. Every entry indexed is charged.
      const expecting = new Map<string, Node[]>();
      let anyNode: Node | undefined;
      for (const node of prev) {
        if (node.policy === ANY_POLICY) anyNode ??= node;
        charge(counter, node.expected.size);
        for (const e of node.expected) {
          const list = expecting.get(e);
          if (list) list.push(node);
          else expecting.set(e, [node]);
        }
      }
      for (const p of policies) {
        if (p.oid === ANY_POLICY) {
          anyQualifiers = p.qualifiers;
          continue;
        }
        asserted.add(p.oid);
        const parents = expecting.get(p.oid);
        const only = new Set([p.oid]);
        // (d)(1)(i): a child under every node expecting P; (d)(1)(ii): otherwise under anyPolicy.
        if (parents) for (const node of parents) addChild(next, node, p.oid, p.qualifiers, only);
        else if (anyNode) addChild(next, anyNode, p.oid, p.qualifiers, only);
      }
      // (d)(2): anyPolicy asserted and not inhibited (self-issued intermediates are exempt).
      if (anyQualifiers && (inhibitAny > 0 || (i < n && cert.selfIssued))) {
        for (const node of prev) {
          charge(counter, node.expected.size);
          for (const e of node.expected) {
            // "not appearing in a child node": children only exist for asserted policies
            // matched through this node's expected set, so `asserted` decides it.
            if (asserted.has(e)) continue;
            addChild(next, node, e, anyQualifiers, new Set([e]));
          }
        }
      }
      levels.push(next);
      // (d)(3)
      prune(i);
    } else if (!policies) {
      // (e)
      levels = null;
    }
    // (f)
    if (explicitPolicy <= 0 && levels === null)
      return {
        policies: [],
        invalidMappings,
        failure: {
          index: i,
          code: "NO_VALID_POLICY",
          message: "an explicit policy is required but the valid policy tree is empty (RFC 5280 §6.1.3 (f))",
        },
      };
    if (i === n) break;

    // §6.1.4: prepare for certificate i+1.
    const mappings = cert.policyMappings;
    if (mappings) {
      // (a) anyPolicy may not be mapped to or from.
      if (mappings.some((m) => m.issuer === ANY_POLICY || m.subject === ANY_POLICY)) invalidMappings.push(i);
      else if (levels) {
        const level = levels[i]!;
        const mapped = new Map<string, Set<string>>();
        for (const m of mappings) {
          let set = mapped.get(m.issuer);
          if (!set) mapped.set(m.issuer, (set = new Set()));
          set.add(m.subject);
        }
        charge(counter, mappings.length);
        if (policyMapping > 0) {
          // (b)(1)
          const anyNode = level.find((node) => node.policy === ANY_POLICY);
          const byPolicy = new Map<string, Node[]>();
          for (const node of level) {
            const list = byPolicy.get(node.policy);
            if (list) list.push(node);
            else byPolicy.set(node.policy, [node]);
          }
          for (const [issuerPolicy, subjects] of mapped) {
            const nodes = byPolicy.get(issuerPolicy);
            // Expected sets are never mutated, only replaced, so nodes may share `subjects`.
            if (nodes) for (const node of nodes) node.expected = subjects;
            else if (anyNode?.parent)
              addChild(level, anyNode.parent, issuerPolicy, anyNode.qualifiers, subjects);
          }
        } else {
          // (b)(2)
          const keep: Node[] = [];
          for (const node of level) {
            if (mapped.has(node.policy)) node.parent!.children--;
            else keep.push(node);
          }
          levels[i] = keep;
          prune(i);
        }
      }
    }
    if (!cert.selfIssued) {
      // (h)
      if (explicitPolicy > 0) explicitPolicy--;
      if (policyMapping > 0) policyMapping--;
      if (inhibitAny > 0) inhibitAny--;
    }
    // (i)
    const pc = cert.policyConstraints;
    if (pc?.requireExplicitPolicy !== undefined && pc.requireExplicitPolicy < explicitPolicy)
      explicitPolicy = pc.requireExplicitPolicy;
    if (pc?.inhibitPolicyMapping !== undefined && pc.inhibitPolicyMapping < policyMapping)
      policyMapping = pc.inhibitPolicyMapping;
    // (j)
    if (cert.inhibitAnyPolicy !== undefined && cert.inhibitAnyPolicy < inhibitAny)
      inhibitAny = cert.inhibitAnyPolicy;
  }

  // §6.1.5 (a), (b)
  if (explicitPolicy > 0) explicitPolicy--;
  if (n > 0 && certs[n - 1]!.policyConstraints?.requireExplicitPolicy === 0) explicitPolicy = 0;

  // (g) intersection with the user-initial-policy-set.
  if (levels && !userAny) {
    if (n === 0) {
      // A path of length 0 (pinned peer): the tree is the anyPolicy root, valid for the user set.
      const out = userSet.map((oid) => ({ oid, qualifiers: [] }));
      return { policies: out, invalidMappings };
    }
    const user = new Set(userSet);
    // (g)(iii)(1)-(2): nodes whose parent is anyPolicy and whose policy is not acceptable die,
    // with their subtrees.
    const dead = new Set<Node>();
    for (let d = 1; d <= n; d++) {
      for (const node of levels[d]!) {
        if (node.parent && dead.has(node.parent)) dead.add(node);
        else if (node.parent?.policy === ANY_POLICY && node.policy !== ANY_POLICY && !user.has(node.policy))
          dead.add(node);
      }
    }
    for (let d = 1; d <= n; d++) {
      const keep: Node[] = [];
      for (const node of levels[d]!) {
        if (!dead.has(node)) keep.push(node);
        else if (node.parent && !dead.has(node.parent)) node.parent.children--;
      }
      levels[d] = keep;
    }
    // (g)(iii)(3): replace a depth-n anyPolicy node by the user policies not yet present.
    const leafLevel = levels[n]!;
    const anyLeaf = leafLevel.find((node) => node.policy === ANY_POLICY);
    if (anyLeaf) {
      const inNodeSet = new Set<string>();
      for (let d = 1; d <= n; d++)
        for (const node of levels[d]!) if (node.parent?.policy === ANY_POLICY) inNodeSet.add(node.policy);
      const parent = anyLeaf.parent!;
      for (const oid of user)
        if (!inNodeSet.has(oid)) addChild(leafLevel, parent, oid, anyLeaf.qualifiers, new Set([oid]));
      levels[n] = leafLevel.filter((node) => node !== anyLeaf);
      parent.children--;
    }
    // (g)(iii)(4)
    prune(n);
  }

  const out: PathPolicy[] = [];
  if (levels) {
    const byOid = new Map<string, PolicyQualifier[]>();
    for (const node of levels[n]!) {
      let q = byOid.get(node.policy);
      if (!q) byOid.set(node.policy, (q = []));
      for (const x of node.qualifiers) if (!q.includes(x)) q.push(x);
    }
    for (const [oid, qualifiers] of byOid) out.push({ oid, qualifiers });
  }
  // §6.1.5: succeed if explicit_policy > 0 or the tree is not NULL.
  if (explicitPolicy <= 0 && out.length === 0)
    return {
      policies: [],
      invalidMappings,
      failure: {
        index: n,
        code: "NO_VALID_POLICY",
        message:
          "an explicit policy is required but no policy of the user-initial-policy-set is valid for the path (RFC 5280 §6.1.5)",
      },
    };
  return { policies: out, invalidMappings };
}
