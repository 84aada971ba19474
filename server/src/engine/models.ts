import type { Analysis } from '../analysis/analyze';
import type { Span } from '../analysis/facts';

import type { MachineState, Region } from '../analysis/interp/state';
import type { Timeline } from '../analysis/interp/timeline';
import { catalogTree } from '../models/catalog';
import { hfTree } from '../models/hf';
import { timmTree } from '../models/timm';
import { flagOf, percent, regionFor, trainableUnder } from '../models/counts';
import { formatCount, joinPath, subtreeParams, type ModelSource, type ModuleNode } from '../models/tree';
import type { OnnxModuleInfo } from '../onnx/moduleTree';

/**
 * The models an analysis knows, as reports: the module tree with exact
 * counts, and what trains at the end of the script. The CLI's `models` verb,
 * the `freezelens/modelTree` request and hover all read these.
 */

export interface ModelTreeNode {
  /** The module's name in `named_modules()`: '' for the model. */
  path: string;
  class: string;
  /** Own parameters and buffers (`recurse=False`); null when not known. */
  params: number | null;
  buffers: number | null;
  children: ModelTreeNode[];
  /** At the end of the script: whether the module's own params require grad; null when not known or mixed. */
  trainable?: boolean | null;
  /** The module's mode at the end of the script (`eval` for BatchNorm put in eval on its own). */
  mode?: 'train' | 'eval' | null;
  batchNorm?: boolean;
  dropout?: boolean;
  /** Children may be missing: parts were built where the analysis could not follow. */
  partial?: boolean;
  /** The module the script put into a pretrained model (its new head): fresh weights. Only on the outermost such module. */
  newModule?: boolean;
  /** Names and sizes of the module's own parameters, where known (a ViT's `class_token`): the planner freezes them by name. */
  paramNames?: readonly string[];
  paramSizes?: readonly (number | null)[];
  /** ONNX trees: the ops the module's own nodes run, in graph order. */
  ops?: string[];
  /** ONNX trees: the output shapes of the module's own nodes, where the graph records them (value_info, graph outputs). */
  outputShapes?: (number | string | null)[][];
  /** ONNX trees: a BatchNormalization exported with training_mode=1, which normalizes with batch statistics at inference. */
  bnTrainingMode?: boolean;
}

export interface ModelReport {
  /** The variable the model was assigned to, or the construction text. */
  name: string;
  source: ModelSource;
  /** The construction as written: `models.resnet18(weights=None)`, `Net(num_classes=7)`. */
  call: string;
  totalParams: number | null;
  trainableParams: number | null;
  root: ModelTreeNode;
  /** Where it was built; absent for a catalog lookup. */
  site?: Span;
  /** Built from pretrained weights (`weights=...`, `from_pretrained`); undefined where not known. */
  pretrained?: boolean;
  /** The analysis's id of the model object, for queries over the timeline (its optimizers). */
  modelId?: number;
}

/** The models of a program: every top-level model with a known tree that holds parameters. */
export function modelReports(analysis: Pick<Analysis, 'timeline'>): ModelReport[] {
  const tl = analysis.timeline;
  if (!tl) return [];
  const out: ModelReport[] = [];
  for (const [root, info] of tl.models) {
    // Models the program names: the parts built inside a class's __init__ are in its tree already.
    if (info.attachedTo || !info.name) continue;
    const tree = tl.finalState.trees.get(root);
    if (!tree) continue;
    const total = subtreeParams(tree);
    // Losses and activations built at top level are modules too, but not models anyone plans.
    if (total === 0 || (tree.children.length === 0 && tree.params === 0)) continue;
    out.push(reportOf(tl, root, tree, tl.finalState));
  }
  return out;
}

export function reportOf(tl: Timeline, root: number, tree: ModuleNode, st: MachineState): ModelReport {
  const info = tl.models.get(root)!;
  const regions = st.models.get(root);
  const node = toNode(tree, '', regions);
  return {
    name: info.name ?? info.label,
    source: info.treeSource ?? (info.family ? 'catalog' : 'class'),
    call: info.label,
    totalParams: subtreeParams(tree),
    trainableParams: tl.unattributedFlagWrites ? null : trainable(tree, regions),
    root: node,
    site: { unit: info.site.unit, from: info.site.node.from, to: info.site.node.to },
    pretrained: info.pretrained,
    modelId: root,
  };
}

/**
 * A catalog architecture on its own (`freezelens models --catalog resnet18`),
 * freshly built so everything trains: a torchvision builder name, a timm
 * name (`timm/convnext_tiny` or a name only timm has), or a Hugging Face
 * checkpoint (its AutoModel).
 */
export function catalogReport(name: string, numClasses?: number): ModelReport | undefined {
  const nc = numClasses === undefined ? '' : `num_classes=${numClasses}`;
  const timmName = name.replace(/^timm[:/]/, '');
  const found: [ModuleNode | undefined, string][] = [
    [name.startsWith('timm') ? undefined : catalogTree(name, { numClasses }), `torchvision.models.${name}(${nc})`],
    [timmTree(timmName, { numClasses }), `timm.create_model(${JSON.stringify(timmName)}${nc ? `, ${nc}` : ''})`],
    [numClasses === undefined ? hfTree('AutoModel', name) : hfTree('AutoModelForSequenceClassification', name, { numLabels: numClasses }), `transformers.${numClasses === undefined ? 'AutoModel' : 'AutoModelForSequenceClassification'}.from_pretrained(${JSON.stringify(name)}${numClasses === undefined ? '' : `, num_labels=${numClasses}`})`],
  ];
  const hit = found.find(([tree]) => tree);
  if (!hit) return undefined;
  const [tree, call] = hit as [ModuleNode, string];
  return treeReport(name, 'catalog', call, tree, subtreeParams(tree));
}

