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
 * The messages come from the official onnx.proto (schema.ts): every field
 * is found, named and typed through protobufjs's reflection. Only the
 * wire-level walk is written here, because no library reads a protobuf
 * lazily from a file: protobufjs, like every decoder, wants the whole
 * message in memory, which for a model means every weight. The walk covers
 * the small messages too (ValueInfoProto, OperatorSetIdProto): protobufjs's
 * generated decoders would be compiled on the first read, which cost more
 * than the whole walk of a resnet152 graph.
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
  /** Elements of one repeated scalar field (dims, ints). */
  maxRepeated: number;
}

export const DEFAULT_LIMITS: ReadLimits = { maxDepth: 64, maxItems: 5_000_000, maxStringBytes: 1 << 20, maxRepeated: 1 << 20 };

const root = protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace);
const T = (name: string) => root.lookupType(`onnx.${name}`);
const MODEL = T('ModelProto');
const GRAPH = T('GraphProto');
const ATTRIBUTE = T('AttributeProto');
const TENSOR = T('TensorProto');
/** Nested messages past this depth are refused (a TypeProto can nest itself without end). */
const MAX_NESTING = 256;
/** Messages that hold tensor data and nothing the reader reports: skipped unread. */
const SKIPPED = new Set([T('SparseTensorProto')]);
/** TensorProto fields that hold the data. */
const PAYLOAD_FIELDS = new Set(['raw_data', 'float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data']);
const DATA_LOCATION_EXTERNAL = 1;

/**
 * Positioned reads through a small block cache: memory stays a few blocks
 * whatever the file's size, and reading the graph touches only the blocks
 * that hold structure (a tensor's payload is jumped over, never read).
 * The blocks live in one buffer allocated once: a model of a few hundred
 * tensors makes a few hundred jumps, and a fresh buffer per jump kept the
 * garbage collector busier than the parsing.
 */
class Source {
  private static readonly BLOCK = 1 << 14;
  private static readonly SLOTS = 16;
  private readonly memory = Buffer.allocUnsafe(Source.BLOCK * Source.SLOTS);
  /** The block index held by each slot (-1: empty), and the next slot to reuse. */
  private readonly held = new Array<number>(Source.SLOTS).fill(-1);
  private victim = 0;
  /** The block last used, for the common case of the next byte being in it. */
  private lastIndex = -1;
  private lastStart = 0;
  private lastBase = 0;
  private lastLength = 0;
  readonly size: number;
  /** The position after the varint last read by `varint`. */
  next = 0;

  constructor(
    readonly file: string,
    private readonly fd: number,
  ) {
    this.size = fs.fstatSync(fd).size;
  }

  /** Makes block `index` the current one: `lastBase` is its offset in `memory`. */
  private load(index: number): void {
    let slot = this.held.indexOf(index);
    if (slot < 0) {
      slot = this.victim;
      this.victim = (this.victim + 1) % Source.SLOTS;
      const start = index * Source.BLOCK;
      const len = Math.min(Source.BLOCK, this.size - start);
      const base = slot * Source.BLOCK;
      let read = 0;
      while (read < len) {
        const n = fs.readSync(this.fd, this.memory, base + read, len - read, start + read);
        if (n === 0) throw new OnnxError(this.file, start + read, 'the file shrank while it was read');
        read += n;
      }
      this.held[slot] = index;
    }
    this.lastIndex = index;
    this.lastStart = index * Source.BLOCK;
    this.lastBase = slot * Source.BLOCK;
    this.lastLength = Math.min(Source.BLOCK, this.size - this.lastStart);
  }

  byte(pos: number): number {
    const off = pos - this.lastStart;
    if (off >= 0 && off < this.lastLength) return this.memory[this.lastBase + off];
    if (pos >= this.size) throw new OnnxError(this.file, pos, 'unexpected end of file');
    this.load(Math.floor(pos / Source.BLOCK));
    return this.memory[this.lastBase + pos - this.lastStart];
  }

