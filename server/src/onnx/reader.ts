import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { ONNX_SCHEMA } from './schema';

/**
 * A streaming reader of ONNX models: the graph's structure (nodes,
 * attributes, subgraphs, inputs, outputs, value_info, initializer names,
 * dims and types, opsets) with positioned reads, never the tensor payloads.
 * Each payload's offset and length are recorded, so a tensor can be loaded
 * when asked (`readTensorBytes`).
 *
 * The messages come from the official onnx.proto (schema.ts): fields are
 * found and typed through protobufjs's reflection, and small messages
 * (ValueInfoProto, OperatorSetIdProto, ...) are decoded by protobufjs
 * itself. Only the wire-level walk is written here, because no library reads
 * a protobuf lazily from a file: protobufjs, like every decoder, wants the
 * whole message in memory, which for a model means every weight.
 */

export interface PayloadRef {
  /** The TensorProto field that holds the data: raw_data, float_data, int64_data, ... */
  field: string;
  /** Byte offset in the model file and length of the field's bytes. */
  offset: number;
  length: number;
}

export interface ExternalRef {
  /** The `external_data` entries as written (location, offset, length, checksum). */
  entries: Record<string, string>;
  location: string;
  /** The resolved file, inside the model's folder. */
  file: string;
  offset: number;
  /** Bytes to read; undefined: to the end of the file. */
  length?: number;
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Inline data, not read. */
  payload?: PayloadRef;
  external?: ExternalRef;
  /** A problem with this tensor's data (a missing or short external file, a path that escapes). */
  problem?: string;
}

