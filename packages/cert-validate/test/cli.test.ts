import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createPki, type Pki } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(here, "../bin/cert-validate.js");
let pki: Pki;
let dir: string;
const file = (name: string) => join(dir, name);

function run(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { timeout: 30_000, maxBuffer: 8 << 20 },
      (err, stdout, stderr) => {
        res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

beforeAll(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), "cert-validate-cli-"));
  writeFileSync(file("root.pem"), pki.root.certPem);
  writeFileSync(file("server.pem"), pki.server.chainPem);
  writeFileSync(file("expired.pem"), pki.expired.chainPem);
  writeFileSync(file("agent.pem"), pki.agent.certPem);
  writeFileSync(file("wrong.pem"), pki.wrongName.chainPem);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("cert-validate CLI (built bin)", () => {
  it("--help, --version, usage errors", async () => {
    expect((await run(["--help"])).stdout).toMatch(/Usage: cert-validate/);
    const pkg = JSON.parse(readFileSync(resolve(here, "../package.json"), "utf8")) as { version: string };
    expect((await run(["--version"])).stdout.trim()).toBe(pkg.version);
    expect((await run([])).code).toBe(2);
    const bad = await run(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown command/);
    expect((await run(["check", file("server.pem"), "--bogus"])).code).toBe(2);
    expect((await run(["check", file("nope.pem")])).code).toBe(2);
  });
  it("check: valid chain exits 0 and prints the path", async () => {
    const r = await run(["check", file("server.pem"), "--ca", file("root.pem"), "--host", "localhost"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VALID/);
    expect(r.stdout).toMatch(/Test Root CA/);
  });
  it("check --json: expired chain exits 1 with CERT_EXPIRED; --no-time accepts it with TIME_UNKNOWN", async () => {
    const r = await run(["check", file("expired.pem"), "--ca", file("root.pem"), "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).errors[0].code).toBe("CERT_EXPIRED");
    const n = await run(["check", file("expired.pem"), "--ca", file("root.pem"), "--no-time", "--json"]);
    expect(n.code).toBe(0);
    expect(JSON.parse(n.stdout).warnings.map((w: { code: string }) => w.code)).toContain("TIME_UNKNOWN");
  });
  it("check: certificate-policy flags (RFC 5280 §6.1)", async () => {
    const base = ["check", file("server.pem"), "--ca", file("root.pem"), "--json"];
    const ok = await run(base);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).policies).toEqual([]);
    const strict = await run([...base, "--require-explicit-policy", "--policy", "2.5.29.32.0"]);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout).errors.map((e: { code: string }) => e.code)).toEqual([
      "NO_VALID_POLICY",
    ]);
    expect((await run([...base, "--policy", "not-an-oid"])).code).toBe(2);
  });
  it("check --allow expired reports the override", async () => {
    const r = await run(["check", file("expired.pem"), "--ca", file("root.pem"), "--allow", "expired"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: OVERRIDE_VALIDITY/);
  });
  it("check in USP mode prints the figure trace", async () => {
    const r = await run([
      "check",
      file("wrong.pem"),
      "--ca",
      file("root.pem"),
      "--url",
      "wss://controller.example/usp",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^TERMINATE/);
    expect(r.stdout).toMatch(/\[MUST\] identity\s+no/);
    const ok = await run([
      "check",
      file("server.pem"),
      "--ca",
      file("root.pem"),
      "--url",
      "wss://localhost/usp",
      "--json",
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ decision: "establish", basis: "trusted-ca" });
  });
  it("eid lists Endpoint IDs", async () => {
    const r = await run(["eid", file("agent.pem"), "--usp-version", "1.2"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("proto::agent");
  });
  it("limbo: stdin suite → LimboResult on stdout", async () => {
    const fixture = JSON.parse(
      readFileSync(resolve(here, "../../../../shared/fixtures/x509-limbo/limbo-2023-12-02.json"), "utf8"),
    ) as { testcases: { id: string; expected_result: string }[] };
    const suite = { version: 1, testcases: fixture.testcases.slice(0, 5) };
    const r = await run(["limbo", "--harness", "test"], JSON.stringify(suite));
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ version: 1, harness: "test" });
    expect(out.results.map((x: { id: string }) => x.id)).toEqual(suite.testcases.map((t) => t.id));
    expect(out.results.map((x: { actual_result: string }) => x.actual_result)).toEqual(
      suite.testcases.map((t) => t.expected_result),
    );
    expect((await run(["limbo"], "not json")).code).toBe(2);
  });
});
