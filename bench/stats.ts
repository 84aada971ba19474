/** Summary statistics and markdown output shared by the benchmarks. */

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
  min: number;
}

/** Nearest-rank percentiles: every reported value is one that was measured. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return {
    n: sorted.length,
    p50: rank(50),
    p95: rank(95),
    max: sorted[sorted.length - 1],
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    min: sorted[0],
  };
}

export function median(samples: readonly number[]): number {
  return summarize(samples).p50;
}

/** Milliseconds with precision that matches their size. */
export function ms(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function thousands(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A markdown table; numeric columns (all but the first, unless `leftColumns` says so) align right. */
export function table(header: string[], rows: (string | number)[][], leftColumns: number[] = [0]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const align = header.map((_, i) => (leftColumns.includes(i) ? '---' : '---:'));
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

/** A row of a latency table: label, then p50, p95, max, mean in ms. */
export function latencyRow(label: string, s: Summary): string[] {
  return [label, ms(s.p50), ms(s.p95), ms(s.max), ms(s.mean)];
}

export const LATENCY_HEADER = ['', 'p50 ms', 'p95 ms', 'max ms', 'mean ms'];