export interface OnnxAttribute {
  name: string;
  type: number;
  i?: number;
  f?: number;
  s?: string;
  ints?: number[];
  floats?: number[];
  strings?: string[];
  t?: OnnxTensor;
  g?: OnnxGraph;
  tensors?: OnnxTensor[];
  graphs?: OnnxGraph[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType of a tensor type; undefined for other types (sequences, maps). */
  elemType?: number;
  /** Dimensions: a size, a symbolic name, or null when unset; undefined when the shape is unknown. */
  dims?: (number | string | null)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}

export interface OnnxModel {
  file: string;
  size: number;
  irVersion?: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion?: number;
  opsets: { domain: string; version: number }[];
  metadata: Record<string, string>;
  graph: OnnxGraph;
}

/** A file that is not a readable ONNX model, with where the reader stopped. */
export class OnnxError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file}: not a readable ONNX model at byte ${offset}: ${reason}`);
  }
}

export interface ReadLimits {
  /** Subgraphs nested deeper than this (If inside Loop inside ...) are refused. */
  maxDepth: number;
  /** Nodes, initializers and value infos over the whole model. */
  maxItems: number;
  /** A string (a name) longer than this is refused. */
  maxStringBytes: number;
  /** A small message decoded whole (ValueInfoProto, ...) longer than this is refused. */
  maxMessageBytes: number;
  /** Elements of one repeated scalar field (dims, ints). */
  maxRepeated: number;
}

export const DEFAULT_LIMITS: ReadLimits = { maxDepth: 64, maxItems: 5_000_000, maxStringBytes: 1 << 20, maxMessageBytes: 16 << 20, maxRepeated: 1 << 20 };

const root = protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace);
const T = (name: string) => root.lookupType(`onnx.${name}`);
const MODEL = T('ModelProto');
const GRAPH = T('GraphProto');
const NODE = T('NodeProto');
const ATTRIBUTE = T('AttributeProto');
const TENSOR = T('TensorProto');
/** Messages walked field by field: they can hold tensors or graphs. Every other message is decoded whole. */
const WALKED = new Set([MODEL, GRAPH, NODE, ATTRIBUTE, T('TrainingInfoProto'), T('FunctionProto')]);
/** Messages that hold tensor data and nothing the reader reports: skipped unread. */
const SKIPPED = new Set([T('SparseTensorProto')]);
/** TensorProto fields that hold the data. */
const PAYLOAD_FIELDS = new Set(['raw_data', 'float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data']);
const DATA_LOCATION_EXTERNAL = 1;

/**
 * Positioned reads through a small block cache: memory stays a few blocks
 * whatever the file's size, and reading the graph touches only the blocks
 * that hold structure (a tensor's payload is jumped over, never read).
 */
class Source {
  private static readonly BLOCK = 1 << 16;
  private readonly blocks = new Map<number, Buffer>();
  readonly size: number;

  constructor(
    readonly file: string,
    private readonly fd: number,
  ) {
    this.size = fs.fstatSync(fd).size;
  }

  private block(index: number): Buffer {
    let b = this.blocks.get(index);
    if (b) return b;
    const start = index * Source.BLOCK;
    const len = Math.min(Source.BLOCK, this.size - start);
    b = Buffer.allocUnsafe(Math.max(0, len));
    let read = 0;
    while (read < len) {
      const n = fs.readSync(this.fd, b, read, len - read, start + read);
      if (n === 0) break;
      read += n;
    }
    if (this.blocks.size >= 8) this.blocks.delete(this.blocks.keys().next().value!);
    this.blocks.set(index, b);
    return b;
  }

  byte(pos: number): number {
    if (pos >= this.size) throw new OnnxError(this.file, pos, 'unexpected end of file');
    return this.block(Math.floor(pos / Source.BLOCK))[pos % Source.BLOCK];
  }

  bytes(pos: number, len: number): Buffer {
    if (pos + len > this.size) throw new OnnxError(this.file, pos, `a field of ${len} bytes runs past the end of the file (${this.size} bytes)`);
    const out = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const at = pos + done;
      const b = this.block(Math.floor(at / Source.BLOCK));
      const from = at % Source.BLOCK;
      const n = Math.min(len - done, b.length - from);
      b.copy(out, done, from, from + n);
      done += n;
    }
    return out;
  }

  /** A varint at `pos`: its value (exact up to 2^53) and the position after it. */
  varint(pos: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(pos + i);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return [value, pos + i + 1];
    }
    throw new OnnxError(this.file, pos, 'a varint longer than 10 bytes');
  }
}

/** Reads the structure of an ONNX model file. Throws OnnxError for a file that is not one. */
export function readOnnx(file: string, limits: ReadLimits = DEFAULT_LIMITS): OnnxModel {
  const fd = fs.openSync(file, 'r');
  try {
    const src = new Source(file, fd);
    if (src.size === 0) throw new OnnxError(file, 0, 'the file is empty');
    const reader = new Reader(src, limits);
    const m = reader.message(MODEL, 0, src.size, 0);
    const graph = m.graph as Walked | undefined;
    if (!graph) throw new OnnxError(file, 0, 'no graph (ModelProto field 7)');
    const model: OnnxModel = {
      file,
      size: src.size,
      irVersion: num(m.ir_version),
      producerName: str(m.producer_name),
      producerVersion: str(m.producer_version),
      domain: str(m.domain),
      modelVersion: num(m.model_version),
      opsets: list(m.opset_import).map((o) => ({ domain: str((o as Decoded).domain), version: num((o as Decoded).version) ?? 0 })),
      metadata: Object.fromEntries(list(m.metadata_props).map((e) => [str((e as Decoded).key), str((e as Decoded).value)])),
      graph: toGraph(graph),
    };
    resolveExternal(model);
    return model;
  } finally {
    fs.closeSync(fd);
  }
}

type Decoded = Record<string, unknown>;
/** A walked message: its fields by name; repeated ones as arrays. */
type Walked = Decoded;

class Reader {
  private items = 0;

  constructor(
    private readonly src: Source,
    private readonly limits: ReadLimits,
  ) {}

  private fail(pos: number, reason: string): never {
    throw new OnnxError(this.src.file, pos, reason);
  }

  /** Walks the fields of a message in [start, end). */
  message(type: protobuf.Type, start: number, end: number, depth: number): Walked {
    if (depth > this.limits.maxDepth) this.fail(start, `subgraphs nested deeper than ${this.limits.maxDepth}`);
    const out: Walked = {};
    let pos = start;
    while (pos < end) {
      const one = this.oneField(type, pos, end, depth);
      this.store(out, one, pos);
      pos = one.next;
    }
    return out;
  }

  private store(out: Walked, one: { field?: protobuf.Field; value: unknown }, at: number): void {
    const { field, value } = one;
    if (!field || value === undefined) return;
    if (!field.repeated) {
      out[field.name] = value;
      return;
    }
    const arr = (out[field.name] as unknown[] | undefined) ?? [];
    if (Array.isArray(value) && !field.resolvedType) arr.push(...value);
    else arr.push(value);
    if (arr.length > this.limits.maxRepeated) this.fail(at, `more than ${this.limits.maxRepeated} values in ${field.name}`);
    out[field.name] = arr;
  }

  /** One field of a message at `pos`: the schema says what it is; an unknown field is skipped. */
  private oneField(type: protobuf.Type, pos: number, end: number, depth: number): { field?: protobuf.Field; value: unknown; next: number } {
    const tagAt = pos;
    const [tag, afterTag] = this.src.varint(pos);
    const id = Math.floor(tag / 8);
    const wire = tag % 8;
    if (id === 0) this.fail(tagAt, 'field number 0');
    const field = type.fieldsById[id];
    pos = afterTag;
    let value: unknown;
    let next: number;
    switch (wire) {
      case 0: {
        const [v, after] = this.src.varint(pos);
        value = field ? scalarFromVarint(field.type, v) : undefined;
        next = after;
        break;
      }
      case 1:
        value = field ? fixed64(this.src.bytes(pos, 8), field.type) : undefined;
        next = pos + 8;
        break;
      case 5:
        value = field ? fixed32(this.src.bytes(pos, 4), field.type) : undefined;
        next = pos + 4;
        break;
      case 2: {
        const [len, body] = this.src.varint(pos);
        if (body + len > end) this.fail(pos, `a length of ${len} bytes runs past the end of its message (at ${end})`);
        value = field ? this.lengthDelimited(field, body, body + len, depth) : undefined;
        next = body + len;
        break;
      }
      default:
        this.fail(tagAt, `wire type ${wire} (groups are not used by ONNX)`);
    }
    if (next > end) this.fail(tagAt, `a field runs past the end of its message (at ${end})`);
    return { field, value, next };
  }

  private lengthDelimited(field: protobuf.Field, start: number, end: number, depth: number): unknown {
    const len = end - start;
    const type = field.resolvedType;
    if (type instanceof protobuf.Type) {
      if (type === TENSOR) return this.tensor(start, end);
      if (++this.items > this.limits.maxItems) this.fail(start, `more than ${this.limits.maxItems} nodes, tensors and values`);
      if (WALKED.has(type)) return this.message(type, start, end, type === GRAPH ? depth + 1 : depth);
      if (SKIPPED.has(type)) return undefined;
      if (len > this.limits.maxMessageBytes) this.fail(start, `a ${type.name} of ${len} bytes`);
      try {
        return type.toObject(type.decode(this.src.bytes(start, len)), { longs: Number, enums: Number, bytes: String, defaults: false, arrays: true });
      } catch (e) {
        this.fail(start, `a ${type.name} that does not decode (${(e as Error).message})`);
      }
    }
    if (field.type === 'string') {
      // A doc string can be long, and nothing here shows it: skipped, as a payload would be.
      if (field.name === 'doc_string') return undefined;
      if (len > this.limits.maxStringBytes) this.fail(start, `a string of ${len} bytes in ${field.name}`);
      return this.src.bytes(start, len).toString('utf8');
    }
    if (field.type === 'bytes') return { offset: start, length: len };
    // A packed repeated scalar (dims, ints, floats).
    if (!field.repeated) this.fail(start, `a length-delimited ${field.type} in ${field.name}`);
    return this.packed(field.type, start, end);
  }

  private packed(type: string, start: number, end: number): number[] {
    const out: number[] = [];
    if (type === 'float' || type === 'fixed32' || type === 'sfixed32') {
      if ((end - start) % 4 !== 0) this.fail(start, 'packed 32-bit values of a length not a multiple of 4');
      if ((end - start) / 4 > this.limits.maxRepeated) this.fail(start, `more than ${this.limits.maxRepeated} packed values`);
      const b = this.src.bytes(start, end - start);
      for (let i = 0; i < b.length; i += 4) out.push(fixed32(b.subarray(i, i + 4), type) as number);
      return out;
    }
    if (type === 'double' || type === 'fixed64' || type === 'sfixed64') {
      if ((end - start) % 8 !== 0) this.fail(start, 'packed 64-bit values of a length not a multiple of 8');
      if ((end - start) / 8 > this.limits.maxRepeated) this.fail(start, `more than ${this.limits.maxRepeated} packed values`);
      const b = this.src.bytes(start, end - start);
      for (let i = 0; i < b.length; i += 8) out.push(fixed64(b.subarray(i, i + 8), type) as number);
      return out;
    }
    let pos = start;
    while (pos < end) {
      const [v, next] = this.src.varint(pos);
      out.push(scalarFromVarint(type, v) as number);
      if (out.length > this.limits.maxRepeated) this.fail(start, `more than ${this.limits.maxRepeated} packed values`);
      pos = next;
    }
    if (pos !== end) this.fail(start, 'a packed varint runs past the end of its field');
    return out;
  }

  /** A TensorProto: everything but the data, which is recorded by position. */
  private tensor(start: number, end: number): Walked {
    if (++this.items > this.limits.maxItems) this.fail(start, `more than ${this.limits.maxItems} nodes, tensors and values`);
    const out: Walked = {};
    let pos = start;
    while (pos < end) {
      const tagAt = pos;
      const [tag, afterTag] = this.src.varint(pos);
      pos = afterTag;
      const id = Math.floor(tag / 8);
      const wire = tag % 8;
      const field = TENSOR.fieldsById[id];
      if (field && PAYLOAD_FIELDS.has(field.name)) {
        // The data: jumped over, only where it is is kept.
        let length: number;
        let body: number;
        if (wire === 2) {
          [length, body] = this.src.varint(pos);
        } else if (wire === 0) {
          body = pos;
          length = this.src.varint(pos)[1] - pos;
        } else if (wire === 5 || wire === 1) {
          body = pos;
          length = wire === 5 ? 4 : 8;
        } else this.fail(tagAt, `wire type ${wire} in a tensor's data`);
        if (body + length > end) this.fail(pos, `a tensor's ${field.name} of ${length} bytes runs past the end of the tensor (at ${end})`);
        const prev = out.payload as PayloadRef | undefined;
        // Unpacked repeated values come one field each: they make one contiguous run.
        out.payload = prev && prev.field === field.name ? { field: field.name, offset: prev.offset, length: body + length - prev.offset } : { field: field.name, offset: body, length };
        pos = body + length;
        continue;
      }
      // Every other field of the tensor is small: walk it like any message.
      const one = this.oneField(TENSOR, tagAt, end, 0);
      this.store(out, one, tagAt);
      pos = one.next;
    }
    if (pos !== end) this.fail(start, 'a tensor runs past its end');
    return out;
  }

}

