import type { ExperimentEvent } from './engine';

/**
 * Collects what the summary table needs from a run's events, as they come:
 * the strategies' results, their errors and each one's step times. The CLI
 * and the PyTorch command both print it.
 */
export class SummaryTable {
  readonly ends: Extract<ExperimentEvent, { type: 'end' }>[] = [];
  readonly errors: Extract<ExperimentEvent, { type: 'error' }>[] = [];
  private readonly stepMs = new Map<string, number[]>();

  see(e: ExperimentEvent): void {
    if (e.type === 'step') {
      const times = this.stepMs.get(e.strategy);
      if (times) times.push(e.ms);
      else this.stepMs.set(e.strategy, [e.ms]);
    } else if (e.type === 'end') this.ends.push(e);
    else if (e.type === 'error') this.errors.push(e);
  }

  format(): string {
    return formatSummary(this.ends, this.errors, this.stepMs);
  }
}

/**
 * One row per strategy: accuracy, the median step, time per epoch,
 * throughput, the process's peak resident memory, the backend's tensor
 * memory (tfjs's, or CUDA's max_memory_allocated) and trainable parameters.
 */
export function formatSummary(ends: Extract<ExperimentEvent, { type: 'end' }>[], errors: Extract<ExperimentEvent, { type: 'error' }>[], stepMs: Map<string, number[]>): string {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const rows = [
    ['strategy', 'val acc', 'best', 'ms/step', 'ms/epoch', 'samples/s', 'peak MB', 'tensor MB', 'trainable'],
    ...ends.map((e) => [e.strategy, `${(100 * e.valAcc).toFixed(1)}%`, `${(100 * e.bestValAcc).toFixed(1)}%`, median(stepMs.get(e.strategy) ?? []).toFixed(1), e.msPerEpoch.toFixed(0), e.samplesPerSec.toFixed(0), e.peakRssMB.toFixed(0), e.tensorMB.toFixed(0), e.trainableParams.toLocaleString('en-US')]),
    ...errors.filter((e) => e.strategy !== null).map((e) => [e.strategy!, 'failed', '', '', '', '', '', '', '']),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n')}\n`;
}
