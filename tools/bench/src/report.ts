/** Collects every package's bench-results.json into BENCHMARKS.md at the workspace root. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PackageBenchResult } from "./index.js";
import { machineInfo } from "./machine.js";

function fmt(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString("en-US");
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

export function writeReport(root: string): string {
  const results: PackageBenchResult[] = [];
  for (const name of readdirSync(join(root, "packages")).sort()) {
    const file = join(root, "packages", name, "bench-results.json");
    if (existsSync(file)) results.push(JSON.parse(readFileSync(file, "utf8")) as PackageBenchResult);
  }
  const m = results[0]?.machine ?? machineInfo();
  const lines = [
    "# Benchmarks",
    "",
    "Figures of the last `pnpm bench` run. Every group measures ours beside a baseline in the same run;",
    "the ratio is speed relative to the baseline (above 1 is faster). Benchmarks are not tests: on a",
    "shared 2-core machine single figures vary by ±25 %, so read the ratios, not the absolute numbers.",
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}.`,
    "",
  ];
  for (const r of results) {
    lines.push(`## ${r.package}`, "", `Run ${r.date}.`, "");
    for (const g of r.groups) {
      lines.push(`### ${g.name}`, "");
      if (g.note) lines.push(g.note, "");
      lines.push("| candidate | figure | ratio |", "| --- | ---: | ---: |");
      for (const c of g.results) {
        lines.push(
          `| ${c.name} | ${fmt(c.value)} ${c.unit} | ${c.baseline ? "baseline" : `${c.ratio.toFixed(2)}x`} |`,
        );
      }
      lines.push("");
    }
  }
  const text = lines.join("\n");
  writeFileSync(join(root, "BENCHMARKS.md"), text);
  return text;
}
