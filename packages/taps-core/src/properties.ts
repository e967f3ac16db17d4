/**
 * The single property registry: one row per property with its -06 name (canonical), its
 * RFC 9622 name (accepted as an alias), kind, type and -06 default. `TransportProperties`
 * holds Selection properties, Connection properties and Message-property defaults (-06 §4.2).
 */
import { PropertyError } from "./errors.js";

export type Preference = "require" | "prefer" | "ignore" | "avoid" | "prohibit";
/** Accepted on input: the five levels, RFC 9622 `noPreference` (= ignore) and the `default` reset. */
export type PreferenceInput = Preference | "noPreference" | "default";

export type PropertyKind = "selection" | "connection" | "message" | "readonly";
export type PropertyType =
  | "preference"
  | "boolean"
  | "integer"
  | "numeric"
  | "enumeration"
  | "set"
  | "string";

export interface PropertyRow {
  readonly name: string;
  readonly rfcName: string | undefined;
  readonly kind: PropertyKind;
  readonly type: PropertyType;
  readonly default06: unknown;
  readonly values?: readonly string[];
  readonly section: string;
}

const CAPACITY_PROFILES = [
  "Default",
  "Scavenger",
  "Low Latency/Interactive",
  "Low Latency/Non-Interactive",
  "Constant-Rate Streaming",
  "High Throughput Data",
] as const;

function row(
  name: string,
  rfcName: string | undefined,
  kind: PropertyKind,
  type: PropertyType,
  default06: unknown,
  section: string,
  values?: readonly string[],
): PropertyRow {
  return values
    ? { name, rfcName, kind, type, default06, section, values }
    : { name, rfcName, kind, type, default06, section };
}

