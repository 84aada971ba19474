import type { Program } from '../python/program';
import { bind, type Binder } from './binder';
import { AnalysisBudget, BudgetExceeded } from './budget';
import { collectFacts, type FlagComparison, type GradFlagWrite } from './facts';
import { ValueKinds } from './valueKind';
import { Interpreter } from './interp/interpreter';
import { loadImports } from './imports';
import type { Timeline } from './interp/timeline';

/**
 * Everything the rules may ask about one program. Rules read these facts;
 * they never walk the syntax tree themselves.
 */
export interface Analysis {
  /** The program, followed by the workspace modules it imports (units from `mainUnits` on). */
  program: Program;
  /** How many leading units are the program itself; findings are reported for these only. */
  mainUnits: number;
  binder: Binder;
  kinds: ValueKinds;
  gradFlagWrites: GradFlagWrite[];
  flagComparisons: FlagComparison[];
  /** The freeze-state timeline; undefined when the interpreter gave up (rules relying on it stay silent). */
  timeline?: Timeline;
  /** Why parts of the program were skipped (depth caps); for the log. */
  notes: string[];
}

export interface AnalyzeOptions {
  timeLimitMs?: number;
  /** The torch version that decides zero_grad's default; assumed 2.0 or later when unknown. */
  torchVersion?: { major: number; minor: number; source: string };
  /** Model structure (catalog trees, nn layers, workspace classes); default on. Off only for the benchmark that measures its cost. */
  modelStructure?: boolean;
}

const ASSUMED_TORCH = { major: 2, minor: 0, source: 'assumed (no torch version found in requirements or pyproject.toml)' };

export function analyze(program: Program, options: AnalyzeOptions = {}): Analysis {
  const budget = new AnalysisBudget(options.timeLimitMs);
  const imports = loadImports(program, budget);
  const full: Program = imports.units.length > 0 ? { ...program, units: [...program.units, ...imports.units] } : program;
  const binder = bind(full, budget, program.units.length);
  // The parser gave up on these (see SourceUnit.tree): they are empty to every pass.
  for (const u of full.units) if (u.parseProblem) budget.exceeded(`${u.id === program.id ? 'the file' : u.id} could not be parsed: ${u.parseProblem}`);
  const kinds = new ValueKinds(binder);
  const { gradFlagWrites, flagComparisons } = collectFacts(program, kinds, budget);
  let timeline: Timeline | undefined;
  try {
    timeline = new Interpreter(binder, kinds, budget, options.torchVersion ?? ASSUMED_TORCH, program.units.length, imports.modules, options.modelStructure ?? true).run();
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    budget.exceeded(`freeze-state interpretation stopped: ${e.message}`);
  }
  return { program: full, mainUnits: program.units.length, binder, kinds, gradFlagWrites, flagComparisons, timeline, notes: budget.notes };
}
