/** A tiny Prometheus text-format (0.0.4) registry: counters and gauges with labels, no dependency. */

type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly values: Map<string, { labels: Labels; value: number }>;
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",")}}`;
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>();
  /** Gauges computed at scrape time. */
  private readonly collectors: (() => void | Promise<void>)[] = [];

  private family(name: string, help: string, type: "counter" | "gauge"): Family {
    let f = this.families.get(name);
    if (f === undefined) {
      f = { name, help, type, values: new Map() };
      this.families.set(name, f);
    }
    return f;
  }
  /** Declares a metric so it shows up (at 0) before its first event. */
  declare(name: string, help: string, type: "counter" | "gauge", labels: Labels = {}): void {
    const f = this.family(name, help, type);
    const key = labelKey(labels);
    if (!f.values.has(key)) f.values.set(key, { labels, value: 0 });
  }
  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const f = this.family(name, help, "counter");
    const key = labelKey(labels);
    const v = f.values.get(key);
    if (v === undefined) f.values.set(key, { labels, value: by });
    else v.value += by;
  }
  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.family(name, help, "gauge").values.set(labelKey(labels), { labels, value });
  }
  /** Replaces all series of a gauge (for per-channel figures that come and go). */
  reset(name: string): void {
    this.families.get(name)?.values.clear();
  }
  addCollector(collect: () => void | Promise<void>): void {
    this.collectors.push(collect);
  }
  /** Renders the exposition text. */
  async render(): Promise<string> {
    for (const c of this.collectors) await c();
    const lines: string[] = [];
    for (const f of this.families.values()) {
      lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      lines.push(`# TYPE ${f.name} ${f.type}`);
      for (const { labels, value } of f.values.values())
        lines.push(`${f.name}${formatLabels(labels)} ${value}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
