#!/usr/bin/env node
// Reads every workspace package's `.vitest-results.json` (vitest's JSON reporter) and prints
// one line per package, then the CI line `N passed, N failed[, N skipped]` last.
// A package that has a `test` script but wrote no results file counts as one failure: a crashed
// runner must never look green.
// Usage: test-summary [--runner-exit <code>] [--checks-failed <n>] [--root <dir>]
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    root: { type: "string", default: process.cwd() },
    "runner-exit": { type: "string", default: "0" },
    "checks-failed": { type: "string", default: "0" },
  },
});
const root = resolve(values.root);
const runnerExit = Number(values["runner-exit"]);
// Checks run before the tests (generated-code drift, build, typecheck, lint) count as failures too.
const checksFailed = Number(values["checks-failed"]);

let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];

for (const group of ["packages", "tools"]) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir).sort()) {
    const pkgDir = join(dir, name);
    const pkgFile = join(pkgDir, "package.json");
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
    if (!pkg.scripts?.test) continue;
    const resultsFile = join(pkgDir, ".vitest-results.json");
    if (!existsSync(resultsFile)) {
      failed += 1;
      rows.push(`${pkg.name}: no results file (the test runner did not finish)`);
      continue;
    }
    let results;
    try {
      results = JSON.parse(readFileSync(resultsFile, "utf8"));
    } catch (error) {
      failed += 1;
      rows.push(`${pkg.name}: unreadable results file (${error.message})`);
      continue;
    }
    // A test file that fails to load has no assertions but a failed status: count it as a failure.
    const brokenFiles = (results.testResults ?? []).filter(
      (file) => file.status === "failed" && (file.assertionResults ?? []).length === 0,
    ).length;
    const p = results.numPassedTests ?? 0;
    const f = (results.numFailedTests ?? 0) + brokenFiles;
    const s = (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0);
    passed += p;
    failed += f;
    skipped += s;
    rows.push(`${pkg.name}: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ""}`);
  }
}

for (const row of rows) console.log(row);
if (checksFailed > 0) {
  failed += checksFailed;
  console.log(`${checksFailed} check(s) before the tests failed`);
}
if (runnerExit !== 0 && failed === 0) {
  // The runner failed outside any test (a build step, a crash): never report green.
  failed += 1;
  console.log(`test runner exited with ${runnerExit} outside any test`);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