/** Every property of -06 plus the RFC 9622 additions this package honours. */
export const PROPERTY_REGISTRY: readonly PropertyRow[] = [
  row("reliability", "reliability", "selection", "preference", "require", "5.2.1"),
  row("preserve-msg-boundaries", "preserveMsgBoundaries", "selection", "preference", "prefer", "5.2.2"),
  row("per-msg-reliability", "perMsgReliability", "selection", "preference", "ignore", "5.2.3"),
  row("preserve-order", "preserveOrder", "selection", "preference", "require", "5.2.4"),
  row("zero-rtt-msg", "zeroRttMsg", "selection", "preference", "ignore", "5.2.5"),
  row("multistreaming", "multistreaming", "selection", "preference", "prefer", "5.2.6"),
  row("per-msg-checksum-len-send", "fullChecksumSend", "selection", "preference", "require", "5.2.7"),
  row("per-msg-checksum-len-recv", "fullChecksumRecv", "selection", "preference", "require", "5.2.8"),
  row("congestion-control", "congestionControl", "selection", "preference", "require", "5.2.9"),
  row("interface", "interface", "selection", "set", [], "5.2.10"),
  row("pvd", "pvd", "selection", "set", [], "5.2.11"),
  row(
    "use-temporary-local-address",
    "useTemporaryLocalAddress",
    "selection",
    "preference",
    "prefer",
    "5.2.12",
  ),
  row("multipath", "multipath", "selection", "enumeration", "Disabled", "5.2.13", [
    "Disabled",
    "Handover",
    "Interactive",
    "Aggregate",
  ]),
  row("direction", "direction", "selection", "enumeration", "Bidirectional", "5.2.14", [
    "Bidirectional",
    "Unidirectional send",
    "Unidirectional receive",
  ]),
  row("retransmit-notify", undefined, "selection", "preference", "ignore", "5.2.15"),
  row("soft-error-notify", "softErrorNotify", "selection", "preference", "ignore", "5.2.16"),
  row("keep-alive", "keepAlive", "selection", "preference", "ignore", "RFC 9622 6.2.10"),
  // Connection properties (-06 §10.1, §10.2)
  row("retransmit-notify-threshold", undefined, "connection", "integer", -1, "10.1.1"),
  row("recv-checksum-len", "recvChecksumLen", "connection", "integer", -1, "10.1.2"),
  row("conn-prio", "connPriority", "connection", "integer", 100, "10.1.3"),
  row("conn-timeout", "connTimeout", "connection", "numeric", -1, "10.1.4"),
  row("keep-alive-timeout", "keepAliveTimeout", "connection", "numeric", -1, "RFC 9622 8.1.4"),
  row("conn-scheduler", "connScheduler", "connection", "enumeration", "Weighted Fair Queueing", "10.1.5", [
    "First-Come, First-Served",
    "Round-Robin",
    "Round-Robin per Packet",
    "Priority-Based",
    "Fair Bandwidth",
    "Weighted Fair Queueing",
  ]),
  row(
    "conn-capacity-profile",
    "connCapacityProfile",
    "connection",
    "enumeration",
    "Default",
    "10.1.6",
    CAPACITY_PROFILES,
  ),
  row("max-send-rate", "maxSendRate", "connection", "numeric", -1, "10.1.7"),
  row("max-recv-rate", "maxRecvRate", "connection", "numeric", -1, "10.1.7"),
  row("min-send-rate", "minSendRate", "connection", "numeric", -1, "RFC 9622 8.1.7"),
  row("min-recv-rate", "minRecvRate", "connection", "numeric", -1, "RFC 9622 8.1.7"),
  row("tcp.user-timeout-value", "tcp.userTimeoutValue", "connection", "integer", -1, "10.2.1"),
  row("tcp.user-timeout", "tcp.userTimeoutEnabled", "connection", "boolean", false, "10.2.2"),
  row("tcp.user-timeout-recv", "tcp.userTimeoutChangeable", "connection", "boolean", true, "10.2.3"),
  // Read-only connection properties (-06 §10.1.8 and the state of §10)
  row("zero-rtt-msg-max-len", undefined, "readonly", "integer", 0, "10.1.8.1"),
  row(
    "singular-transmission-msg-max-len",
    "singularTransmissionMsgMaxLen",
    "readonly",
    "integer",
    -1,
    "10.1.8.2",
  ),
  row("send-msg-max-len", "sendMsgMaxLen", "readonly", "integer", -1, "10.1.8.3"),
  row("recv-msg-max-len", "recvMsgMaxLen", "readonly", "integer", -1, "10.1.8.4"),
  row("state", "connState", "readonly", "enumeration", "Establishing", "10", [
    "Establishing",
    "Established",
    "Closing",
    "Closed",
  ]),
  row("can-send", "canSend", "readonly", "boolean", true, "10"),
  row("can-receive", "canReceive", "readonly", "boolean", true, "10"),
  // Message properties (-06 §7.5); TransportProperties may hold their defaults.
  row("msg-lifetime", "msgLifetime", "message", "numeric", Number.POSITIVE_INFINITY, "7.5.1"),
  row("msg-prio", "msgPriority", "message", "integer", 100, "7.5.2"),
  row("msg-ordered", "msgOrdered", "message", "boolean", true, "7.5.3"),
  row("idempotent", "safelyReplayable", "message", "boolean", false, "7.5.4"),
  row("final", "final", "message", "boolean", false, "7.5.5"),
  row("msg-checksum-len", "msgChecksumLen", "message", "integer", -1, "7.5.6"),
  row("msg-reliable", "msgReliable", "message", "boolean", true, "7.5.7"),
  row(
    "msg-capacity-profile",
    "msgCapacityProfile",
    "message",
    "enumeration",
    "Default",
    "7.5.8",
    CAPACITY_PROFILES,
  ),
  row("singular-transmission", "noFragmentation", "message", "boolean", false, "7.5.9"),
];

const BY_NAME = new Map<string, PropertyRow>();
for (const r of PROPERTY_REGISTRY) {
  BY_NAME.set(r.name, r);
  if (r.rfcName) BY_NAME.set(r.rfcName.toLowerCase(), r);
}
BY_NAME.set("nosegmentation", BY_NAME.get("singular-transmission")!);

/** Vendor namespace of this implementation (RFC 9622 §4.1: vendor namespaces start with `_`). */
export const VENDOR_PREFIX = "_x.";

/** Resolves a -06 or RFC 9622 property name (case-insensitive) to its registry row. */
export function lookupProperty(name: string): PropertyRow | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Canonical (-06) name of a property; throws a PropertyError for an unknown name. */
export function canonicalName(name: string): string {
  if (name.startsWith(VENDOR_PREFIX)) return name;
  const found = lookupProperty(name);
  if (!found) throw new PropertyError(`unknown transport property "${name}"`, { property: name });
  return found.name;
}

const PREFERENCES: readonly string[] = ["require", "prefer", "ignore", "avoid", "prohibit"];

export function normalisePreference(value: string): Preference | "default" {
  const v = value.toLowerCase();
  if (v === "nopreference" || v === "no preference") return "ignore";
  if (v === "default") return "default";
  if (PREFERENCES.includes(v)) return v as Preference;
  throw new PropertyError(`"${value}" is not a preference level`);
}