function scalarFromVarint(type: string, v: number): number | boolean {
  if (type === 'bool') return v !== 0;
  if (type === 'sint32' || type === 'sint64') return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  if (type === 'uint32' || type === 'uint64') return v;
  // A negative int32/int64 (or enum) is written as the 64-bit two's complement: 2^64 - |x|.
  return v >= 2 ** 63 ? v - 2 ** 64 : v;
}

function fixed32(b: Buffer, type: string): number {
  if (type === 'float') return b.readFloatLE(0);
  if (type === 'sfixed32') return b.readInt32LE(0);
  return b.readUInt32LE(0);
}

function fixed64(b: Buffer, type: string): number {
  if (type === 'double') return b.readDoubleLE(0);
  if (type === 'sfixed64') return Number(b.readBigInt64LE(0));
  return Number(b.readBigUInt64LE(0));
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function toGraph(g: Walked): OnnxGraph {
  return {
    name: str(g.name),
    nodes: list(g.node).map((n) => toNode(n as Walked)),
    initializers: list(g.initializer).map((t) => toTensor(t as Walked)),
    inputs: list(g.input).map((v) => toValueInfo(v as Decoded)),
    outputs: list(g.output).map((v) => toValueInfo(v as Decoded)),
    valueInfo: list(g.value_info).map((v) => toValueInfo(v as Decoded)),
  };
}

function toNode(n: Walked): OnnxNode {
  return {
    name: str(n.name),
    opType: str(n.op_type),
    domain: str(n.domain),
    inputs: list(n.input).map(str),
    outputs: list(n.output).map(str),
    attributes: list(n.attribute).map((a) => toAttribute(a as Walked)),
  };
}

function toAttribute(a: Walked): OnnxAttribute {
  const out: OnnxAttribute = { name: str(a.name), type: num(a.type) ?? 0 };
  if (typeof a.i === 'number') out.i = a.i;
  if (typeof a.f === 'number') out.f = a.f;
  if (Array.isArray(a.ints)) out.ints = a.ints as number[];
  if (Array.isArray(a.floats)) out.floats = a.floats as number[];
  if (a.t) out.t = toTensor(a.t as Walked);
  if (a.g) out.g = toGraph(a.g as Walked);
  if (Array.isArray(a.tensors)) out.tensors = a.tensors.map((t) => toTensor(t as Walked));
  if (Array.isArray(a.graphs)) out.graphs = a.graphs.map((g) => toGraph(g as Walked));
  return out;
}

function toTensor(t: Walked): OnnxTensor {
  const out: OnnxTensor = { name: str(t.name), dims: list(t.dims).map((d) => Number(d)), dataType: num(t.data_type) ?? 0 };
  if (t.payload) out.payload = t.payload as PayloadRef;
  if (t.data_location === DATA_LOCATION_EXTERNAL) {
    const entries = Object.fromEntries(list(t.external_data).map((e) => [str((e as Decoded).key), str((e as Decoded).value)]));
    out.external = { entries, location: entries.location ?? '', file: '', offset: Number(entries.offset ?? 0), length: entries.length === undefined ? undefined : Number(entries.length) };
  }
  return out;
}

function toValueInfo(v: Decoded): OnnxValueInfo {
  const tensorType = (v.type as Decoded | undefined)?.tensor_type as Decoded | undefined;
  const shape = tensorType?.shape as Decoded | undefined;
  return {
    name: str(v.name),
    elemType: num(tensorType?.elem_type),
    dims: shape ? list(shape.dim).map((d) => (typeof (d as Decoded).dim_value === 'number' ? ((d as Decoded).dim_value as number) : typeof (d as Decoded).dim_param === 'string' ? ((d as Decoded).dim_param as string) : null)) : undefined,
  };
}

/**
 * External data: resolved against the model's folder. A location that
 * leaves the folder (`../../etc/passwd`, an absolute path) is refused; a
 * missing or short file is recorded on the tensor.
 */
function resolveExternal(model: OnnxModel): void {
  const dir = path.dirname(path.resolve(model.file));
  const sizes = new Map<string, number | undefined>();
  const visit = (g: OnnxGraph) => {
    const tensors = [...g.initializers, ...g.nodes.flatMap((n) => n.attributes.flatMap((a) => [...(a.t ? [a.t] : []), ...(a.tensors ?? [])]))];
    for (const t of tensors) {
      if (!t.external) continue;
      const loc = t.external.location;
      const file = path.resolve(dir, loc);
      const rel = path.relative(dir, file);
      if (!loc || path.isAbsolute(loc) || rel.startsWith('..') || path.isAbsolute(rel)) {
        t.problem = `external data location ${JSON.stringify(loc)} is outside the model's folder; it is not read`;
        continue;
      }
      t.external.file = file;
      if (!sizes.has(file)) {
        try {
          sizes.set(file, fs.statSync(file).size);
        } catch {
          sizes.set(file, undefined);
        }
      }
      const size = sizes.get(file);
      const need = t.external.offset + (t.external.length ?? 0);
      if (size === undefined) t.problem = `external data file ${loc} is missing`;
      else if (need > size) t.problem = `external data file ${loc} has ${size} bytes; this tensor needs bytes up to ${need}`;
    }
    for (const n of g.nodes) for (const a of n.attributes) for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) visit(sub);
  };
  visit(model.graph);
}

/** The bytes of a tensor's data, read only now: inline from the model file, or from its external file. */
export function readTensorBytes(model: OnnxModel, t: OnnxTensor): Buffer {
  if (t.problem) throw new Error(t.problem);
  const [file, offset, length] = t.external ? [t.external.file, t.external.offset, t.external.length] : [model.file, t.payload?.offset ?? 0, t.payload?.length ?? 0];
  const fd = fs.openSync(file, 'r');
  try {
    const len = length ?? fs.fstatSync(fd).size - offset;
    const b = Buffer.alloc(len);
    fs.readSync(fd, b, 0, len, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}
