import * as path from 'node:path';
import { catalogTarget, onnxTarget, scriptTargets, type PlanTarget } from '../engine/planTarget';
import { generateCode } from '../plan/codegen';
import { describeSummary } from '../plan/describe';
import { PlanError, presetPlan, summarise, type FreezePlan } from '../plan/plan';
import type { CliIO } from './main';
import { loadFile } from './files';

export interface PlanArgs {
  model?: string;
  preset?: string;
  bn?: string;
  optimizer?: string;
  lr?: string;
  'lr-split'?: string;
  'model-var'?: string;
  'optimizer-var'?: string;
  'num-classes'?: string;
  format?: string;
}

/**
 * `freezelens plan`: the code for a preset on a model, to stdout, and the
 * plan's summary to stderr (or both as JSON). Exit 0 with code, 1 when the
 * plan cannot be made (an unknown stage, nothing left to train, a model
 * that cannot be read), 2 on a usage error.
 */
export function runPlan(args: PlanArgs, io: CliIO): number {
  const usage = (message: string) => {
    io.stderr(`freezelens: ${message}\n`);
    return 2;
  };
  const format = args.format ?? 'text';
  if (format !== 'text' && format !== 'json') return usage(`plan --format must be text or json, not '${format}'`);
  if (!args.model) return usage('plan needs --model resnet18|FILE.onnx|FILE.py[:var]');
  const bn = args.bn ?? 'eval';
  if (bn !== 'eval' && bn !== 'frozen' && bn !== 'train') return usage(`--bn must be eval, frozen or train, not '${bn}'`);
  const optimizer = args.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'adam' && optimizer !== 'sgd') return usage(`--optimizer must be adamw, adam or sgd, not '${optimizer}'`);
  const lr = args.lr === undefined ? 1e-3 : Number(args.lr);
  if (!(lr > 0)) return usage(`--lr must be a positive number, not '${args.lr}'`);
  const split = args['lr-split'];
  const lrSplit = split === undefined ? undefined : split === 'none' ? null : Number(split);
  if (lrSplit !== undefined && lrSplit !== null && !(lrSplit > 1)) return usage(`--lr-split must be a factor greater than 1, or none, not '${split}'`);

  let target: PlanTarget;
  try {
    const found = resolveTarget(args.model, args['num-classes'], io.cwd);
    if (typeof found === 'string') {
      io.stderr(`freezelens: ${found}\n`);
      return 1;
    }
    target = found;
  } catch (e) {
    io.stderr(`freezelens: ${args.model}: ${(e as Error).message}\n`);
    return 1;
  }
  let plan: FreezePlan;
  try {
    plan = presetPlan(target.report.root, args.preset ?? 'linear-probe', { bn, optimizer, lr, lrSplit, headPath: target.headPath, pretrained: target.pretrained });
  } catch (e) {
    if (!(e instanceof PlanError)) throw e;
    io.stderr(`freezelens: ${e.message}\n`);
    return 1;
  }
  const style = { ...target.style, ...(args['model-var'] ? { model: args['model-var'] } : {}), ...(args['optimizer-var'] ? { optimizer: args['optimizer-var'] } : {}) };
  const summary = summarise(target.report.root, plan);
  const error = summary.problems.find((p) => p.severity === 'error');
  const code = error ? undefined : generateCode(target.report.root, plan, style);
  const text = code ? `${code.imports.join('\n')}${code.imports.length > 0 ? '\n\n' : ''}${code.code}` : '';
  if (format === 'json') {
    io.stdout(`${JSON.stringify({ code: code ? text : null, summary, plan })}\n`);
  } else {
    if (code) io.stdout(text);
    io.stderr(describeSummary(target.report.name, plan, summary).join('\n') + '\n');
  }
  return error ? 1 : 0;
}

/** `resnet18` (the catalog), `FILE.onnx`, or `FILE.py[:var]` (a model the script builds). A string: why not. */
function resolveTarget(spec: string, numClasses: string | undefined, cwd: string): PlanTarget | string {
  const n = numClasses === undefined ? undefined : Number(numClasses);
  if (spec.endsWith('.onnx')) return onnxTarget(path.resolve(cwd, spec));
  const m = /^(.*\.(?:py|ipynb))(?::([A-Za-z_]\w*))?$/.exec(spec);
  if (m) {
    const file = path.resolve(cwd, m[1]);
    const targets = scriptTargets(file, cwd, loadFile(file).program);
    const chosen = m[2] ? targets.find((t) => t.report.name === m[2]) : targets[0];
    if (!chosen) return m[2] ? `${m[1]} builds no model '${m[2]}' that FreezeLens can follow (it knows: ${targets.map((t) => t.report.name).join(', ') || 'none'})` : `${m[1]} builds no model FreezeLens can follow`;
    return chosen;
  }
  return catalogTarget(spec, n) ?? `'${spec}' is not in the catalog, nor a .py, .ipynb or .onnx file`;
}
