/**
 * A small benchmark harness: every figure of ours is measured beside a baseline in the same
 * run and reported as a ratio. Benchmarks are not tests; nothing here asserts on time.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type MachineInfo, machineInfo } from "./machine.js";

export { type MachineInfo, machineInfo } from "./machine.js";

/** Higher is better for every figure (ops/s, MB/s, records/s). Latencies: report their inverse or use `lowerIsBetter`. */
export interface Figure {
  readonly value: number;
  readonly unit: string;
}

export interface Candidate {
  /** Short label, e.g. "ours", "protobufjs", "bare ws". */
  readonly name: string;
  /** True for the reference every other candidate is divided by. Exactly one per group. */
  readonly baseline?: boolean;
  /** Measures once and returns its figure. It may run its own loop (see {@link measureOps}). */
  readonly run: () => Promise<Figure> | Figure;
}

export interface Group {
  readonly name: string;
  readonly candidates: readonly Candidate[];
  /** For latencies: a smaller value is better, and the ratio is baseline/ours. */
  readonly lowerIsBetter?: boolean;
  /** Free text shown under the table (the aim, caveats). */
  readonly note?: string;
}

export interface CandidateResult extends Figure {
  readonly name: string;
  readonly baseline: boolean;
  /** Speed relative to the baseline (>1 = faster than the baseline), whatever the direction of the unit. */
  readonly ratio: number;
}

export interface GroupResult {
  readonly name: string;
  readonly note?: string | undefined;
  readonly lowerIsBetter: boolean;
  readonly results: readonly CandidateResult[];
}

export interface PackageBenchResult {
  readonly package: string;
  readonly date: string;
  readonly machine: MachineInfo;
  readonly groups: readonly GroupResult[];
}

export interface MeasureOptions {
  /** Minimum measured time per sample, ms (default 300). */
  readonly minTimeMs?: number;
  /** Samples; the median is reported (default 5). */
  readonly samples?: number;
  /** Warm-up time, ms (default 100). */
  readonly warmupMs?: number;
  /** Units of work per call (bytes, records) so the figure can be "MB/s" or "records/s". */
  readonly workPerCall?: number;
  /** Unit label of the result (default "ops/s"). */
  readonly unit?: string;
  /** Divide the per-second figure by this (e.g. 1e6 for MB/s with bytes as work). */
  readonly scale?: number;
}

/** Runs `fn` repeatedly and returns the median rate over several samples. */
export async function measureOps(fn: () => unknown, options: MeasureOptions = {}): Promise<Figure> {
  const minTimeMs = options.minTimeMs ?? 300;
  const samples = options.samples ?? 5;
  const warmupMs = options.warmupMs ?? 100;
  const work = options.workPerCall ?? 1;
  const scale = options.scale ?? 1;
  // The first call tells whether fn is async; it is awaited so that it never overlaps the runs.
  const first = fn();
  const isAsync = first instanceof Promise;
  if (isAsync) await first;
  const runFor = async (ms: number): Promise<number> => {
    let count = 0;
    const start = performance.now();
    const end = start + ms;
    let now = start;
    while (now < end) {
      // Batches keep the clock out of tight loops.
      for (let i = 0; i < 16; i++) {
        if (isAsync) await fn();
        else fn();
      }
      count += 16;
      now = performance.now();
    }
    return (count * work * 1000) / (now - start) / scale;
  };
  await runFor(warmupMs);
  const rates: number[] = [];
  for (let i = 0; i < samples; i++) rates.push(await runFor(minTimeMs));
  rates.sort((a, b) => a - b);
  return { value: rates[Math.floor(rates.length / 2)]!, unit: options.unit ?? "ops/s" };
}

/** Times a whole async operation several times and returns the median duration in ms (lower is better). */
export async function measureDuration(fn: () => Promise<unknown>, samples = 5): Promise<Figure> {
  const durations: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await fn();
    durations.push(performance.now() - start);
  }
  durations.sort((a, b) => a - b);
  return { value: durations[Math.floor(durations.length / 2)]!, unit: "ms" };
}

function formatNumber(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString("en-US");
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/**
 * Runs the groups one after another, prints a table per group with ratios to stderr/stdout,
 * and writes `bench-results.json` in `dir` (the package folder) for the root BENCHMARKS.md.
 */
export async function runBenchmarks(
  packageName: string,
  groups: readonly Group[],
  dir: string = process.cwd(),
): Promise<PackageBenchResult> {
  const out: GroupResult[] = [];
  for (const group of groups) {
    const figures: { name: string; baseline: boolean; figure: Figure }[] = [];
    for (const candidate of group.candidates) {
      process.stderr.write(`${packageName} · ${group.name} · ${candidate.name} … `);
      const figure = await candidate.run();
      process.stderr.write(`${formatNumber(figure.value)} ${figure.unit}\n`);
      figures.push({ name: candidate.name, baseline: candidate.baseline === true, figure });
    }
    const base = figures.find((f) => f.baseline) ?? figures[0]!;
    const lowerIsBetter = group.lowerIsBetter === true;
    const results = figures.map(
      (f): CandidateResult => ({
        name: f.name,
        baseline: f.baseline,
        value: f.figure.value,
        unit: f.figure.unit,
        ratio: lowerIsBetter ? base.figure.value / f.figure.value : f.figure.value / base.figure.value,
      }),
    );
    out.push({ name: group.name, note: group.note, lowerIsBetter, results });
    console.log(`\n${group.name}${group.note ? ` (${group.note})` : ""}`);
    for (const r of results) {
      console.log(
        `  ${r.name.padEnd(36)} ${formatNumber(r.value).padStart(14)} ${r.unit.padEnd(10)} ${r.baseline ? "baseline" : `${r.ratio.toFixed(2)}x`}`,
      );
    }
  }
  const result: PackageBenchResult = {
    package: packageName,
    date: new Date().toISOString(),
    machine: machineInfo(),
    groups: out,
  };
  writeFileSync(join(dir, "bench-results.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
