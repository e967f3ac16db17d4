/**
 * Protocol selection (-06 §5.2, RFC 9623 §4.1.3): every stack Node really has gets a capability
 * row; Require/Prohibit filter, Prefer/Avoid rank. Stacks that change the wire protocol (TLS,
 * framing) are candidates only when the application asked for them, and security never falls
 * back to plaintext (RFC 9621 §3.3).
 */
import type { EndpointSnapshot } from "./endpoint.js";
import { InitiateError } from "./errors.js";
import type { Preference, TransportProperties } from "./properties.js";
import type { SecurityParameters } from "./security.js";

export type StackName = "tcp" | "tls" | "udp" | "uds";

/** true: the stack provides it; false: it cannot; "optional": it can do either. */
export type Capability = boolean | "optional";

const PREFERENCE_PROPS = [
  "reliability",
  "preserve-msg-boundaries",
  "per-msg-reliability",
  "preserve-order",
  "zero-rtt-msg",
  "multistreaming",
  "per-msg-checksum-len-send",
  "per-msg-checksum-len-recv",
  "congestion-control",
  "use-temporary-local-address",
  "retransmit-notify",
  "soft-error-notify",
  "keep-alive",
] as const;
type PreferenceProp = (typeof PREFERENCE_PROPS)[number];

type Row = Record<PreferenceProp, Capability>;

const NONE: Row = {
  reliability: false,
  "preserve-msg-boundaries": false,
  "per-msg-reliability": false,
  "preserve-order": false,
  "zero-rtt-msg": false,
  multistreaming: false,
  "per-msg-checksum-len-send": true,
  "per-msg-checksum-len-recv": true,
  "congestion-control": false,
  // Node cannot tell temporary IPv6 addresses apart: never claim either way.
  "use-temporary-local-address": false,
  // No TCP_INFO in Node: retransmissions are invisible.
  "retransmit-notify": false,
  "soft-error-notify": false,
  "keep-alive": false,
};

/** The capability table (the README documents it). `framed` = the Preconnection has a framer. */
export function capabilities(stack: StackName, framed: boolean): Row {
  switch (stack) {
    case "tcp":
    case "tls":
      return {
        ...NONE,
        reliability: true,
        "preserve-order": true,
        "congestion-control": true,
        "preserve-msg-boundaries": framed,
        "keep-alive": true,
      };
    case "uds":
      // Local IPC: reliable, ordered, flow-controlled by the kernel.
      return {
        ...NONE,
        reliability: true,
        "preserve-order": true,
        "congestion-control": true,
        "preserve-msg-boundaries": framed,
      };
    case "udp":
      return { ...NONE, "preserve-msg-boundaries": true, "soft-error-notify": true };
  }
}

export const STACK_LABEL: Record<StackName, string> = { tcp: "tcp", tls: "tls/tcp", udp: "udp", uds: "unix" };

export interface SelectionInput {
  readonly properties: TransportProperties;
  readonly security: SecurityParameters | null;
  readonly framed: boolean;
  readonly remotes: readonly EndpointSnapshot[];
  readonly locals: readonly EndpointSnapshot[];
  readonly passive: boolean;
}

export interface SelectionResult {
  /** Eligible stacks, best first. */
  readonly stacks: readonly StackName[];
  /** Why each excluded stack was excluded (for the racing timeline / CLI). */
  readonly excluded: Readonly<Partial<Record<StackName, string>>>;
}

