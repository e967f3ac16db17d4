/**
 * The main job: the @x packages working together on loopback, on embedded defaults (in-memory PKI,
 * the embedded MQTT broker, servers on ephemeral ports). Prints one line per step, or one JSON
 * document with --json. Exit 0 when every step worked, 1 otherwise, 2 on a usage error.
 */
import { parseArgs } from "node:util";
import { createPki } from "@x/test-certs";
import { bigintReplacer, Report } from "./report.js";
import { twoFacilityFlow } from "./scistream.js";
import { sttpOverTls } from "./sttp.js";
import { racingAndFraming } from "./taps.js";
import { certificateDecision, decodeSamples, mqttOnEmbeddedBroker, webSocketWithSession } from "./usp.js";

const HELP = `Usage: run-demo [--json] [--only <section>[,<section>...]]

The @x packages working together on loopback:
  usp        usp-record samples, cert-validate TR-369 decisions, mtp-websocket (wss, mTLS)
             with an E2E Session Context, mtp-mqtt on the embedded broker
  taps       taps-core racing and framing
  sttp       sttp-connect publisher and subscriber over TLS
  scistream  a two-facility SciStream flow over TLS-PSK

Options:
  --json     one JSON document on stdout instead of the step lines
  --only     run only the named sections
  --help     this text
`;

type Section = { name: string; run: (report: Report) => Promise<void> };

async function main(): Promise<number> {
  let values: { json?: boolean; only?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { json: { type: "boolean" }, only: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const report = new Report(values.json === true);
  const pki = await createPki();
  const sections: Section[] = [
    {
      name: "usp",
      run: async (r) => {
        r.section("USP (TR-369): Records, certificates, WebSocket with an E2E session, MQTT");
        await decodeSamples(r);
        certificateDecision(r, pki);
        await webSocketWithSession(r, pki);
        await mqttOnEmbeddedBroker(r);
      },
    },
    {
      name: "taps",
      run: async (r) => {
        r.section("TAPS: racing over several Remote Endpoints, TLS, message framing");
        await racingAndFraming(r, pki);
      },
    },
    {
      name: "sttp",
      run: async (r) => {
        r.section("STTP (IEEE 2664): forward and reverse connections over mutual TLS, tolerance policy");
        await sttpOverTls(r, pki);
      },
    },
    {
      name: "scistream",
      run: async (r) => {
        r.section("SciStream: two facilities, S2UC control over gRPC+TLS, data over TLS-PSK");
        await twoFacilityFlow(r, pki);
      },
    },
  ];
  const only = values.only?.split(",").map((s) => s.trim());
  const unknown = only?.filter((name) => !sections.some((s) => s.name === name)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown section(s): ${unknown.join(", ")}\n\n${HELP}`);
    return 2;
  }
  const started = Date.now();
  for (const section of sections) {
    if (only && !only.includes(section.name)) continue;
    try {
      await section.run(report);
    } catch (error) {
      report.add(section.name, "section", false, (error as Error).stack ?? String(error));
    }
  }
  const summary = `${report.steps.length - report.failed} of ${report.steps.length} steps worked in ${Date.now() - started} ms`;
  if (report.json) {
    process.stdout.write(
      `${JSON.stringify({ ok: report.failed === 0, steps: report.steps }, bigintReplacer, 2)}\n`,
    );
  } else {
    process.stdout.write(`\n${summary}\n`);
  }
  return report.failed === 0 ? 0 : 1;
}

process.exitCode = await main();
