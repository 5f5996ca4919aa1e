/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format. Kept minimal so that observing a
 * value on the hot path is a map lookup and a few additions.
 */

/** ADR-604 latency buckets, in seconds. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01] as const;

type Labels = Record<string, string>;

function labelKey(values: readonly string[]): string {
  return values.join('\u0000');
}

function renderLabels(names: readonly string[], key: string, extra?: string): string {
  const values = key === '' && names.length === 0 ? [] : key.split('\u0000');
  const parts = names.map((n, i) => `${n}="${escape(values[i] ?? '')}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

interface Metric {
  render(): string;
}

abstract class Base implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly type: string,
  ) {}
  protected head(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
  }
  protected key(labels?: Labels): string {
    return labelKey(this.labelNames.map((n) => labels?.[n] ?? ''));
  }
  abstract render(): string;
}

export class Counter extends Base {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'counter');
  }
  inc(labels?: Labels, by = 1): void {
    const k = this.key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(this.key(labels)) ?? 0;
  }
  render(): string {
    let out = this.head();
    for (const [k, v] of this.values) out += `${this.name}${renderLabels(this.labelNames, k)} ${v}\n`;
    return out;
  }
}

export class Gauge extends Base {
  private readonly values = new Map<string, number | (() => number)>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'gauge');
  }
  set(value: number | (() => number), labels?: Labels): void {
    this.values.set(this.key(labels), value);
  }
  delete(labels?: Labels): void {
    this.values.delete(this.key(labels));
  }
  render(): string {
    let out = this.head();
    for (const [k, v] of this.values)
      out += `${this.name}${renderLabels(this.labelNames, k)} ${typeof v === 'function' ? v() : v}\n`;
    return out;
  }
}

/** A histogram; a child per label set is cached so that observe() allocates nothing. */
export class Histogram extends Base {
  private readonly children = new Map<string, HistogramChild>();
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    super(name, help, labelNames, 'histogram');
  }
  /** The series for these labels; keep it to observe without lookups. */
  child(labels?: Labels): HistogramChild {
    const k = this.key(labels);
    let c = this.children.get(k);
    if (c === undefined) {
      c = new HistogramChild(this.buckets);
      this.children.set(k, c);
    }
    return c;
  }
  observe(value: number, labels?: Labels): void {
    this.child(labels).observe(value);
  }
  render(): string {
    let out = this.head();
    for (const [k, c] of this.children) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += c.counts[i]!;
        out += `${this.name}_bucket${renderLabels(this.labelNames, k, `le="${b}"`)} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${renderLabels(this.labelNames, k, 'le="+Inf"')} ${c.count}\n`;
      out += `${this.name}_sum${renderLabels(this.labelNames, k)} ${c.sum}\n`;
      out += `${this.name}_count${renderLabels(this.labelNames, k)} ${c.count}\n`;
    }
    return out;
  }
}

export class HistogramChild {
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length);
  }
  observe(value: number): void {
    this.count++;
    this.sum += value;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.register(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.register(new Histogram(name, help, labelNames, buckets));
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
