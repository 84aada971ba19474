import { formatCount } from '../models/tree';
import type { FreezePlan, PlanSummary } from './plan';

/** The summary of a plan in lines of text: what the CLI prints and the planner's header shows. */
export function describeSummary(modelName: string, plan: FreezePlan, s: PlanSummary): string[] {
  const pct = s.totalParams > 0 ? ((100 * s.trainableParams) / s.totalParams).toFixed(2) : '0.00';
  const lines = [`Plan ${plan.preset} on ${modelName}: trains ${formatCount(s.trainableParams)} of ${formatCount(s.totalParams)} params (${pct}%)`];
  lines.push(`  frozen: ${plan.frozen.length > 0 ? plan.frozen.join(', ') : 'nothing'}`);
  lines.push(`  gradients + ${optimizerName(plan)} state: ${bytes(s.trainingStateBytes)} (full fine-tune: ${bytes(s.fullTrainingStateBytes)})`);
  lines.push(`  backward compute saved: ${(100 * s.backwardSaved).toFixed(1)}% (${s.backwardBasis === 'flops' ? "from the graph's FLOPs per module" : 'estimated from parameter counts: no shapes'})`);
  if (s.activationBytesSaved !== undefined) lines.push(`  activation memory not kept for backward: ${bytes(s.activationBytesSaved)} per sample`);
  if (plan.gradualEvery !== null) lines.push(`  gradual unfreezing: one more stage every ${plan.gradualEvery} epochs, last stage first`);
  for (const p of s.problems) lines.push(`  ${p.severity}: ${p.message}`);
  return lines;
}

export function optimizerName(plan: Pick<FreezePlan, 'optimizer'>): string {
  return plan.optimizer === 'adamw' ? 'AdamW' : plan.optimizer === 'adam' ? 'Adam' : 'SGD momentum';
}

/** Bytes as MB or GB (powers of 1,000, as model cards do). */
export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e3).toFixed(1)} kB`;
}