/**
 * A report for a tree outside any script (a catalog architecture, an ONNX
 * file): no freeze state. `onnx` adds what the graph says of each module.
 */
export function treeReport(name: string, source: ModelSource, call: string, tree: ModuleNode, trainableParams: number | null, onnx?: ReadonlyMap<string, OnnxModuleInfo>): ModelReport {
  return { name, source, call, totalParams: subtreeParams(tree), trainableParams, root: toNode(tree, '', undefined, onnx) };
}

function toNode(tree: ModuleNode, path: string, regions: ReadonlyMap<string, Region> | undefined, onnx?: ReadonlyMap<string, OnnxModuleInfo>, parentNew = false): ModelTreeNode {
  const r = regions && regionFor(regions, path);
  // A module the script put into a pretrained model (`model.fc = nn.Linear(...)`): fresh weights, the new head.
  const isNew = !!r && !r.pretrained && !!regions?.get('')?.pretrained;
  const mode = !r ? 'train' : r.havoc || r.mode.size !== 1 ? null : tree.runningStats && r.bnEval.size === 1 && r.bnEval.has(true) ? 'eval' : [...r.mode][0];
  return {
    path,
    class: tree.cls,
    params: tree.params,
    buffers: tree.buffers,
    children: tree.children.map((c) => toNode(c, joinPath(path, c.name), regions, onnx, isNew)),
    trainable: regions ? flagOf(r) : true,
    mode,
    ...(tree.runningStats ? { batchNorm: true } : {}),
    ...(tree.dropout ? { dropout: true } : {}),
    ...(tree.partial ? { partial: true } : {}),
    ...(isNew && !parentNew ? { newModule: true } : {}),
    ...(tree.paramNames && tree.params ? { paramNames: tree.paramNames, paramSizes: tree.paramSizes } : {}),
    ...onnxFields(onnx?.get(path)),
  };
}

function onnxFields(m: OnnxModuleInfo | undefined): Pick<ModelTreeNode, 'ops' | 'outputShapes' | 'bnTrainingMode'> {
  if (!m) return {};
  return { ops: m.ops, outputShapes: m.shapes, ...(m.bnTrainingMode !== undefined ? { bnTrainingMode: m.bnTrainingMode } : {}) };
}

function trainable(tree: ModuleNode, regions: ReadonlyMap<string, Region> | undefined): number | null {
  return trainableUnder(tree, '', regions);
}

/** The JSON of `freezelens models --format json`: exactly the documented keys, and for ONNX trees what the graph says. */
export function modelsJson(reports: ModelReport[]): string {
  const strip = (n: ModelTreeNode): unknown => ({
    path: n.path,
    class: n.class,
    params: n.params,
    buffers: n.buffers,
    ...(n.ops ? { ops: n.ops, outputShapes: n.outputShapes } : {}),
    ...(n.bnTrainingMode !== undefined ? { bnTrainingMode: n.bnTrainingMode } : {}),
    children: n.children.map(strip),
  });
  return `${JSON.stringify({ models: reports.map((r) => ({ name: r.name, source: r.source, call: r.call, totalParams: r.totalParams, trainableParams: r.trainableParams, root: strip(r.root) })) })}\n`;
}

/** An indented table: module, class, own params, subtree params, buffers, state. */
export function modelsText(reports: ModelReport[]): string {
  if (reports.length === 0) return 'No models with a known structure in this file.\n';
  const lines: string[] = [];
  for (const r of reports) {
    const pct = r.totalParams && r.trainableParams !== null ? percent(r.trainableParams, r.totalParams) : '';
    lines.push(`${r.name} = ${r.call}  [${r.source}]`);
    // An export or a catalog entry on its own has no freeze state to report.
    lines.push(r.trainableParams === null && r.source === 'onnx' ? `  ${count(r.totalParams)} params` : `  trains ${count(r.trainableParams)} of ${count(r.totalParams)} params${pct}`);
    // An export that records shapes gets a column of each module's output shape (its last node's).
    const shaped = hasShapes(r.root);
    const rows: string[][] = [['module', 'class', 'params', 'total', 'buffers', 'state', ...(shaped ? ['output'] : [])]];
    const walk = (n: ModelTreeNode, depth: number): number | null => {
      const shape = n.outputShapes?.[n.outputShapes.length - 1];
      const row = [`${'  '.repeat(depth)}${n.path === '' ? '(model)' : n.path.slice(n.path.lastIndexOf('.') + 1)}`, n.class, count(n.params), '', count(n.buffers), state(n), ...(shaped ? [shape ? `[${shape.map((d) => d ?? '?').join(', ')}]` : ''] : [])];
      rows.push(row);
      let sub: number | null = n.partial ? null : n.params;
      for (const c of n.children) {
        const t = walk(c, depth + 1);
        sub = sub === null || t === null ? null : sub + t;
      }
      row[3] = count(sub);
      return sub;
    };
    walk(r.root, 0);
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) lines.push(`  ${row.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()}`);
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

function hasShapes(n: ModelTreeNode): boolean {
  return (n.outputShapes?.length ?? 0) > 0 || n.children.some(hasShapes);
}

function count(n: number | null): string {
  return n === null ? '?' : formatCount(n);
}

function state(n: ModelTreeNode): string {
  const parts: string[] = [];
  if (n.trainable === false) parts.push('frozen');
  else if (n.trainable === null) parts.push('frozen?');
  if (n.mode === 'eval') parts.push('eval');
  if (n.batchNorm) parts.push(n.bnTrainingMode ? 'BN (training_mode=1)' : 'BN');
  if (n.dropout) parts.push('dropout');
  if (n.partial) parts.push('partial');
  return parts.join(' ');
}

