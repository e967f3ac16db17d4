/** How the demo talks to a person: one line per step on stdout, or one JSON document with --json. */
export interface StepResult {
  readonly section: string;
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly data?: Record<string, unknown> | undefined;
}

export class Report {
  readonly steps: StepResult[] = [];
  constructor(readonly json: boolean) {}

  section(title: string): void {
    if (!this.json) process.stdout.write(`\n== ${title}\n`);
  }

  add(section: string, step: string, ok: boolean, detail: string, data?: Record<string, unknown>): void {
    this.steps.push({ section, step, ok, detail, data });
    if (!this.json) process.stdout.write(`  ${ok ? "ok  " : "FAIL"} ${step}: ${detail}\n`);
  }

  get failed(): number {
    return this.steps.filter((s) => !s.ok).length;
  }
}

export const bigintReplacer = (_key: string, value: unknown): unknown =>
  typeof value === "bigint" ? value.toString() : value;

/** Resolves with the value, or rejects after `ms` with a message naming what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}
