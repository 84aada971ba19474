// The streaming ONNX reader against what Python's onnx reads out of the same
// files (the fixtures and their .expected.json come from
// scripts/gen-onnx-fixtures.py, run with real PyTorch and onnx), and on bad
// input: every broken file is an OnnxError naming the file and the offset,
// never a crash or a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OnnxError, readOnnx, readTensorBytes, type OnnxGraph, type OnnxModel } from '../../server/src/onnx/reader';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'onnx');
const fixtures = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx'));

/** The reader's model in the shape the generator writes from Python's onnx. */
function describe(m: OnnxModel) {
  const graph = (g: OnnxGraph): unknown => ({
    name: g.name,
    initializers: g.initializers.map((t) => ({
      name: t.name,
      dims: t.dims,
      dataType: t.dataType,
      external: !!t.external,
      externalData: t.external?.entries ?? {},
      rawBytes: t.payload?.field === 'raw_data' ? t.payload.length : 0,
    })),
    nodes: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      inputs: n.inputs,
      outputs: n.outputs,
      attributes: n.attributes.map((a) => a.name).sort(),
      subgraphs: n.attributes.filter((a) => a.g).map((a) => graph(a.g!)),
    })),
    inputs: g.inputs.map((v) => ({ name: v.name, elemType: v.elemType, dims: v.dims })),
    outputs: g.outputs.map((v) => ({ name: v.name, elemType: v.elemType, dims: v.dims })),
    valueInfo: g.valueInfo.map((v) => ({ name: v.name, dims: v.dims })),
  });
  return { irVersion: m.irVersion, producerName: m.producerName, producerVersion: m.producerVersion, opsets: m.opsets, graph: graph(m.graph) };
}

test('fixtures cover the three export modes, external data and subgraphs', () => {
  for (const name of ['tiny_cnn.eval.onnx', 'tiny_cnn.preserve.onnx', 'tiny_cnn.training.onnx', 'tiny_transformer.preserve.onnx', 'tiny_cnn.external.onnx', 'branches.onnx']) {
    assert.ok(fixtures.includes(name), name);
  }
});

for (const f of fixtures) {
  test(`${f}: the reader agrees with Python's onnx`, () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, f.replace(/\.onnx$/, '.expected.json')), 'utf8'));
    const model = readOnnx(path.join(FIXTURES, f));
    assert.deepEqual(JSON.parse(JSON.stringify(describe(model))), expected);
  });
}

test('tensor data is read only when asked, inline or from the external file', () => {
  const inline = readOnnx(path.join(FIXTURES, 'tiny_cnn.preserve.onnx'));
  const fc = inline.graph.initializers.find((t) => t.name === 'fc.weight')!;
  assert.deepEqual(fc.dims, [5, 16]);
  const bytes = readTensorBytes(inline, fc);
  assert.equal(bytes.length, 5 * 16 * 4);
  const external = readOnnx(path.join(FIXTURES, 'tiny_cnn.external.onnx'));
  const fcExt = external.graph.initializers.find((t) => t.name === 'fc.weight')!;
  assert.equal(fcExt.external?.file, path.join(FIXTURES, 'tiny_cnn.external.data'));
  assert.equal(fcExt.problem, undefined);
  // The same weights, whether stored inline or outside.
  assert.deepEqual(readTensorBytes(external, fcExt), bytes);
});

// ---- bad input ---------------------------------------------------------------

