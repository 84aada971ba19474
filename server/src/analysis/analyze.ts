import type { Program } from '../python/program';
import { bind, type Binder } from './binder';
import { AnalysisBudget } from './budget';
import { collectGradFlagWrites, type GradFlagWrite } from './facts';
import { ValueKinds } from './valueKind';

/**
 * Everything the rules may ask about one program. Rules read these facts;
 * they never walk the syntax tree themselves.
 */
export interface Analysis {
  program: Program;
  binder: Binder;
  kinds: ValueKinds;
  gradFlagWrites: GradFlagWrite[];
  /** Why parts of the program were skipped (depth caps); for the log. */
  notes: string[];
}

export interface AnalyzeOptions {
  timeLimitMs?: number;
}

export function analyze(program: Program, options: AnalyzeOptions = {}): Analysis {
  const budget = new AnalysisBudget(options.timeLimitMs);
  const binder = bind(program, budget);
  const kinds = new ValueKinds(binder);
  const gradFlagWrites = collectGradFlagWrites(program, kinds, budget);
  return { program, binder, kinds, gradFlagWrites, notes: budget.notes };
}