function checkValue(r: PropertyRow, value: unknown): unknown {
  switch (r.type) {
    case "preference":
      if (typeof value === "boolean") return value ? "require" : "prohibit";
      if (typeof value !== "string")
        throw new PropertyError(`${r.name} takes a preference`, { property: r.name });
      return normalisePreference(value);
    case "boolean":
      if (typeof value !== "boolean")
        throw new PropertyError(`${r.name} takes a boolean`, { property: r.name });
      return value;
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value))
        throw new PropertyError(`${r.name} takes an integer`, { property: r.name });
      return value;
    case "numeric":
      if (typeof value !== "number" || Number.isNaN(value))
        throw new PropertyError(`${r.name} takes a number`, { property: r.name });
      return value;
    case "enumeration": {
      const match = r.values?.find((v) => v.toLowerCase() === String(value).toLowerCase());
      if (!match)
        throw new PropertyError(`${r.name} takes one of ${r.values?.join(", ")}; got "${String(value)}"`, {
          property: r.name,
        });
      return match;
    }
    case "set":
      if (!Array.isArray(value)) throw new PropertyError(`${r.name} takes an array of [value, preference]`);
      return value.map((entry: unknown) => {
        if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "string")
          throw new PropertyError(`${r.name} entries are [identifier, preference] pairs`, {
            property: r.name,
          });
        return [entry[0], normalisePreference(entry[1])];
      });
    default:
      return value;
  }
}

/** Pre-configured property sets of -06 Appendix A.2. */
export type ProfileName = "reliable-inorder-stream" | "reliable-message" | "unreliable-datagram";

/**
 * Selection properties, Connection properties and Message-property defaults (-06 §5.2).
 * Only explicitly set values are stored; {@link get} falls back to the -06 default.
 */
export class TransportProperties {
  readonly #values = new Map<string, unknown>();

  /** -06 App. A.2 profiles. */
  static profile(name: ProfileName): TransportProperties {
    const tp = new TransportProperties();
    switch (name) {
      case "reliable-inorder-stream":
        return tp
          .require("reliability")
          .require("preserve-order")
          .require("congestion-control")
          .ignore("preserve-msg-boundaries");
      case "reliable-message":
        return tp
          .require("reliability")
          .require("preserve-order")
          .require("congestion-control")
          .require("preserve-msg-boundaries");
      case "unreliable-datagram":
        return tp
          .ignore("reliability")
          .ignore("preserve-order")
          .ignore("congestion-control")
          .require("preserve-msg-boundaries")
          .add("idempotent", true);
      default:
        throw new PropertyError(`unknown profile "${String(name)}"`);
    }
  }

  /** The entire set of values of an enumerated property (-06 §4.2.2 MUST). */
  static values(property: string): readonly string[] {
    const r = lookupProperty(property);
    if (!r) throw new PropertyError(`unknown transport property "${property}"`, { property });
    if (r.type === "preference") return PREFERENCES;
    if (r.type === "boolean") return ["true", "false"];
    return r.values ?? [];
  }

  add(property: string, value: unknown): this {
    const name = canonicalName(property);
    if (name.startsWith(VENDOR_PREFIX)) {
      this.#values.set(name, value);
      return this;
    }
    const r = lookupProperty(name)!;
    if (r.kind === "readonly") throw new PropertyError(`${r.name} is read-only`, { property: r.name });
    const checked = checkValue(r, value);
    if (checked === "default") this.#values.delete(r.name);
    else this.#values.set(r.name, checked);
    return this;
  }

  require(property: string): this {
    return this.add(property, "require");
  }
  prefer(property: string): this {
    return this.add(property, "prefer");
  }
  ignore(property: string): this {
    return this.add(property, "ignore");
  }
  avoid(property: string): this {
    return this.add(property, "avoid");
  }
  prohibit(property: string): this {
    return this.add(property, "prohibit");
  }
  /** Resets to the implementation default (-06 pseudo-level Default). */
  default(property: string): this {
    this.#values.delete(canonicalName(property));
    return this;
  }

  /** Effective value: the set one or the -06 default. */
  get(property: string): unknown {
    const name = canonicalName(property);
    if (this.#values.has(name)) return this.#values.get(name);
    return lookupProperty(name)?.default06;
  }

  has(property: string): boolean {
    return this.#values.has(canonicalName(property));
  }

  /** Explicitly set entries (canonical names). */
  entries(): [string, unknown][] {
    return [...this.#values.entries()];
  }

  clone(): TransportProperties {
    const copy = new TransportProperties();
    for (const [k, v] of this.#values) copy.#values.set(k, Array.isArray(v) ? [...v] : v);
    return copy;
  }
}
