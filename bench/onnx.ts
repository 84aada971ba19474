import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The ONNX reader on a real large export (torchvision resnet152, exported by
 * PyTorch at bench time, about 240 MB) and on a synthetic model over 2 GB,
 * each next to the full-decode baseline (readFileSync + protobufjs decoding
 * the whole ModelProto). Every measurement runs in a fresh Node process, so
 * peak RSS is that of the work alone.
 */

export interface OnnxBenchRow {
  label: string;
  /** Median of the first read in each fresh process. */
  medianMs: number | undefined;
  /** Median of the warm reads (after one in the same process), where measured. */
  warmMs?: number;
  runs: number[];
  peakRssMB: number | undefined;
  detail: string;
}

const PYTHON = process.env.FREEZELENS_PYTHON ?? '/usr/bin/python3';

/** Exports resnet152 with PyTorch (weights=None: the sizes are what matter). Undefined when torch is not there. */
export function exportResnet152(dir: string): { file?: string; note?: string } {
  const file = path.join(dir, 'resnet152.onnx');
  const script = [
    'import sys, torch, torchvision',
    'm = torchvision.models.resnet152(weights=None).eval()',
    'torch.onnx.export(m, torch.randn(1, 3, 224, 224), sys.argv[1], training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, opset_version=14)',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, file], { env: { ...process.env, OMP_NUM_THREADS: '2' }, encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.status !== 0 || !fs.existsSync(file)) return { note: `resnet152 export skipped: ${PYTHON} with torch and torchvision is needed (${(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop()})` };
  return { file };
}

/**
 * A model of `gigabytes` GB: a graph of initializers whose raw_data are holes
 * in a sparse file, so making it costs no time and little disk.
 */
export function writeHugeModel(file: string, gigabytes: number): number {
  const tensors = Math.ceil((gigabytes * 1024) / 700);
  const payload = 700 * 1024 * 1024;
  const parts: { header: Buffer; payload: number }[] = [];
  for (let i = 0; i < tensors; i++) {
    const header = Buffer.concat([
      field(1, varints([payload / 4])), // dims, packed
      tag(2, 0), varint(1), // data_type FLOAT
      field(8, Buffer.from(`layer${i}.weight`)),
      tag(9, 2), varint(payload), // raw_data: the payload follows
    ]);
    parts.push({ header, payload });
  }
  const initializers = parts.map((p) => ({ lead: Buffer.concat([tag(5, 2), varint(p.header.length + p.payload)]), ...p }));
  const graphLen = field(2, Buffer.from('huge')).length + initializers.reduce((n, p) => n + p.lead.length + p.header.length + p.payload, 0);
  const fd = fs.openSync(file, 'w');
  try {
    let pos = 0;
    const write = (b: Buffer) => {
      fs.writeSync(fd, b, 0, b.length, pos);
      pos += b.length;
    };
    write(Buffer.concat([tag(1, 0), varint(8), field(8, Buffer.concat([tag(2, 0), varint(14)])), tag(7, 2), varint(graphLen), field(2, Buffer.from('huge'))]));
    for (const p of initializers) {
      write(p.lead);
      write(p.header);
      pos += p.payload; // a hole: never written, reads as zeros
    }
    fs.ftruncateSync(fd, pos);
    return pos;
  } finally {
    fs.closeSync(fd);
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
function varints(ns: number[]): Buffer {
  return Buffer.concat(ns.map(varint));
}
function tag(id: number, wire: number): Buffer {
  return varint(id * 8 + wire);
}
function field(id: number, payload: Buffer): Buffer {
  return Buffer.concat([tag(id, 2), varint(payload.length), payload]);
}

/** Runs `code` in a fresh Node process `runs` times; each prints {ms, detail}; returns times and the largest peak RSS. */
function measure(root: string, code: string, file: string, runs: number): { runs: number[]; warm: number[]; peakRssMB: number; detail: string } | { error: string } {
  const times: number[] = [];
  const warm: number[] = [];
  let peak = 0;
  let detail = '';
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ['-e', code, file], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) return { error: (r.stderr || r.stdout).split('\n').find((l) => /Error/.test(l))?.trim() ?? `exit ${r.status}` };
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    times.push(out.ms);
    if (out.warmMs !== undefined) warm.push(out.warmMs);
    peak = Math.max(peak, out.rssMB);
    detail = out.detail;
  }
  return { runs: times, warm, peakRssMB: peak, detail };
}

/** One read in a fresh process (cold: the JIT has compiled nothing yet), then five more (warm: an editor that has read a model before). */
const READER = `
const { readOnnx } = require('./out/server/src/onnx/reader');
const { onnxModuleTree } = require('./out/server/src/onnx/moduleTree');
const { subtreeParams } = require('./out/server/src/models/tree');
const once = () => {
  const t0 = performance.now();
  const model = readOnnx(process.argv[1]);
  const tree = onnxModuleTree(model);
  return { ms: performance.now() - t0, model, tree };
};
const cold = once();
const warm = [1, 2, 3, 4, 5].map(() => once().ms).sort((a, b) => a - b)[2];
const { model, tree } = cold;
console.log(JSON.stringify({ ms: cold.ms, warmMs: warm, rssMB: process.resourceUsage().maxRSS / 1024, detail: model.graph.nodes.length + ' nodes, ' + model.graph.initializers.length + ' initializers, ' + subtreeParams(tree.tree) + ' params' }));
`;

const FULL_DECODE = `
const fs = require('fs');
const protobuf = require('protobufjs');
const { ONNX_SCHEMA } = require('./out/server/src/onnx/schema');
const Model = protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
const t0 = performance.now();
const m = Model.decode(fs.readFileSync(process.argv[1]));
const ms = performance.now() - t0;
console.log(JSON.stringify({ ms, rssMB: process.resourceUsage().maxRSS / 1024, detail: m.graph.node.length + ' nodes, ' + m.graph.initializer.length + ' initializers' }));
`;

export function benchOnnx(root: string, tmp: string, runs = 5): { rows: OnnxBenchRow[]; notes: string[] } {
  const rows: OnnxBenchRow[] = [];
  const notes: string[] = [];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const add = (label: string, r: ReturnType<typeof measure>) => {
    if ('error' in r) rows.push({ label, medianMs: undefined, runs: [], peakRssMB: undefined, detail: `failed: ${r.error}` });
    else rows.push({ label, medianMs: median(r.runs), warmMs: r.warm.length > 0 ? median(r.warm) : undefined, runs: r.runs, peakRssMB: r.peakRssMB, detail: r.detail });
  };
  const resnet = exportResnet152(tmp);
  if (resnet.file) {
    const mb = (fs.statSync(resnet.file).size / 1e6).toFixed(0);
    add(`**resnet152 (${mb} MB): graph + module tree, streaming reader**`, measure(root, READER, resnet.file, runs));
    add(`resnet152 (${mb} MB): readFileSync + protobufjs full decode`, measure(root, FULL_DECODE, resnet.file, runs));
  } else if (resnet.note) notes.push(resnet.note);
  const huge = path.join(tmp, 'huge.onnx');
  const size = writeHugeModel(huge, 2.1);
  const gb = (size / 2 ** 30).toFixed(2);
  add(`**synthetic ${gb} GiB model (sparse file): streaming reader**`, measure(root, READER, huge, Math.min(runs, 3)));
  add(`synthetic ${gb} GiB model: readFileSync + full decode`, measure(root, FULL_DECODE, huge, 1));
  fs.rmSync(huge, { force: true });
  try {
    execFileSync('sync');
  } catch {
    // not needed for the numbers; only frees the page cache sooner
  }
  return { rows, notes };
}
