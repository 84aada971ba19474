import type { SyntaxNode } from '@lezer/common';
import type { Binder, Binding, ClassInfo, FunctionInfo, Scope } from './binder';
import { callArgs, dottedParts, memberParts, namedChildren, nodeText, unparen } from '../python/syntax';

/**
 * What kind of runtime value an expression holds, as far as the code shows.
 *
 * `certain` is false when the answer rests on a naming convention (an
 * attribute of a module whose name does not look like a parameter is taken
 * to be a submodule); rules must say so in their message.
 */
export interface ValueKind {
  kind: 'module' | 'tensor' | 'other' | 'unknown';
  certain: boolean;
  /** Why we believe it, in words a user reads in a message: "created by torchvision.models.resnet18()". */
  reason?: string;
  /** Where the value was created, for relatedInformation. */
  origin?: { unit: number; node: SyntaxNode };
  /** Set for instances of workspace classes: where `self.x = ...` can be looked up. */
  cls?: ClassInfo;
  /** Qualified torch class for built-in layers, e.g. "torch.nn.Linear". */
  torchClass?: string;
  /** For a submodule inferred from naming: the expression of its owning module. */
  owner?: string;
}

const UNKNOWN: ValueKind = { kind: 'unknown', certain: false };
const OTHER: ValueKind = { kind: 'other', certain: true };

/** torch.nn classes that are tensors, not modules. */
const NN_TENSOR_CLASSES = new Set(['Parameter', 'Buffer', 'UninitializedParameter', 'UninitializedBuffer']);
/** Bases that make a class an nn.Module. */
const MODULE_BASES = new Set([
  'torch.nn.Module',
  'torch.nn.modules.module.Module',
  'pytorch_lightning.LightningModule',
  'pytorch_lightning.core.LightningModule',
  'lightning.LightningModule',
  'lightning.pytorch.LightningModule',
  'transformers.PreTrainedModel',
  'transformers.modeling_utils.PreTrainedModel',
]);
/** Module methods that return the module itself. */
const MODULE_CHAINING = new Set(['to', 'cuda', 'cpu', 'train', 'eval', 'requires_grad_', 'float', 'half', 'double', 'bfloat16', 'type', 'apply', 'share_memory', 'to_empty', 'xpu', 'ipu', 'mps']);
/** Tensor methods that return a tensor. */
const TENSOR_CHAINING = new Set(['to', 'cuda', 'cpu', 'float', 'half', 'double', 'bfloat16', 'requires_grad_', 'detach', 'clone', 'contiguous', 'type', 'view', 'reshape', 'flatten', 'squeeze', 'unsqueeze', 'permute', 'transpose', 't']);
const TENSOR_FACTORIES = new Set(
  'tensor zeros ones randn rand empty full arange linspace logspace eye zeros_like ones_like randn_like rand_like empty_like full_like randint randperm from_numpy as_tensor Tensor FloatTensor LongTensor DoubleTensor HalfTensor stack cat normal'
    .split(' ')
    .map((n) => `torch.${n}`),
);
/** Attributes a tensor has that are tensors too. */
const TENSOR_TENSOR_ATTRIBUTES = new Set(['grad', 'data', 'T', 'mT', 'H', 'mH', 'real', 'imag']);
/**
 * Attribute names that usually hold an nn.Parameter rather than a submodule
 * (`cls_token`, `pos_embed`, `logit_scale`, ...). For these we refuse to guess.
 */
const PARAMETER_LIKE = /(^|_)(weight|bias|gamma|beta|alpha|scale|temperature|token|tokens|param|params|prompt|prompts|table|logit|mask|embed|embedding)s?(_|$)|^[a-z]$|^[a-z]\d*$/;

const MAX_DEPTH = 40;
/** Spans up to this offset are keyed by one number: from * SPAN_KEY_LIMIT + to stays below 2^53. */
const SPAN_KEY_LIMIT = 2 ** 26;