function withFile(bytes: Buffer | Uint8Array, extra: Record<string, Buffer> = {}): { file: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-onnx-'));
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, bytes);
  for (const [name, b] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), b);
  return { file, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function expectError(bytes: Buffer | Uint8Array, pattern: RegExp): OnnxError {
  const { file, done } = withFile(bytes);
  try {
    let err: unknown;
    try {
      readOnnx(file);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OnnxError, `expected an OnnxError, got ${err}`);
    assert.match(err.message, pattern);
    assert.ok(err.message.includes(file), 'the message names the file');
    return err;
  } finally {
    done();
  }
}

/** A protobuf field: tag and payload. */
function field(id: number, payload: Buffer): Buffer {
  return Buffer.concat([varint(id * 8 + 2), varint(payload.length), payload]);
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

test('bad input: empty, random, truncated, lengths past the end, long varints', () => {
  expectError(Buffer.alloc(0), /at byte 0: the file is empty/);
  const sample = fs.readFileSync(path.join(FIXTURES, 'tiny_cnn.preserve.onnx'));
  const truncated = expectError(sample.subarray(0, Math.floor(sample.length / 2)), /runs past the end|unexpected end/);
  assert.ok(truncated.offset > 0 && truncated.offset <= sample.length);
  // A graph field claiming a million bytes in a 10-byte file.
  expectError(Buffer.concat([varint(7 * 8 + 2), varint(1_000_000), Buffer.alloc(5)]), /runs past the end/);
  // A varint of 11 continuation bytes.
  expectError(Buffer.from([0x08, ...Array(11).fill(0xff), 0x01]), /varint longer than 10 bytes/);
  // Random bytes: an error, never a crash.
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
  expectError(Buffer.from(Array.from({ length: 4096 }, () => rand() % 256)), /not a readable ONNX model/);
});

test('bad input: subgraphs nested past the limit, absurd counts', () => {
  // Graph > node(If) > attribute(g) > graph > ..., 200 deep.
  let graph: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 200; i++) {
    const attribute = Buffer.concat([field(1, Buffer.from('then_branch')), field(6, graph)]);
    const node = Buffer.concat([field(4, Buffer.from('If')), field(5, attribute)]);
    graph = field(1, node);
  }
  expectError(field(7, graph), /nested deeper than 64/);
  // A graph input whose type is a sequence of a sequence of ... 1,000 deep: refused, not a stack overflow.
  let type: Buffer = Buffer.alloc(0);
  for (let i = 0; i < 1_000; i++) type = field(4, field(1, type)); // TypeProto.sequence_type > Sequence.elem_type
  expectError(field(7, field(11, Buffer.concat([field(1, Buffer.from('x')), field(2, type)]))), /messages nested deeper than 256/);
  // A tensor with two million dims.
  const dims = Buffer.concat(Array.from({ length: 2_000_001 }, () => Buffer.from([1])));
  const tensor = Buffer.concat([field(1, dims), field(8, Buffer.from('t'))]);
  expectError(field(7, field(5, tensor)), /more than 1048576/);
});

test('bad input: external data that escapes the folder, is missing or is short', () => {
  const tensor = (location: string, length: number) => {
    const entry = (k: string, v: string) => field(13, Buffer.concat([field(1, Buffer.from(k)), field(2, Buffer.from(v))]));
    return Buffer.concat([field(8, Buffer.from('w')), entry('location', location), entry('length', String(length)), varint(14 * 8), varint(1)]);
  };
  const model = (location: string, length: number) => field(7, Buffer.concat([field(2, Buffer.from('g')), field(5, tensor(location, length))]));
  for (const [location, problem] of [
    ['../../etc/passwd', /outside the model's folder/],
    ['/etc/passwd', /outside the model's folder/],
    ['missing.bin', /missing/],
    ['short.bin', /has 4 bytes; this tensor needs bytes up to 16/],
  ] as const) {
    const { file, done } = withFile(model(location, 16), { 'short.bin': Buffer.alloc(4) });
    try {
      const m = readOnnx(file);
      assert.match(m.graph.initializers[0].problem ?? '', problem, location);
      assert.throws(() => readTensorBytes(m, m.graph.initializers[0]));
    } finally {
      done();
    }
  }
});

test('mutation fuzz: bit flips and truncations of every fixture end in a model or an OnnxError', () => {
  let seed = 20261129;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let cases = 0;
  let errors = 0;
  for (const f of fixtures) {
    const original = fs.readFileSync(path.join(FIXTURES, f));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-onnx-fuzz-'));
    const file = path.join(dir, 'm.onnx');
    try {
      for (let i = 0; i < 300; i++) {
        const b = Buffer.from(original);
        const flips = 1 + rand(8);
        for (let k = 0; k < flips; k++) b[rand(b.length)] ^= 1 << rand(8);
        fs.writeFileSync(file, rand(4) === 0 ? b.subarray(0, rand(b.length)) : b);
        cases++;
        try {
          readOnnx(file);
        } catch (e) {
          if (!(e instanceof OnnxError)) throw new Error(`${f}, case ${i}: ${(e as Error).stack}`);
          errors++;
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.ok(cases >= 2000, `${cases} cases`);
  assert.ok(errors > 0 && errors < cases, `${errors} of ${cases} rejected`);
});

test("inputs and outputs agree with onnxruntime-node's session metadata on every fixture", async () => {
  // onnxruntime-node's CPU build ships in the npm package; .npmrc skips the download of its CUDA binaries.
  const ort = await import('onnxruntime-node');
  const elemTypes: Record<number, string> = { 1: 'float32', 7: 'int64', 9: 'bool' };
  for (const f of fixtures) {
    const session = await ort.InferenceSession.create(path.join(FIXTURES, f));
    const model = readOnnx(path.join(FIXTURES, f));
    const initializers = new Set(model.graph.initializers.map((t) => t.name));
    const inputs = model.graph.inputs.filter((v) => !initializers.has(v.name));
    assert.deepEqual(session.inputNames, inputs.map((v) => v.name), f);
    assert.deepEqual(session.outputNames, model.graph.outputs.map((v) => v.name), f);
    const meta = [...session.inputMetadata, ...session.outputMetadata] as { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] }[];
    for (const v of [...inputs, ...model.graph.outputs]) {
      const m = meta.find((x) => x.name === v.name)!;
      assert.equal(m.type, elemTypes[v.elemType!], `${f} ${v.name}`);
      assert.deepEqual(m.shape, v.dims, `${f} ${v.name}`);
    }
    await session.release();
  }
});