  bytes(pos: number, len: number): Buffer {
    if (pos + len > this.size) throw new OnnxError(this.file, pos, `a field of ${len} bytes runs past the end of the file (${this.size} bytes)`);
    const out = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const at = pos + done;
      this.load(Math.floor(at / Source.BLOCK));
      const from = at - this.lastStart;
      const n = Math.min(len - done, this.lastLength - from);
      this.memory.copy(out, done, this.lastBase + from, this.lastBase + from + n);
      done += n;
    }
    return out;
  }

  /** The UTF-8 text of [pos, pos + len), without a copy when it lies in one block. */
  text(pos: number, len: number): string {
    const off = pos - this.lastStart;
    if (off >= 0 && off + len <= this.lastLength) return this.memory.toString('utf8', this.lastBase + off, this.lastBase + off + len);
    return this.bytes(pos, len).toString('utf8');
  }

  /** A varint at `pos`: its value (exact up to 2^53); the position after it goes to `next`. */
  varint(pos: number): number {
    let b = this.byte(pos);
    if (b < 0x80) {
      this.next = pos + 1;
      return b;
    }
    let value = b & 0x7f;
    let scale = 128;
    for (let i = 1; i < 10; i++) {
      b = this.byte(pos + i);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) {
        this.next = pos + i + 1;
        // Past 7 bytes a double cannot hold every value: a negative int64 (axis=-1) is written as
        // 2^64 - 1 in 10 bytes, and must come back as exactly -1.
        return i >= 7 ? this.exactVarint(pos, i + 1) : value;
      }
    }
    throw new OnnxError(this.file, pos, 'a varint longer than 10 bytes');
  }

  /** A long varint decoded exactly as a signed 64-bit integer (two's complement), as a number. */
  private exactVarint(pos: number, length: number): number {
    let big = 0n;
    for (let i = length - 1; i >= 0; i--) big = (big << 7n) | BigInt(this.byte(pos + i) & 0x7f);
    return Number(BigInt.asIntN(64, big));
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
  /** Messages open on the walk's stack: bounded, so a message nested a million deep is an error, not a stack overflow. */
  private nesting = 0;

  constructor(
    private readonly src: Source,
    private readonly limits: ReadLimits,
  ) {}

  private fail(pos: number, reason: string): never {
    throw new OnnxError(this.src.file, pos, reason);
  }

  /** Walks the fields of a message in [start, end); `graphDepth` counts the subgraphs around it. */
  message(type: protobuf.Type, start: number, end: number, graphDepth: number): Walked {
    if (graphDepth > this.limits.maxDepth) this.fail(start, `subgraphs nested deeper than ${this.limits.maxDepth}`);
    if (++this.nesting > MAX_NESTING) this.fail(start, `messages nested deeper than ${MAX_NESTING}`);
    const out: Walked = {};
    const tensor = type === TENSOR;
    let pos = start;
    while (pos < end) {
      const tagAt = pos;
      const tag = this.src.varint(pos);
      pos = this.src.next;
      const id = Math.floor(tag / 8);
      const wire = tag % 8;
      if (id === 0) this.fail(tagAt, 'field number 0');
      const field = type.fieldsById[id] as protobuf.Field | undefined;
      if (tensor && field && PAYLOAD_FIELDS.has(field.name)) {
        pos = this.payload(out, field, wire, tagAt, pos, end);
        continue;
      }
      let value: unknown;
      switch (wire) {
        case 0:
          value = this.src.varint(pos);
          pos = this.src.next;
          if (field) value = scalarFromVarint(field.type, value as number);
          break;
        case 1:
          if (field) value = fixed64(this.src.bytes(pos, 8), field.type);
          pos += 8;
          break;
        case 5:
          if (field) value = fixed32(this.src.bytes(pos, 4), field.type);
          pos += 4;
          break;
        case 2: {
          const len = this.src.varint(pos);
          const body = this.src.next;
          if (body + len > end) this.fail(pos, `a length of ${len} bytes runs past the end of its message (at ${end})`);
          if (field) value = this.lengthDelimited(field, body, body + len, graphDepth);
          pos = body + len;
          break;
        }
        default:
          this.fail(tagAt, `wire type ${wire} (groups are not used by ONNX)`);
      }
      if (pos > end) this.fail(tagAt, `a field runs past the end of its message (at ${end})`);
      if (field && value !== undefined) this.store(out, field, value, tagAt);
    }
    this.nesting--;
    return out;
  }

  private store(out: Walked, field: protobuf.Field, value: unknown, at: number): void {
    if (!field.repeated) {
      out[field.name] = value;
      return;
    }
    let arr = out[field.name] as unknown[] | undefined;
    if (!arr) out[field.name] = arr = [];
    if (Array.isArray(value) && !field.resolvedType) for (const v of value) arr.push(v);
    else arr.push(value);
    if (arr.length > this.limits.maxRepeated) this.fail(at, `more than ${this.limits.maxRepeated} values in ${field.name}`);
  }

  private lengthDelimited(field: protobuf.Field, start: number, end: number, graphDepth: number): unknown {
    const len = end - start;
    const type = field.resolvedType;
    if (type instanceof protobuf.Type) {
      if (++this.items > this.limits.maxItems) this.fail(start, `more than ${this.limits.maxItems} nodes, tensors and values`);
      if (SKIPPED.has(type)) return undefined;
      return this.message(type, start, end, type === GRAPH ? graphDepth + 1 : graphDepth);
    }
    if (field.type === 'string') {
      // A doc string can be long, and nothing here shows it: skipped, as a payload would be.
      if (field.name === 'doc_string') return undefined;
      if (len > this.limits.maxStringBytes) this.fail(start, `a string of ${len} bytes in ${field.name}`);
      return this.src.text(start, len);
    }
    // An attribute's strings (auto_pad, mode) are bytes in the schema, and text in practice.
    if (field.type === 'bytes' && field.parent === ATTRIBUTE) {
      if (len > this.limits.maxStringBytes) this.fail(start, `a string of ${len} bytes in ${field.name}`);
      return this.src.text(start, len);
    }
    if (field.type === 'bytes') return { offset: start, length: len };
    // A packed repeated scalar (dims, ints, floats).
    if (!field.repeated) this.fail(start, `a length-delimited ${field.type} in ${field.name}`);
    return this.packed(field.type, start, end);
  }

  private packed(type: string, start: number, end: number): number[] {
    const out: number[] = [];
    const width = type === 'float' || type === 'fixed32' || type === 'sfixed32' ? 4 : type === 'double' || type === 'fixed64' || type === 'sfixed64' ? 8 : 0;
    if (width > 0) {
      if ((end - start) % width !== 0) this.fail(start, `packed ${width * 8}-bit values of a length not a multiple of ${width}`);
      if ((end - start) / width > this.limits.maxRepeated) this.fail(start, `more than ${this.limits.maxRepeated} packed values`);
      const b = this.src.bytes(start, end - start);
      for (let i = 0; i < b.length; i += width) out.push(width === 4 ? fixed32(b.subarray(i, i + 4), type) : fixed64(b.subarray(i, i + 8), type));
      return out;
    }
    let pos = start;
    while (pos < end) {
      out.push(scalarFromVarint(type, this.src.varint(pos)) as number);
      if (out.length > this.limits.maxRepeated) this.fail(start, `more than ${this.limits.maxRepeated} packed values`);
      pos = this.src.next;
    }
    if (pos !== end) this.fail(start, 'a packed varint runs past the end of its field');
    return out;
  }

  /**
   * A tensor's data (raw_data, float_data, ...): jumped over; only where it
   * is goes into `out.payload`. Returns the position after the field.
   */
  private payload(out: Walked, field: protobuf.Field, wire: number, tagAt: number, pos: number, end: number): number {
    let length: number;
    let body: number;
    if (wire === 2) {
      length = this.src.varint(pos);
      body = this.src.next;
    } else if (wire === 0) {
      body = pos;
      this.src.varint(pos);
      length = this.src.next - pos;
    } else if (wire === 5 || wire === 1) {
      body = pos;
      length = wire === 5 ? 4 : 8;
    } else this.fail(tagAt, `wire type ${wire} in a tensor's data`);
    if (body + length > end) this.fail(pos, `a tensor's ${field.name} of ${length} bytes runs past the end of the tensor (at ${end})`);
    const prev = out.payload as PayloadRef | undefined;
    // Unpacked repeated values come one field each: they make one contiguous run.
    out.payload = prev && prev.field === field.name ? { field: field.name, offset: prev.offset, length: body + length - prev.offset } : { field: field.name, offset: body, length };
    return body + length;
  }
}

function scalarFromVarint(type: string, v: number): number | boolean {
  if (type === 'bool') return v !== 0;
  if (type === 'sint32' || type === 'sint64') return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  // Long varints arrive already as signed 64-bit values (Source.varint); an unsigned one past 2^63 is
  // not used by ONNX.
  if (type === 'uint32' || type === 'uint64') return v < 0 ? v + 2 ** 64 : v;
  return v;
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
  if (typeof a.s === 'string') out.s = a.s;
  if (Array.isArray(a.strings)) out.strings = a.strings as string[];
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