/** The kind of the elements produced by iterating over a call such as `m.parameters()`. */
const ITERATOR_METHODS: Record<string, { element: 'module' | 'tensor'; pairIndex?: number }> = {
  parameters: { element: 'tensor' },
  buffers: { element: 'tensor' },
  modules: { element: 'module' },
  children: { element: 'module' },
  named_parameters: { element: 'tensor', pairIndex: 1 },
  named_buffers: { element: 'tensor', pairIndex: 1 },
  named_modules: { element: 'module', pairIndex: 1 },
  named_children: { element: 'module', pairIndex: 1 },
};

export class ValueKinds {
  /**
   * Results per unit, keyed by number: an expression by its span
   * (from * SPAN_KEY_LIMIT + to), a binding by -(from + 1) of its name.
   * Positions past SPAN_KEY_LIMIT use the string keys of `bigMemo`.
   */
  private readonly memo: Map<number, ValueKind>[] = [];
  private readonly inProgress: Set<number>[] = [];
  private readonly bigMemo = new Map<string, ValueKind>();
  private readonly bigInProgress = new Set<string>();
  private depth = 0;

  constructor(private readonly binder: Binder) {}

  private text(unit: number): string {
    return this.binder.program.units[unit].text;
  }

  /** The kind of the value of an expression node. */
  of(unit: number, node: SyntaxNode): ValueKind {
    const compute = () => this.compute(unit, unparen(node));
    return node.to < SPAN_KEY_LIMIT ? this.guard(unit, node.from * SPAN_KEY_LIMIT + node.to, compute) : this.guardBig(`e:${unit}:${node.from}:${node.to}`, compute);
  }

  private guard(unit: number, key: number, compute: () => ValueKind): ValueKind {
    const memo = (this.memo[unit] ??= new Map());
    const hit = memo.get(key);
    if (hit) return hit;
    const inProgress = (this.inProgress[unit] ??= new Set());
    if (inProgress.has(key) || this.depth > MAX_DEPTH) return UNKNOWN;
    inProgress.add(key);
    this.depth++;
    try {
      const result = compute();
      memo.set(key, result);
      return result;
    } finally {
      this.depth--;
      inProgress.delete(key);
    }
  }

  private guardBig(key: string, compute: () => ValueKind): ValueKind {
    const hit = this.bigMemo.get(key);
    if (hit) return hit;
    if (this.bigInProgress.has(key) || this.depth > MAX_DEPTH) return UNKNOWN;
    this.bigInProgress.add(key);
    this.depth++;
    try {
      const result = compute();
      this.bigMemo.set(key, result);
      return result;
    } finally {
      this.depth--;
      this.bigInProgress.delete(key);
    }
  }

  private compute(unit: number, node: SyntaxNode): ValueKind {
    switch (node.name) {
      case 'VariableName':
        return this.ofName(unit, node);
      case 'CallExpression':
        return this.ofCall(unit, node);
      case 'MemberExpression':
        return this.ofMember(unit, node);
      case 'Number':
      case 'String':
      case 'FormatString':
      case 'Boolean':
      case 'None':
      case 'DictionaryExpression':
      case 'ArrayExpression':
      case 'TupleExpression':
      case 'SetExpression':
      case 'LambdaExpression':
      case 'ArrayComprehensionExpression':
      case 'DictionaryComprehensionExpression':
        return OTHER;
      default:
        return UNKNOWN;
    }
  }

  // ---- names ----------------------------------------------------------

  ofName(unit: number, nameNode: SyntaxNode): ValueKind {
    const candidates = this.reachingBindings(unit, nameNode);
    if (candidates.length === 0) return UNKNOWN;
    // The common case: the latest binding before the use is on every path to it,
    // so the earlier ones are dead and need not be classified at all.
    const latest = candidates[candidates.length - 1];
    if (this.precedes(latest, unit, nameNode) && this.dominates(latest, unit, nameNode)) return this.ofBinding(latest);
    const kinds = candidates.map((b) => this.ofBinding(b));
    const first = kinds[0];
    if (kinds.every((k) => k.kind === first.kind)) return { ...first, certain: kinds.every((k) => k.certain) };
    return UNKNOWN;
  }

