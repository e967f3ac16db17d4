/**
 * The C2SP/x509-limbo harness protocol: map one test case onto {@link validatePath}. Format-tolerant:
 * unknown fields and feature names are ignored so newer suite files can be dropped in.
 */
import type { KeyUsageName } from "./validate.js";
import { validatePath } from "./validate.js";

export interface LimboPeerName {
  readonly kind: "DNS" | "IP" | "RFC822" | (string & {});
  readonly value: string;
}

export interface LimboTestcase {
  readonly id: string;
  readonly features?: readonly string[] | null;
  readonly description?: string;
  readonly validation_kind: "SERVER" | "CLIENT" | (string & {});
  readonly trusted_certs: readonly string[];
  readonly untrusted_intermediates: readonly string[];
  readonly peer_certificate: string;
  readonly validation_time?: string | null;
  readonly signature_algorithms?: readonly string[] | null;
  readonly key_usage?: readonly string[] | null;
  readonly extended_key_usage?: readonly string[] | null;
  readonly expected_result: "SUCCESS" | "FAILURE";
  readonly expected_peer_name?: LimboPeerName | null;
  readonly expected_peer_names?: readonly LimboPeerName[] | null;
  readonly max_chain_depth?: number | null;
  readonly crls?: readonly string[] | null;
}

export interface LimboSuite {
  readonly version: number;
  readonly testcases: readonly LimboTestcase[];
}

export interface LimboCaseResult {
  readonly id: string;
  readonly actual_result: "SUCCESS" | "FAILURE" | "SKIPPED";
  readonly context: string | null;
}

export interface LimboResult {
  readonly version: 1;
  readonly harness: string;
  readonly results: readonly LimboCaseResult[];
}

const EKUS: Record<string, string> = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  OCSPSigning: "1.3.6.1.5.5.7.3.9",
};
const KEY_USAGES = new Set<string>([
  "digitalSignature",
  "nonRepudiation",
  "contentCommitment",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
]);

/** Features this validator deliberately does not implement; cases requiring them are SKIPPED. */
export const UNSUPPORTED_FEATURES: Readonly<Record<string, string>> = {
  // None: certificate policies (has-cert-policies, has-policy-constraints) are processed since
  // RFC 5280 §6.1 policy processing landed. Kept as the place to record a future gap.
};

/** Runs one case. `now` is used when the case has no validation_time. */
export function runLimboCase(tc: LimboTestcase, now: Date = new Date()): LimboCaseResult {
  const skip = (context: string): LimboCaseResult => ({ id: tc.id, actual_result: "SKIPPED", context });
  for (const f of tc.features ?? []) {
    const why = UNSUPPORTED_FEATURES[f];
    if (why) return skip(`feature ${f}: ${why}`);
  }
  if (tc.signature_algorithms?.length) return skip("signature_algorithms constraints are not supported");
  for (const ku of tc.key_usage ?? []) if (!KEY_USAGES.has(ku)) return skip(`unknown key usage ${ku}`);
  const ekus = tc.extended_key_usage ?? [];
  for (const e of ekus) if (!EKUS[e]) return skip(`unsupported extended key usage ${e}`);
  if (tc.validation_kind !== "SERVER" && tc.validation_kind !== "CLIENT")
    return skip(`unknown validation kind ${tc.validation_kind}`);
  const names: LimboPeerName[] = [];
  if (tc.validation_kind === "SERVER" && tc.expected_peer_name) names.push(tc.expected_peer_name);
  if (tc.validation_kind === "CLIENT") names.push(...(tc.expected_peer_names ?? []));
  for (const n of names)
    if (!["DNS", "IP", "RFC822"].includes(n.kind)) return skip(`peer name kind ${n.kind}`);
  const purposes = ekus.length
    ? ekus.map((e) => EKUS[e]!)
    : [tc.validation_kind === "SERVER" ? EKUS.serverAuth! : EKUS.clientAuth!];
  const time = tc.validation_time ? new Date(tc.validation_time) : now;
  const keyUsage = (tc.key_usage ?? []).map((k) =>
    k === "contentCommitment" ? "nonRepudiation" : k,
  ) as KeyUsageName[];
  try {
    const failures: string[] = [];
    // Each requested EKU and each expected name must hold; validate once per (purpose, name).
    const nameList: (LimboPeerName | undefined)[] = names.length ? names : [undefined];
    for (const purpose of purposes)
      for (const n of nameList) {
        const r = validatePath([tc.peer_certificate], {
          anchors: tc.trusted_certs,
          intermediates: [...tc.untrusted_intermediates],
          time,
          purpose,
          keyUsage,
          maxDepth: tc.max_chain_depth ?? undefined,
          crls: tc.crls?.length ? tc.crls.join("\n") : undefined,
          requireRevocation: false,
          host: n?.kind === "DNS" ? n.value : undefined,
          ip: n?.kind === "IP" ? n.value : undefined,
          email: n?.kind === "RFC822" ? n.value : undefined,
        });
        if (!r.ok)
          failures.push(
            ...r.errors.map((e) => `${e.code}${e.depth !== undefined ? `@${e.depth}` : ""}: ${e.message}`),
          );
        if (failures.length) break;
      }
    if (failures.length) return { id: tc.id, actual_result: "FAILURE", context: failures.join("; ") };
    return { id: tc.id, actual_result: "SUCCESS", context: null };
  } catch (err) {
    return {
      id: tc.id,
      actual_result: "FAILURE",
      context: `${(err as Error).name}: ${(err as Error).message}`,
    };
  }
}

export function runLimboSuite(
  suite: LimboSuite,
  harness = "x-cert-validate",
  now: Date = new Date(),
): LimboResult {
  return { version: 1, harness, results: suite.testcases.map((tc) => runLimboCase(tc, now)) };
}
