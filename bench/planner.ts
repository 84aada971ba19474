/**
 * The freeze planner on large models: what opening a model, expanding a
 * node and ticking a checkbox cost in the planner's state (the counts and
 * checkbox states that the tree view reads for each row it shows).
 *
 * Models: a synthetic 100-block transformer of 5,000 modules, and, where
 * PyTorch is installed, a 100-layer nn.TransformerEncoder exported to ONNX
 * at bench time and read back through the ONNX reader.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PlannerState } from '../client/src/planner/plannerState';
import type { ModelTreeNode } from '../server/src/engine/models';
import { onnxTarget } from '../server/src/engine/planTarget';
import type { PlanModel } from '../server/src/protocol';
import { DEFAULT_STYLE } from '../server/src/plan/codegen';
import { median } from './stats';

export interface PlannerBenchRow {
  model: string;
  modules: number;
  open: number;
  expandRoot: number;
  expandBlock: number;
  toggle: number;
}

const PYTHON = process.env.FREEZELENS_PYTHON ?? '/usr/bin/python3';

/** 100 blocks of 50 modules each (attention, MLP, norms, adapters), plus embeddings, containers and a head: 5,006 modules. */
export function syntheticTransformer(blocks = 100): ModelTreeNode {
  const leaf = (p: string, cls: string, params: number): ModelTreeNode => ({ path: p, class: cls, params, buffers: 0, children: [] });
  const block = (i: number): ModelTreeNode => {
    const b = `encoder.layers.${i}`;
    const kids: ModelTreeNode[] = [
      { path: `${b}.attn`, class: 'Attention', params: 0, buffers: 0, children: ['q', 'k', 'v', 'out'].map((n) => leaf(`${b}.attn.${n}`, 'Linear', 65_792)) },
      { path: `${b}.mlp`, class: 'Mlp', params: 0, buffers: 0, children: [leaf(`${b}.mlp.fc1`, 'Linear', 263_168), leaf(`${b}.mlp.act`, 'GELU', 0), leaf(`${b}.mlp.fc2`, 'Linear', 262_400), leaf(`${b}.mlp.drop`, 'Dropout', 0)] },
      leaf(`${b}.norm1`, 'LayerNorm', 512),
      leaf(`${b}.norm2`, 'LayerNorm', 512),
    ];
    // Adapters: small modules that make blocks deep and numerous, as PEFT-style models are.
    for (let a = 0; a < 37; a++) kids.push(leaf(`${b}.adapter${a}`, 'Linear', 4_112));
    return { path: b, class: 'Block', params: 0, buffers: 0, children: kids };
  };
  const layers: ModelTreeNode = { path: 'encoder.layers', class: 'ModuleList', params: 0, buffers: 0, children: Array.from({ length: blocks }, (_, i) => block(i)) };
  return {
    path: '',
    class: 'Transformer',
    params: 0,
    buffers: 0,
    children: [leaf('embed', 'Embedding', 16_384_000), { path: 'encoder', class: 'Encoder', params: 0, buffers: 0, children: [layers, leaf('encoder.norm', 'LayerNorm', 512)] }, leaf('head', 'Linear', 2_570)],
  };
}

/** A 100-layer nn.TransformerEncoder exported with PyTorch (PRESERVE keeps its names); undefined without torch. */
export function exportTransformer(dir: string): { file?: string; note?: string } {
  const file = path.join(dir, 'transformer100.onnx');
  const script = [
    'import sys, torch, torch.nn as nn',
    'layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64)',
    'm = nn.Sequential(nn.TransformerEncoder(layer, num_layers=100), nn.Linear(32, 10)).eval()',
    'torch.onnx.export(m, torch.randn(6, 1, 32), sys.argv[1], training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, opset_version=14)',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, file], { env: { ...process.env, OMP_NUM_THREADS: '2' }, encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0 || !fs.existsSync(file)) return { note: `ONNX transformer skipped: ${PYTHON} with torch is needed (${(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop()})` };
  return { file };
}

function count(n: ModelTreeNode): number {
  return 1 + n.children.reduce((s, c) => s + count(c), 0);
}

/** What the view computes for each row it shows when a node is expanded. */
function expand(s: PlannerState, path: string): number {
  let chars = 0;
  for (const c of s.node(path)!.children) {
    const state = s.state(c);
    const total = s.total(c);
    chars += `${c.class} · ${(total - s.frozen(c)).toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${state}`.length;
  }
  return chars;
}

function time(f: () => void, runs: number): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

function benchModel(name: string, root: ModelTreeNode, blockPath: string, runs: number): PlannerBenchRow {
  const model: PlanModel = { key: name, name, source: 'onnx', totalParams: null, root, pretrained: true, style: DEFAULT_STYLE, notes: [] };
  let s = new PlannerState(model);
  const open = time(() => {
    s = new PlannerState(model);
    expand(s, '');
  }, runs);
  // Each expansion right after a plan change: nothing memoised.
  const expandRoot = time(() => {
    s.configure({ lr: s.plan.lr });
    expand(s, '');
  }, runs);
  const expandBlock = time(() => {
    s.configure({ lr: s.plan.lr });
    expand(s, blockPath);
  }, runs);
  let on = false;
  const toggle = time(() => {
    on = !on;
    s.setFrozen(blockPath, on);
    expand(s, '');
  }, runs);
  return { model: name, modules: count(root), open, expandRoot, expandBlock, toggle };
}

export function benchPlanner(tmp: string, runs = 20): { rows: PlannerBenchRow[]; notes: string[] } {
  const rows = [benchModel('synthetic 100-block transformer', syntheticTransformer(), 'encoder.layers.50', runs)];
  const notes: string[] = [];
  const exported = exportTransformer(tmp);
  if (exported.file) {
    const target = onnxTarget(exported.file);
    const root = target.report.root;
    const layers = root.children[0]?.children.find((c) => c.path.endsWith('layers'));
    rows.push(benchModel('nn.TransformerEncoder, 100 layers, from ONNX', root, layers?.children[50]?.path ?? '', runs));
  } else if (exported.note) notes.push(exported.note);
  return { rows, notes };
}
