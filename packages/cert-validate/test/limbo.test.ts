import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { type LimboSuite, runLimboCase } from "../src/index.js";
import { LIMBO_ALLOWLIST } from "./limbo-allowlist.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixture =
  process.env.LIMBO_JSON ?? resolve(here, "../../../../shared/fixtures/x509-limbo/limbo-2023-12-02.json");
const suite = JSON.parse(readFileSync(fixture, "utf8")) as LimboSuite;
// Cases without validation_time use "now"; pinning it keeps the run reproducible.
const NOW = new Date();

const tally = { conformant: 0, allowListed: 0, skipped: 0 };

describe(`x509-limbo (${suite.testcases.length} cases)`, () => {
  it.each(suite.testcases.map((tc) => [tc.id, tc] as const))("%s", (id, tc) => {
    const result = runLimboCase(tc, NOW);
    expect(result.id).toBe(id);
    if (result.actual_result === "SKIPPED") {
      tally.skipped++;
      expect(result.context, "a skip must say why").toBeTruthy();
      expect(LIMBO_ALLOWLIST[id], "a skipped case must not be allow-listed").toBeUndefined();
      return;
    }
    const allow = LIMBO_ALLOWLIST[id];
    if (allow) {
      expect(allow.expected, "allow-list entry records the suite's expectation").toBe(tc.expected_result);
      expect(allow.reason.length).toBeGreaterThan(40);
      // Stale entries fail: a listed case must still disagree with the suite.
      expect(result.actual_result, `stale allow-list entry ${id}: it now conforms`).not.toBe(
        tc.expected_result,
      );
      tally.allowListed++;
      return;
    }
    expect(result.actual_result, result.context ?? "").toBe(tc.expected_result);
    tally.conformant++;
  });

  it("allow-list names only cases that exist in the suite", () => {
    const ids = new Set(suite.testcases.map((t) => t.id));
    for (const id of Object.keys(LIMBO_ALLOWLIST)) expect(ids.has(id), id).toBe(true);
  });

  afterAll(() => {
    console.log(
      `x509-limbo: ${tally.conformant} conformant, ${tally.allowListed} allow-listed, ${tally.skipped} skipped of ${suite.testcases.length}`,
    );
  });
});