/** Selects the protocol stacks; throws InitiateError naming the property that no stack meets. */
export function selectStacks(input: SelectionInput): SelectionResult {
  const { properties, security } = input;
  const excluded: Partial<Record<StackName, string>> = {};

  // Properties Node can never honour when required.
  for (const p of ["per-msg-reliability", "zero-rtt-msg", "multistreaming", "retransmit-notify"] as const) {
    if (properties.get(p) === "require")
      throw new InitiateError(`no protocol stack on Node provides "${p}" (Require)`, {
        reason: "selection",
        property: p,
      });
  }
  for (const p of ["pvd", "interface"] as const) {
    const set = properties.get(p) as [string, Preference][];
    for (const [id, pref] of set) {
      if (pref === "require" && p === "pvd")
        throw new InitiateError(`provisioning domains are not visible to Node (Require pvd "${id}")`, {
          reason: "selection",
          property: p,
        });
    }
  }
  if (
    input.locals.some((l) => l.stunServers.length > 0) ||
    input.remotes.some((r) => r.stunServers.length > 0)
  )
    throw new InitiateError("STUN is not supported by this implementation", {
      reason: "selection",
      property: "stun",
    });

  const endpoints = [...input.remotes, ...input.locals];
  const wantsPath = endpoints.some((e) => e.path !== undefined);
  const multicast = endpoints.some((e) => [...e.ipv4, ...e.ipv6].some(isMulticastAddress));

  let pool: StackName[];
  if (wantsPath) pool = ["uds"];
  else if (security) pool = ["tls", "udp"];
  else pool = ["tcp", "udp"];

  const framed = input.framed;
  const scored: { stack: StackName; score: number; order: number }[] = [];
  let firstFailure: { property: string; message: string } | undefined;

  let securityBlocked: string | undefined;
  pool.forEach((stack, order) => {
    if (security && stack === "uds") {
      excluded.uds = "TLS over Unix domain sockets is not offered";
      firstFailure ??= { property: "security", message: "TLS over Unix domain sockets is not offered" };
      return;
    }
    if (multicast && stack !== "udp") {
      excluded[stack] = "multicast endpoints need UDP";
      return;
    }
    const row = capabilities(stack, framed);
    let score = 0;
    for (const p of PREFERENCE_PROPS) {
      const pref = properties.get(p) as Preference;
      const cap = row[p];
      if (pref === "require" && cap === false) {
        excluded[stack] = `does not provide ${p}`;
        firstFailure ??= { property: p, message: `no protocol stack provides "${p}" (Require)` };
        return;
      }
      if (pref === "prohibit" && cap === true) {
        excluded[stack] = `always provides ${p}`;
        firstFailure ??= { property: p, message: `every protocol stack provides "${p}" (Prohibit)` };
        return;
      }
      if (pref === "prefer" && cap !== false) score += 1;
      if (pref === "avoid" && cap === true) score -= 1;
    }
    if (security && stack === "udp") {
      // UDP meets the properties, but Node has no DTLS: never fall back to plaintext (RFC 9621 §3.3).
      excluded.udp = "security parameters given and Node has no DTLS";
      securityBlocked =
        "security was requested, and the only stack meeting the properties (UDP) has no DTLS on Node";
      return;
    }
    if (stack === "udp" && properties.get("idempotent") !== true) {
      excluded.udp = 'UDP needs Messages marked "idempotent" in the TransportProperties (-06 §7.5.4)';
      firstFailure ??= { property: "idempotent", message: excluded.udp };
      return;
    }
    scored.push({ stack, score, order });
  });

  if (scored.length === 0) {
    if (securityBlocked)
      throw new InitiateError(securityBlocked, { reason: "selection", property: "security" });
    const f = firstFailure ?? { property: "selection", message: "no protocol stack is eligible" };
    throw new InitiateError(f.message, { reason: "selection", property: f.property });
  }
  scored.sort((a, b) => b.score - a.score || a.order - b.order);
  return { stacks: scored.map((s) => s.stack), excluded };
}

export function isMulticastAddress(address: string): boolean {
  if (address.includes(":")) return address.toLowerCase().startsWith("ff");
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
}

/** After establishment a selection property reads require/avoid/ignore for the chosen stack (-06 §5.2). */
export function effectiveSelection(
  stack: StackName,
  framed: boolean,
  properties: TransportProperties,
): Record<string, string> {
  const row = capabilities(stack, framed);
  const out: Record<string, string> = {};
  for (const p of PREFERENCE_PROPS) {
    const asked = properties.get(p) as Preference;
    if (row[p] === true) out[p] = "require";
    else if (asked === "avoid" || asked === "prohibit") out[p] = "avoid";
    else out[p] = row[p] === "optional" ? "ignore" : "ignore";
  }
  return out;
}
