/** The README's main job must keep working: run the built demo as a user would and check every step. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../bin/demo.js", import.meta.url));

describe("the main job", () => {
  it("runs every section on loopback and every step works", { timeout: 180_000 }, async () => {
    const { stdout } = await run(process.execPath, [bin, "--json"], {
      timeout: 170_000,
      maxBuffer: 16 << 20,
    });
    const result = JSON.parse(stdout) as {
      ok: boolean;
      steps: { section: string; step: string; ok: boolean; detail: string }[];
    };
    const failed = result.steps.filter((s) => !s.ok);
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
    expect(result.ok).toBe(true);
    const sections = new Set(result.steps.map((s) => s.section));
    for (const name of [
      "usp-record",
      "cert-validate",
      "mtp-websocket",
      "usp-record/session",
      "mtp-mqtt",
      "scistream",
    ]) {
      expect(sections.has(name), `section ${name} missing`).toBe(true);
    }
  });

  it("answers --help with exit 0 and an unknown option with exit 2", async () => {
    const help = await run(process.execPath, [bin, "--help"]);
    expect(help.stdout).toMatch(/^Usage: run-demo/);
    await expect(run(process.execPath, [bin, "--bogus"])).rejects.toMatchObject({ code: 2 });
    await expect(run(process.execPath, [bin, "--only", "nothing"])).rejects.toMatchObject({ code: 2 });
  });
});