  /** Bindings of the name that may reach this use, in program order. */
  reachingBindings(unit: number, nameNode: SyntaxNode): Binding[] {
    const name = nodeText(this.text(unit), nameNode);
    const start = this.binder.scopeAt(unit, nameNode);
    for (let scope: Scope | undefined = start; scope; scope = scope.parent) {
      // Class bodies are not visible from the methods inside them.
      if (scope.kind === 'class' && scope !== start) continue;
      const all = scope.bindings.get(name);
      if (!all || all.length === 0) continue;
      if (scope !== start) return all;
      // Bindings are recorded in program order: binary-search the last one before the use.
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.precedes(all[mid], unit, nameNode)) lo = mid + 1;
        else hi = mid;
      }
      return lo > 0 ? all.slice(0, lo) : all;
    }
    return [];
  }

  private precedes(b: Binding, unit: number, use: SyntaxNode): boolean {
    return b.unit < unit || (b.unit === unit && b.node.from < use.from);
  }

  private dominates(binding: Binding, unit: number, use: SyntaxNode): boolean {
    const block = binding.statement.parent;
    if (!block) return false;
    if (block.name === 'Script') return binding.unit < unit || block.from <= use.from;
    return binding.unit === unit && block.from <= use.from && use.to <= block.to;
  }

  ofBinding(b: Binding): ValueKind {
    const compute = (): ValueKind => {
      const s = b.source;
      switch (s.type) {
        case 'assign': {
          if (s.values.length > 1) {
            const v = s.values[s.path[0]];
            return v ? this.atPath(b.unit, v, s.path.slice(1)) : UNKNOWN;
          }
          return this.atPath(b.unit, s.values[0], s.path);
        }
        case 'for':
          return this.elementKind(b.unit, s.iter, s.path);
        case 'param':
          return this.ofParameter(b, s.fn, s.index, s.name, s.annotation);
        case 'import':
        case 'function':
        case 'class':
          return OTHER;
        default:
          return UNKNOWN;
      }
    };
    const from = b.node.from;
    return from < SPAN_KEY_LIMIT ? this.guard(b.unit, -(from + 1), compute) : this.guardBig(`b:${b.unit}:${from}`, compute);
  }

  /** `a, (b, c) = value`: the kind at a tuple path inside the value. */
  private atPath(unit: number, value: SyntaxNode, path: number[]): ValueKind {
    let v = unparen(value);
    for (const i of path) {
      if (v.name !== 'TupleExpression' && v.name !== 'ArrayExpression') return UNKNOWN;
      const el = namedChildren(v)[i];
      if (!el) return UNKNOWN;
      v = unparen(el);
    }
    return this.of(unit, v);
  }

  private ofParameter(b: Binding, fn: FunctionInfo, index: number, name: string, annotation?: SyntaxNode): ValueKind {
    if (annotation) {
      const q = this.qualify(b.unit, annotation);
      if (q === 'torch.Tensor' || q === 'torch.nn.Parameter' || q === 'torch.nn.parameter.Parameter') {
        return { kind: 'tensor', certain: true, reason: `annotated as ${nodeText(this.text(b.unit), annotation)}` };
      }
      if (q && this.isModuleClassName(q)) return { kind: 'module', certain: true, reason: `annotated as ${nodeText(this.text(b.unit), annotation)}` };
      const cls = this.classOf(b.unit, annotation);
      if (cls && this.isModuleClass(cls) === 'yes') return { kind: 'module', certain: true, reason: `annotated as ${cls.name}`, cls };
    }
    if (fn.cls && index === 0 && !this.isStaticOrClassMethod(fn)) {
      return this.isModuleClass(fn.cls) === 'yes'
        ? { kind: 'module', certain: true, reason: `an instance of ${fn.cls.name}, an nn.Module subclass`, cls: fn.cls, origin: { unit: fn.cls.unit, node: fn.cls.node } }
        : this.isModuleClass(fn.cls) === 'no'
          ? OTHER
          : UNKNOWN;
    }
    if (fn.cls) return UNKNOWN;
    // A plain function: what do its callers in this program pass?
    const calls = this.binder.callsOf(fn.name);
    const kinds: ValueKind[] = [];
    for (const c of calls) {
      const args = callArgs(this.text(c.unit), c.call.lastChild);
      if (args.hasStar) return UNKNOWN;
      const arg = args.keyword.get(name) ?? args.positional[index];
      if (!arg) continue; // default value used; judged below
      kinds.push(this.of(c.unit, arg));
    }
    const param = fn.params[index];
    if (param.default && kinds.length < calls.length) kinds.push(this.of(fn.unit, param.default));
    if (kinds.length === 0) return UNKNOWN;
    if (!kinds.every((k) => k.kind === kinds[0].kind)) return UNKNOWN;
    const noun = kinds[0].kind === 'module' ? 'an nn.Module' : kinds[0].kind === 'tensor' ? 'a tensor' : 'one';
    return { kind: kinds[0].kind, certain: kinds.every((k) => k.certain), reason: `every call of ${fn.name}() in this file passes ${noun}`, cls: kinds[0].cls };
  }

  private isStaticOrClassMethod(fn: FunctionInfo): boolean {
    const decorated = fn.node.parent?.name === 'DecoratedStatement' ? fn.node.parent : undefined;
    return !!decorated && /@\s*(staticmethod|classmethod)\b/.test(nodeText(this.text(fn.unit), decorated));
  }

  // ---- calls ----------------------------------------------------------

  private ofCall(unit: number, call: SyntaxNode): ValueKind {
    const text = this.text(unit);
    const callee = call.firstChild!;
    const args = call.lastChild?.name === 'ArgList' ? call.lastChild : null;
    const origin = { unit, node: call };
    const member = memberParts(callee);
    if (member?.property) {
      const method = nodeText(text, member.property);
      if (MODULE_CHAINING.has(method) || TENSOR_CHAINING.has(method)) {
        const receiver = this.of(unit, member.object);
        if (receiver.kind === 'module' && MODULE_CHAINING.has(method)) return receiver;
        if (receiver.kind === 'tensor' && TENSOR_CHAINING.has(method)) return receiver;
      }
      if (method === 'get_submodule') return { kind: 'module', certain: true, reason: 'returned by get_submodule()', origin };
      if (method === 'get_parameter') return { kind: 'tensor', certain: true, reason: 'returned by get_parameter()', origin };
      if (method === 'from_pretrained') {
        const q = this.qualify(unit, member.object);
        const cls = this.classOf(unit, member.object);
        if (cls && this.isModuleClass(cls) === 'yes') return { kind: 'module', certain: true, reason: `created by ${cls.name}.from_pretrained()`, origin, cls };
        const className = q?.split('.').pop() ?? '';
        if (q && /^(transformers|peft|diffusers|timm|open_clip|sentence_transformers)\./.test(q) && /Model|For[A-Z]|^AutoBackbone$/.test(className)) {
          return { kind: 'module', certain: true, reason: `created by ${className}.from_pretrained()`, origin };
        }
        return q ? OTHER : UNKNOWN;
      }
    }
    if (member?.subscript === false || callee.name === 'VariableName') {
      const q = this.qualify(unit, callee);
      if (q) {
        const k = this.qualifiedCallKind(unit, q, args, origin);
        if (k) return k;
      }
      const cls = this.classOf(unit, callee);
      if (cls) {
        const isModule = this.isModuleClass(cls);
        if (isModule === 'yes') {
          return { kind: 'module', certain: true, reason: `an instance of ${cls.name}, an nn.Module subclass`, origin, cls };
        }
        return isModule === 'no' ? OTHER : UNKNOWN;
      }
      const fn = this.functionOf(unit, callee);
      if (fn) return this.ofReturns(fn, origin);
      if (callee.name === 'VariableName') {
        const name = nodeText(text, callee);
        if (name === 'next' && args) {
          const a = callArgs(text, args).positional[0];
          return a ? this.elementKind(unit, a, []) : UNKNOWN;
        }
        if (['dict', 'list', 'tuple', 'set', 'str', 'int', 'float', 'bool', 'len', 'range', 'sum', 'zip', 'enumerate', 'filter', 'map', 'sorted', 'print', 'vars', 'isinstance'].includes(name)) {
          return OTHER;
        }
      }
    }
    return UNKNOWN;
  }

  private qualifiedCallKind(unit: number, q: string, args: SyntaxNode | null, origin: { unit: number; node: SyntaxNode }): ValueKind | undefined {
    const parts = q.split('.');
    const last = parts[parts.length - 1];
    const nnClass = /^torch\.nn\.(modules\.[a-z_]+\.|parallel\.)?[A-Z]\w*$/.test(q);
    if (nnClass) {
      if (NN_TENSOR_CLASSES.has(last)) return { kind: 'tensor', certain: true, reason: `created by nn.${last}()`, origin };
      return { kind: 'module', certain: true, reason: `created by nn.${last}()`, origin, torchClass: `torch.nn.${last}` };
    }
    if (q === 'torch.nn.parameter.Parameter') return { kind: 'tensor', certain: true, reason: 'created by nn.Parameter()', origin };
    if (TENSOR_FACTORIES.has(q)) return { kind: 'tensor', certain: true, reason: `created by ${q}()`, origin };
    if (q.startsWith('torchvision.models.')) {
      if (last === 'get_model' || (/^[a-z]/.test(last) && !/^(get_|list_)/.test(last)) || (/^[A-Z]/.test(last) && !last.endsWith('_Weights') && last !== 'Weights' && last !== 'WeightsEnum')) {
        return { kind: 'module', certain: true, reason: `created by ${q}()`, origin };
      }
      return OTHER;
    }
    if (q === 'timm.create_model' || q === 'timm.models.create_model') return { kind: 'module', certain: true, reason: 'created by timm.create_model()', origin };
    if (/^transformers\.\w*(Model|For[A-Z]\w*)$/.test(q)) return { kind: 'module', certain: true, reason: `created by ${last}()`, origin };
    if (q === 'torch.compile' || q === 'copy.deepcopy' || q === 'copy.copy') {
      const a = args ? callArgs(this.text(unit), args).positional[0] : undefined;
      return a ? this.of(unit, a) : UNKNOWN;
    }
    if (MODULE_BASES.has(q)) return { kind: 'module', certain: true, reason: `created by ${last}()`, origin };
    return undefined;
  }

  private ofReturns(fn: FunctionInfo, origin: { unit: number; node: SyntaxNode }): ValueKind {
    if (fn.returns.length === 0) return UNKNOWN;
    const kinds = fn.returns.map((r) => this.of(fn.unit, r));
    if (!kinds.every((k) => k.kind === kinds[0].kind)) return UNKNOWN;
    return { ...kinds[0], certain: kinds.every((k) => k.certain), reason: `returned by ${fn.name}()`, origin: kinds[0].origin ?? origin };
  }

  // ---- attributes and subscripts -------------------------------------

  private ofMember(unit: number, node: SyntaxNode): ValueKind {
    const text = this.text(unit);
    const m = memberParts(node)!;
    if (m.subscript) {
      const container = unparen(m.object);
      if (container.name === 'CallExpression') {
        const el = this.elementKind(unit, container, []);
        if (el.kind !== 'unknown') return el;
      }
      const obj = this.of(unit, container);
      // Only Sequential, ModuleList and ModuleDict are subscriptable modules, and they hold modules.
      if (obj.kind === 'module') return { kind: 'module', certain: obj.certain, reason: 'an item of a module container', origin: obj.origin };
      if (obj.kind === 'tensor') return obj;
      return UNKNOWN;
    }
    const replaced = this.ofReplacedAttribute(unit, node);
    if (replaced) return replaced;
    const prop = nodeText(text, m.property!);
    const obj = this.of(unit, m.object);
    if (obj.kind === 'tensor') return TENSOR_TENSOR_ATTRIBUTES.has(prop) ? { kind: 'tensor', certain: true } : OTHER;
    if (obj.kind !== 'module') return UNKNOWN;
    if (obj.cls) {
      const assigned = obj.cls.selfAttributes.get(prop);
      if (assigned) {
        const kinds = assigned.map((a) => this.of(a.unit, a.value));
        if (kinds.every((k) => k.kind === kinds[0].kind)) return kinds[0];
        return UNKNOWN;
      }
    }
    if (obj.torchClass && (prop === 'weight' || prop === 'bias')) return { kind: 'tensor', certain: true, reason: `a parameter of ${obj.torchClass}` };
    if (prop === 'training') return OTHER;
    if (obj.cls || PARAMETER_LIKE.test(prop)) return UNKNOWN;
    return {
      kind: 'module',
      certain: false,
      reason: `an attribute of the nn.Module \`${nodeText(text, m.object)}\``,
      owner: nodeText(text, m.object),
      origin: obj.origin,
    };
  }

  /**
   * `model.fc = nn.Linear(...)` earlier in the program decides what
   * `model.fc` is, if every path to this use passes through that assignment.
   */
  private ofReplacedAttribute(unit: number, node: SyntaxNode): ValueKind | undefined {
    const parts = dottedParts(this.text(unit), node);
    if (!parts) return undefined;
    const all = this.binder.attributeAssignments.get(parts.join('.'));
    if (!all) return undefined;
    const useScope = this.binder.scopeAt(unit, node);
    const before = all.filter(
      (a) => (a.unit < unit || (a.unit === unit && a.statement.to <= node.from)) && (a.scope === useScope || a.scope === this.binder.moduleScopeOf(unit)),
    );
    if (before.length === 0) return undefined;
    const latest = before[before.length - 1];
    const block = latest.statement.parent;
    const dominates = !!block && (block.name === 'Script' ? latest.unit < unit || block.from <= node.from : latest.unit === unit && block.from <= node.from && node.to <= block.to);
    return dominates ? this.of(latest.unit, latest.value) : UNKNOWN;
  }

  /** The kind of what iterating over `iter` yields, at a tuple path of the loop target. */
  elementKind(unit: number, iter: SyntaxNode, path: number[]): ValueKind {
    const text = this.text(unit);
    const node = unparen(iter);
    if (node.name === 'VariableName') {
      // `params = list(model.parameters())` ... `for p in params:`
      const bindings = this.reachingBindings(unit, node);
      const kinds = bindings.map((b) =>
        b.source.type === 'assign' && b.source.values.length === 1 && b.source.path.length === 0
          ? this.elementKind(b.unit, b.source.values[0], path)
          : UNKNOWN,
      );
      return kinds.length > 0 && kinds.every((k) => k.kind === kinds[0].kind) ? kinds[0] : UNKNOWN;
    }
    if (node.name === 'ArrayExpression' || node.name === 'TupleExpression') {
      const kinds = namedChildren(node).map((el) => this.atPath(unit, el, path));
      return kinds.length > 0 && kinds.every((k) => k.kind === kinds[0].kind) ? kinds[0] : UNKNOWN;
    }
    if (node.name !== 'CallExpression') return UNKNOWN;
    const callee = node.firstChild!;
    const args = callArgs(text, node.lastChild?.name === 'ArgList' ? node.lastChild : null);
    const member = memberParts(callee);
    if (member?.property) {
      const method = ITERATOR_METHODS[nodeText(text, member.property)];
      if (method) {
        const wanted = method.pairIndex === undefined ? [] : [method.pairIndex];
        if (path.length === wanted.length && path.every((p, i) => p === wanted[i])) {
          return { kind: method.element, certain: true, reason: `yielded by ${nodeText(text, member.property)}()` };
        }
        return method.pairIndex !== undefined && path.length === 1 && path[0] === 0 ? OTHER : UNKNOWN;
      }
    }
    const name = callee.name === 'VariableName' ? nodeText(text, callee) : this.qualify(unit, callee);
    switch (name) {
      case 'list':
      case 'tuple':
      case 'reversed':
      case 'sorted':
      case 'iter':
        return args.positional[0] ? this.elementKind(unit, args.positional[0], path) : UNKNOWN;
      case 'filter':
        return args.positional[1] ? this.elementKind(unit, args.positional[1], path) : UNKNOWN;
      case 'enumerate':
        if (path[0] === 0) return OTHER;
        return path[0] === 1 && args.positional[0] ? this.elementKind(unit, args.positional[0], path.slice(1)) : UNKNOWN;
      case 'zip': {
        const a = args.positional[path[0]];
        return a ? this.elementKind(unit, a, path.slice(1)) : UNKNOWN;
      }
      case 'chain':
      case 'itertools.chain': {
        const kinds = args.positional.map((a) => this.elementKind(unit, a, path));
        return kinds.length > 0 && kinds.every((k) => k.kind === kinds[0].kind) ? kinds[0] : UNKNOWN;
      }
    }
    return UNKNOWN;
  }

  // ---- names to definitions -----------------------------------------

  /** The fully qualified import path of a dotted expression, e.g. `nn.Linear` -> `torch.nn.Linear`. */
  qualify(unit: number, node: SyntaxNode): string | undefined {
    // Only a name, an attribute chain or parentheses around one can name an import.
    const name = node.name;
    if (name !== 'VariableName' && name !== 'MemberExpression' && name !== 'ParenthesizedExpression') return undefined;
    // The interpreter asks again at every call it evaluates, and loops and calls pass the same code
    // many times. Of these three node types no two share a span, so the span is the key.
    if (node.to >= SPAN_KEY_LIMIT) return this.qualifyHere(unit, node);
    const memo = (this.qualified[unit] ??= new Map());
    const key = node.from * SPAN_KEY_LIMIT + node.to;
    let q = memo.get(key);
    if (q === undefined && !memo.has(key)) {
      q = this.qualifyHere(unit, node);
      memo.set(key, q);
    }
    return q;
  }

  /** qualify() results per unit, keyed by span. */
  private readonly qualified: Map<number, string | undefined>[] = [];

  private qualifyHere(unit: number, node: SyntaxNode): string | undefined {
    const parts = dottedParts(this.text(unit), node);
    if (!parts) return undefined;
    const head = unparen(node).name === 'VariableName' ? unparen(node) : firstName(node);
    if (!head) return undefined;
    const bindings = this.reachingBindings(unit, head);
    const imports = bindings.filter((b) => b.source.type === 'import');
    if (imports.length === 0 || imports.length !== bindings.length) return undefined;
    const q = (imports[imports.length - 1].source as { qualified: string }).qualified;
    return [q, ...parts.slice(1)].join('.');
  }

  classOf(unit: number, node: SyntaxNode): ClassInfo | undefined {
    const n = unparen(node);
    if (n.name !== 'VariableName') return undefined;
    const bindings = this.reachingBindings(unit, n);
    const last = bindings[bindings.length - 1];
    return last?.source.type === 'class' && bindings.every((b) => b.source.type === 'class') ? last.source.cls : undefined;
  }

  functionOf(unit: number, node: SyntaxNode): FunctionInfo | undefined {
    const n = unparen(node);
    if (n.name !== 'VariableName') return undefined;
    const bindings = this.reachingBindings(unit, n);
    const last = bindings[bindings.length - 1];
    return last?.source.type === 'function' && bindings.length === 1 ? last.source.fn : undefined;
  }

  private isModuleClassName(q: string): boolean {
    return MODULE_BASES.has(q) || (/^torch\.nn\.[A-Z]\w*$/.test(q) && !NN_TENSOR_CLASSES.has(q.slice('torch.nn.'.length)));
  }

  /** Whether a workspace class derives from nn.Module: 'unknown' when a base cannot be resolved. */
  isModuleClass(cls: ClassInfo, seen = new Set<ClassInfo>()): 'yes' | 'no' | 'unknown' {
    if (seen.has(cls)) return 'unknown';
    seen.add(cls);
    let result: 'yes' | 'no' | 'unknown' = 'no';
    for (const base of cls.bases) {
      const q = this.qualify(cls.unit, base);
      if (q && this.isModuleClassName(q)) return 'yes';
      const baseCls = this.classOf(cls.unit, base);
      if (baseCls) {
        const r = this.isModuleClass(baseCls, seen);
        if (r === 'yes') return 'yes';
        if (r === 'unknown') result = 'unknown';
      } else if (nodeText(this.text(cls.unit), base) !== 'object') result = 'unknown';
    }
    return result;
  }
}

function firstName(node: SyntaxNode): SyntaxNode | undefined {
  let n: SyntaxNode | null = unparen(node);
  while (n && n.name === 'MemberExpression') n = n.firstChild ? unparen(n.firstChild) : null;
  return n?.name === 'VariableName' ? n : undefined;
}
