/**
 * `cert-validate` CLI: `check` (USP figure or STTP policy), `eid`, `limbo` (x509-limbo harness).
 * Data to stdout, diagnostics to stderr; exit 0 accepted, 1 rejected, 2 usage or input error.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { TrustAnchor } from "./anchors.js";
import { endpointIdsFromCert, type UspVersionMode } from "./eid.js";
import { CertValidationError } from "./errors.js";
import { type LimboSuite, runLimboSuite } from "./limbo.js";
import { formatName } from "./name.js";
import { evaluateSttpCertificate } from "./sttp.js";
import type { Finding, TraceStep } from "./types.js";
import { evaluateUspCertificate } from "./usp.js";
import { parseCertificateInput, type TimeInput } from "./validate.js";

class UsageError extends Error {}

const HELP = `Usage: cert-validate <command> [options]

Commands:
  check <chain.pem>   Validate a peer chain (peer first) and print the verdict and trace.
  eid <cert.pem>      List the USP Endpoint IDs in a certificate's subjectAltName.
  limbo               Read an x509-limbo suite on stdin, write a LimboResult on stdout.

check options:
  --ca <file>                 trust anchor certificate(s) (PEM; repeatable)
  --ca-fingerprint <alg:hex>  trust anchor by fingerprint, e.g. sha256:AB:CD:... (repeatable)
  --intermediate <file>       extra untrusted intermediates (repeatable)
  --host <name> | --ip <addr> | --url <url>   expected peer identity
  --endpoint-id <eid>         expected Controller Endpoint ID (USP)
  --usp-role agent|controller run the TR-369 figure (implied by --endpoint-id, --url, --initiated)
  --initiated                 we initiated the MTP connection (USP figure step 3 applies)
  --stored <file>             stored Controller certificate (USP step 4; repeatable)
  --broker <file>             Trusted Broker certificate or broker CA (USP; repeatable)
  --tofu allow|deny           trust on first use (USP; default deny)
  --tofu-timer <seconds>      TOFU inactivity timer (USP)
  --allow <list>              STTP tolerances: name-mismatch,ip-mismatch,untrusted-issuer,
                              expired,revocation-unknown,cn-fallback
  --crl <file>                CRL(s) (PEM; repeatable)
  --purpose serverAuth|clientAuth
  --policy <oid>              acceptable certificate policy (RFC 5280 user-initial-policy-set;
                              repeatable; default any policy)
  --require-explicit-policy   the path must be valid for one of the --policy OIDs
  --inhibit-policy-mapping    do not honour policyMappings
  --inhibit-any-policy        anyPolicy in a certificate matches nothing
  --profile rfc5280|lenient
  --at <ISO-8601>             validation time (default: now)
  --no-time                   no accurate time (R-MTP.2): skip validity checks
  --json                      print the verdict as JSON
eid options:   --usp-version 1.2|1.3+|any, --json
limbo options: --harness <id>
Global: --help, --version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (cause) {
    throw new UsageError(`cannot read ${file}: ${(cause as Error).message}`);
  }
}

function formatFinding(f: Finding): string {
  return `${f.code}${f.depth !== undefined ? ` (depth ${f.depth})` : ""}: ${f.message}`;
}

function formatStep(s: TraceStep): string {
  return `  [${s.level.padEnd(4)}] ${s.step.padEnd(22)} ${s.branch.padEnd(14)} ${s.reason}`;
}

const ALLOW: Record<string, string> = {
  "name-mismatch": "allowNameMismatch",
  "ip-mismatch": "allowIpMismatch",
  "untrusted-issuer": "allowUntrustedIssuer",
  expired: "allowExpired",
  "revocation-unknown": "allowRevocationUnknown",
  "cn-fallback": "allowCommonNameFallback",
};

function check(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ca: { type: "string", multiple: true },
      "ca-fingerprint": { type: "string", multiple: true },
      intermediate: { type: "string", multiple: true },
      host: { type: "string" },
      ip: { type: "string" },
      url: { type: "string" },
      "endpoint-id": { type: "string" },
      "usp-role": { type: "string" },
      initiated: { type: "boolean" },
      stored: { type: "string", multiple: true },
      broker: { type: "string", multiple: true },
      tofu: { type: "string" },
      "tofu-timer": { type: "string" },
      allow: { type: "string", multiple: true },
      crl: { type: "string", multiple: true },
      purpose: { type: "string" },
      policy: { type: "string", multiple: true },
      "require-explicit-policy": { type: "boolean" },
      "inhibit-policy-mapping": { type: "boolean" },
      "inhibit-any-policy": { type: "boolean" },
      profile: { type: "string" },
      at: { type: "string" },
      "no-time": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("check needs exactly one <chain.pem>");
  const chain = readText(positionals[0]!);
  const anchors: TrustAnchor[] = [
    ...(values.ca ?? []).map(readText),
    ...(values["ca-fingerprint"] ?? []).map((fingerprint) => ({ fingerprint })),
  ];
  if (values.at && values["no-time"]) throw new UsageError("--at and --no-time exclude each other");
  let time: TimeInput = new Date();
  if (values["no-time"]) time = "none";
  else if (values.at) {
    time = new Date(values.at);
    if (Number.isNaN(time.getTime())) throw new UsageError(`--at: not a date: ${values.at}`);
  }
  if (values.purpose && values.purpose !== "serverAuth" && values.purpose !== "clientAuth")
    throw new UsageError("--purpose must be serverAuth or clientAuth");
  if (values.profile && values.profile !== "rfc5280" && values.profile !== "lenient")
    throw new UsageError("--profile must be rfc5280 or lenient");
  const crls = values.crl?.map(readText).join("\n");
  const profile = values.profile as "rfc5280" | "lenient" | undefined;
  const purpose = values.purpose as "serverAuth" | "clientAuth" | undefined;
  for (const p of values.policy ?? [])
    if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(p)) throw new UsageError(`--policy: not an OID: ${p}`);
  const certificatePolicy = {
    initialPolicies: values.policy,
    requireExplicitPolicy: values["require-explicit-policy"],
    inhibitPolicyMapping: values["inhibit-policy-mapping"],
    inhibitAnyPolicy: values["inhibit-any-policy"],
  };
  const useUsp =
    values["usp-role"] !== undefined ||
    values["endpoint-id"] !== undefined ||
    values.url !== undefined ||
    values.initiated;
  if (useUsp) {
    const role = values["usp-role"] ?? "agent";
    if (role !== "agent" && role !== "controller")
      throw new UsageError("--usp-role must be agent or controller");
    if (values.tofu && values.tofu !== "allow" && values.tofu !== "deny")
      throw new UsageError("--tofu must be allow or deny");
    const d = evaluateUspCertificate(chain, {
      role,
      initiatedBySelf:
        values.initiated === true ||
        values.url !== undefined ||
        values.host !== undefined ||
        values.ip !== undefined,
      target: { url: values.url, host: values.host ?? values.ip, endpointId: values["endpoint-id"] },
      time,
      anchors,
      brokers: values.broker?.map(readText),
      storedCertificates: values.stored?.map(readText),
      tofu: values.tofu
        ? { allowed: values.tofu === "allow", inactivityTimerSec: Number(values["tofu-timer"] ?? 0) }
        : undefined,
      crls,
      purpose,
      profile,
      ...certificatePolicy,
    });
    if (values.json) {
      const { path, peer, ...rest } = d;
      process.stdout.write(
        `${JSON.stringify({ ...rest, path: path.map((c) => ({ subject: formatName(c.subject), fingerprint256: c.fingerprint256 })) }, null, 2)}\n`,
      );
    } else {
      process.stdout.write(`${d.decision.toUpperCase()}${d.basis ? ` (${d.basis})` : ""}\n`);
      for (const s of d.trace) process.stdout.write(`${formatStep(s)}\n`);
      for (const e of d.errors) process.stdout.write(`error: ${formatFinding(e)}\n`);
      for (const w of d.warnings) process.stdout.write(`warning: ${formatFinding(w)}\n`);
      if (d.endpointIds.length) process.stdout.write(`endpoint IDs: ${d.endpointIds.join(", ")}\n`);
    }
    return d.decision === "establish" ? 0 : 1;
  }
  const tolerances: Record<string, boolean> = {};
  for (const item of (values.allow ?? []).flatMap((a) => a.split(","))) {
    const key = ALLOW[item.trim()];
    if (!key) throw new UsageError(`--allow: unknown tolerance ${item}`);
    tolerances[key] = true;
  }
  const r = evaluateSttpCertificate(chain, {
    anchors,
    intermediates: values.intermediate?.map(readText),
    time,
    host: values.host,
    ip: values.ip,
    purpose,
    crls,
    profile,
    ...certificatePolicy,
    ...tolerances,
  });
  if (values.json) {
    const { path, peer, policies, ...rest } = r;
    // Qualifiers are DER bytes: print them as hex rather than as a JSON object of byte indexes.
    const policyJson = policies?.map((p) => ({
      oid: p.oid,
      qualifiers: p.qualifiers.map((q) => ({ id: q.id, value: Buffer.from(q.value).toString("hex") })),
    }));
    process.stdout.write(
      `${JSON.stringify({ ...rest, policies: policyJson, path: path.map((c) => ({ subject: formatName(c.subject), fingerprint256: c.fingerprint256 })) }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(`${r.ok ? "VALID" : "INVALID"}\n`);
    for (const c of r.path)
      process.stdout.write(`  ${c.fingerprint256.slice(0, 16)}…  ${formatName(c.subject)}\n`);
    for (const e of r.errors) process.stdout.write(`error: ${formatFinding(e)}\n`);
    for (const w of r.warnings) process.stdout.write(`warning: ${formatFinding(w)}\n`);
    if (r.policies?.length) process.stdout.write(`policies: ${r.policies.map((p) => p.oid).join(", ")}\n`);
  }
  return r.ok ? 0 : 1;
}

function eid(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean" }, "usp-version": { type: "string" } },
  });
  if (positionals.length !== 1) throw new UsageError("eid needs exactly one <cert.pem>");
  const mode = (values["usp-version"] ?? "any") as UspVersionMode;
  if (!["1.2", "1.3+", "any"].includes(mode)) throw new UsageError("--usp-version must be 1.2, 1.3+ or any");
  const cert = parseCertificateInput(
    readText(positionals[0]!).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0] ??
      "",
  );
  const ids = endpointIdsFromCert(cert, { uspVersion: mode });
  if (values.json)
    process.stdout.write(`${JSON.stringify({ subject: formatName(cert.subject), endpointIds: ids })}\n`);
  else for (const id of ids) process.stdout.write(`${id}\n`);
  return ids.length ? 0 : 1;
}

function limbo(args: string[]): number {
  const { values } = parseArgs({ args, options: { harness: { type: "string" } } });
  let suite: LimboSuite;
  try {
    suite = JSON.parse(readFileSync(0, "utf8")) as LimboSuite;
  } catch (cause) {
    throw new UsageError(`stdin is not a limbo JSON suite: ${(cause as Error).message}`);
  }
  if (!Array.isArray(suite?.testcases)) throw new UsageError("stdin: missing testcases[]");
  const result = runLimboSuite(suite, values.harness ?? "x-cert-validate");
  const counts = { SUCCESS: 0, FAILURE: 0, SKIPPED: 0 };
  for (const r of result.results) counts[r.actual_result]++;
  process.stderr.write(`limbo: ${result.results.length} cases: ${JSON.stringify(counts)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

export function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === "--version" || command === "-v") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  try {
    if (command === "check") return check(rest);
    if (command === "eid") return eid(rest);
    if (command === "limbo") return limbo(rest);
    throw new UsageError(`unknown command ${command}`);
  } catch (err) {
    const usage =
      err instanceof UsageError ||
      err instanceof CertValidationError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`cert-validate: ${(err as Error).message}\n`);
    if (usage) return 2;
    throw err;
  }
}

process.exitCode = main(process.argv.slice(2));
