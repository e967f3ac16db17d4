/** `usp-record session-demo`, spawned from the built bin as a user runs it. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../bin/usp-record.js", import.meta.url));

describe("usp-record session-demo", () => {
  it("delivers every Msg over a lossy link and reports the mechanism (JSON)", async () => {
    const args = [
      bin,
      "session-demo",
      "--json",
      "--seed",
      "3",
      "--loss",
      "0.2",
      "--max-record-size",
      "512",
      "--msgs",
      "60",
      "--max-msg-size",
      "8000",
    ];
    const { stdout } = await run(process.execPath, args);
    const summary = JSON.parse(stdout);
    expect(summary.ok).toBe(true);
    expect(
      summary.sides.map((s: { delivered: number }) => s.delivered).reduce((a: number, b: number) => a + b),
    ).toBe(60);
    expect(summary.events["retransmit-requested"]).toBeGreaterThan(0);
    expect(summary.events["duplicate-ignored"]).toBeGreaterThan(0);
    // Same seed, same run.
    const again = JSON.parse((await run(process.execPath, args)).stdout);
    expect(again).toEqual(summary);
  });

  it("rejects bad options with exit 2", async () => {
    await expect(
      run(process.execPath, [bin, "session-demo", "--max-record-size", "100"]),
    ).rejects.toMatchObject({ code: 2 });
    await expect(run(process.execPath, [bin, "session-demo", "--loss", "2"])).rejects.toMatchObject({
      code: 2,
    });
  });
});
