import { subtreeBuffers, subtreeParams } from '../models/tree';
import { allGraphs, onnxModuleTree, type OnnxModuleTree } from './moduleTree';
import { OnnxError, readOnnx, type OnnxModel, type OnnxValueInfo } from './reader';
import { ONNX_RULES, type OnnxDiagnostic } from './rules';
import { isRuleEnabled, severityFor, type EffectiveConfig } from '../config/config';

export type { OnnxDiagnostic } from './rules';

/**
 * What FreezeLens says about one .onnx file: a summary, the module tree,
 * and its diagnostics. The CLI (`freezelens onnx`) and, later, the editor
 * and the Problems panel show the same.
 */

export interface OnnxSummary {
  producer: string;
  irVersion?: number;
  opsets: { domain: string; version: number }[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  totalParams: number | null;
  totalBuffers: number | null;
  initializers: number;
  nodes: number;
  /** Op type → count over the graph and its subgraphs, most used first. */
  ops: [string, number][];
}

export interface OnnxReport {
  file: string;
  model?: OnnxModel;
  summary?: OnnxSummary;
  modules?: OnnxModuleTree;
  diagnostics: OnnxDiagnostic[];
}

export function inspectOnnx(file: string): OnnxReport {
  let model: OnnxModel;
  try {
    model = readOnnx(file);
  } catch (e) {
    if (e instanceof OnnxError) return { file, diagnostics: [diag('FRZ105', `Not a readable ONNX model: ${e.reason} (at byte ${e.offset}).`, undefined, e.offset)] };
    const err = e as NodeJS.ErrnoException;
    return { file, diagnostics: [diag('FRZ105', `Cannot read the file${err.code ? ` (${err.code})` : ''}: ${err.message}`)] };
  }
  const modules = onnxModuleTree(model);
  const ops = new Map<string, number>();
  let nodes = 0;
  for (const g of allGraphs(model.graph)) {
    for (const n of g.nodes) {
      nodes++;
      ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
    }
  }
  const summary: OnnxSummary = {
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    irVersion: model.irVersion,
    opsets: model.opsets,
    inputs: model.graph.inputs.filter((v) => !model.graph.initializers.some((t) => t.name === v.name)),
    outputs: model.graph.outputs,
    totalParams: subtreeParams(modules.tree),
    totalBuffers: subtreeBuffers(modules.tree),
    initializers: model.graph.initializers.length,
    nodes,
    ops: [...ops].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
  };
  return { file, model, summary, modules, diagnostics: diagnose(model, modules) };
}

function diag(ruleId: OnnxDiagnostic['ruleId'], message: string, where?: string, offset?: number): OnnxDiagnostic {
  return { ruleId, name: ONNX_RULES[ruleId].name, severity: ONNX_RULES[ruleId].severity, message, ...(where ? { where } : {}), ...(offset !== undefined ? { offset } : {}) };
}

function diagnose(model: OnnxModel, modules: OnnxModuleTree): OnnxDiagnostic[] {
  const out: OnnxDiagnostic[] = [];
  const graphs = [...allGraphs(model.graph)];
  const nodes = graphs.flatMap((g) => g.nodes);
  const bnTraining = nodes.filter((n) => n.opType === 'BatchNormalization' && n.attributes.some((a) => a.name === 'training_mode' && a.i === 1));
  if (bnTraining.length > 0) {
    out.push(
      diag(
        'FRZ101',
        `${bnTraining.length === 1 ? '1 BatchNormalization node runs' : `${bnTraining.length} BatchNormalization nodes run`} in training mode (training_mode=1), the export of \`TrainingMode.TRAINING\`: at inference they normalize each batch with its own statistics and output the updated running statistics. Export with \`model.eval()\` and \`TrainingMode.EVAL\` or \`PRESERVE\` for inference.`,
        bnTraining[0].name,
      ),
    );
  }
  // In opset 12+, Dropout's third input says whether it is training; the exporter sets it to a constant True.
  const dropout = nodes.filter((n) => n.opType === 'Dropout' && n.inputs.length >= 3 && n.inputs[2] !== '');
  if (dropout.length > 0) {
    out.push(
      diag(
        'FRZ102',
        `${dropout.length === 1 ? '1 Dropout node takes' : `${dropout.length} Dropout nodes take`} a training_mode input, as a \`TrainingMode.TRAINING\` export writes them: run for inference, they drop activations at random. Export in eval mode.`,
        dropout[0].name,
      ),
    );
  }
  // EVAL exports fold BatchNorm into the Conv before it and give the folded weights exporter names.
  const folded = modules.batchNormNodes === 0 && nodes.some((n) => n.opType === 'Conv' && n.inputs.slice(1).some((i) => /^onnx::Conv_\d+$/.test(i)));
  if (folded) {
    out.push(
      diag(
        'FRZ103',
        'This export folded BatchNorm into the Conv layers (their weights are renamed `onnx::Conv_…`), so where BatchNorm sits and whether it is frozen cannot be analysed from this file. Export with `model.eval()` and `training=torch.onnx.TrainingMode.PRESERVE` to keep BatchNorm and PyTorch\'s names.',
      ),
    );
  }
  for (const g of graphs) {
    for (const t of [...g.initializers, ...g.nodes.flatMap((n) => n.attributes.flatMap((a) => (a.t ? [a.t] : [])))]) {
      if (t.problem) out.push(diag('FRZ104', `Tensor \`${t.name}\`: ${t.problem}.`, t.name));
    }
  }
  return out;
}

/** `[1, 3, 224, 224]`, `[batch, 3, 224, 224]`, or `?` where the shape is not recorded. */
export function formatShape(dims: (number | string | null)[] | undefined): string {
  return dims ? `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '?';
}

/** The diagnostics the configuration keeps, at the severity it sets. */
export function configureOnnx(diagnostics: OnnxDiagnostic[], config: EffectiveConfig): OnnxDiagnostic[] {
  return diagnostics.filter((d) => isRuleEnabled(config, d.ruleId)).map((d) => ({ ...d, severity: severityFor(config, d.ruleId, d.severity) }));
}
