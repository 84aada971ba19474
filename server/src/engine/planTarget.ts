import * as path from 'node:path';
import { analyze } from '../analysis/analyze';
import { mergeConfig } from '../config/config';
import { configuredModelFor, findPyproject, loadPyproject } from '../config/load';
import { findTorchVersion } from '../config/torchVersion';
import { inspectOnnx } from '../onnx/inspect';
import { DEFAULT_STYLE, type CodeStyle } from '../plan/codegen';
import type { Program } from '../python/program';
import { createModelFileLoader } from './modelFiles';
import { catalogReport, modelReports, treeReport, type ModelReport, type ModelTreeNode } from './models';
import { createImportResolver } from './workspaceImports';
import { createExportsLookup } from './workspaceIndex';

/**
 * What the planner plans: a model's tree (with the script's freeze state
 * where it comes from a script), whether its weights are pretrained, the
 * new head the script put in, and how the script spells things, so
 * generated code fits in.
 */
export interface PlanTarget {
  report: ModelReport;
  pretrained: boolean;
  /** The outermost module the script put into a pretrained model. */
  headPath?: string;
  style: CodeStyle;
  /** What the planner cannot see: parts built where the analysis could not follow. */
  notes: string[];
}

/** A catalog architecture (torchvision, timm, Hugging Face), pretrained, as `freezelens plan --model resnet18` plans it. */
export function catalogTarget(name: string, numClasses?: number): PlanTarget | undefined {
  const report = catalogReport(name, numClasses);
  return report && { report, pretrained: true, style: DEFAULT_STYLE, notes: [] };
}

/** An ONNX export: its tree, the weights taken as pretrained (an export is of a trained model). Throws OnnxError for an unreadable file. */
export function onnxTarget(file: string): PlanTarget {
  const r = inspectOnnx(file);
  if (!r.modules) throw new Error(r.diagnostics[0]?.message ?? `${file} is not a readable ONNX model`);
  const report = treeReport(path.basename(file), 'onnx', file, r.modules.tree, null, r.modules.modules);
  return { report, pretrained: true, style: DEFAULT_STYLE, notes: [] };
}

/**
 * A program as the CLI analyses it: what it leaves out (import resolution,
 * model files, the `models` setting of the nearest pyproject.toml, exports
 * in the project) filled in. `file` locates the configuration.
 */
export function completeProgram(file: string, cwd: string, program: Program): Program {
  const found = findPyproject(path.dirname(file));
  const config = mergeConfig(found ? loadPyproject(found).values : {}, {}, found ? path.dirname(found) : undefined);
  return {
    ...program,
    resolveImport: program.resolveImport ?? createImportResolver(),
    loadModelTree: program.loadModelTree ?? createModelFileLoader(),
    configuredModel: program.configuredModel ?? configuredModelFor(config, file),
    exportsOf: program.exportsOf ?? createExportsLookup()(config.root ?? cwd),
  };
}

/** The models a script (or notebook) builds, with its freeze state at the end of the script. */
export function scriptTargets(file: string, cwd: string, program: Program): PlanTarget[] {
  const prog = completeProgram(file, cwd, program);
  const analysis = analyze(prog, { torchVersion: findTorchVersion(path.dirname(file)) });
  const text = prog.units.map((u) => u.text).join('\n');
  return modelReports(analysis).map((report) => targetOf(report, text));
}

export function targetOf(report: ModelReport, scriptText: string): PlanTarget {
  const notes: string[] = [];
  if (partial(report.root)) notes.push('Parts of this model were built where FreezeLens cannot follow (shown as partial): they are not listed, and their parameters are not counted.');
  if (unknownSizes(report.root)) notes.push("Some modules' sizes are not known statically (shown as ?): counts and estimates leave them out.");
  return {
    report,
    pretrained: report.pretrained ?? report.source === 'onnx',
    headPath: newModulePath(report.root),
    style: styleOf(scriptText, report.name),
    notes,
  };
}

function partial(n: ModelTreeNode): boolean {
  return !!n.partial || n.children.some(partial);
}

function unknownSizes(n: ModelTreeNode): boolean {
  return n.params === null || n.children.some(unknownSizes);
}

function newModulePath(n: ModelTreeNode): string | undefined {
  if (n.newModule) return n.path;
  for (const c of n.children) {
    const p = newModulePath(c);
    if (p !== undefined) return p;
  }
  return undefined;
}

/**
 * How the script spells torch.nn and torch, and the model's variable: the
 * generated code uses the same names. A model known only by its
 * construction text (no variable) keeps the default name.
 */
export function styleOf(text: string, modelVar: string): CodeStyle {
  const fromTorch = /^\s*from\s+torch\s+import\s+(?:.*,\s*)?nn\b(?:\s+as\s+(\w+))?/m.exec(text);
  const nnAlias = /^\s*import\s+torch\.nn\s+as\s+(\w+)\s*$/m.exec(text)?.[1] ?? (fromTorch ? (fromTorch[1] ?? 'nn') : undefined);
  const torchAlias = /^\s*import\s+torch\s+as\s+(\w+)\s*$/m.exec(text)?.[1] ?? 'torch';
  const optimizer = /^\s*(\w+)\s*=\s*(?:torch\.)?optim\.\w+\(/m.exec(text)?.[1] ?? DEFAULT_STYLE.optimizer;
  return {
    model: /^[A-Za-z_]\w*$/.test(modelVar) ? modelVar : DEFAULT_STYLE.model,
    optimizer,
    nn: nnAlias ?? `${torchAlias}.nn`,
    torch: torchAlias,
  };
}
