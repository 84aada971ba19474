import type { SyntaxNode } from '@lezer/common';
import type { Binder, ClassInfo, FunctionInfo, Scope } from '../analysis/binder';
import { parseImport } from '../analysis/imports';
import { children, nodeText, unparen } from '../python/syntax';
import { libraryModel } from './library';
import { argumentsKey, nnLayer, type LayerArg, type LayerArgs } from './nnLayers';
import { sizeAttribute, type ModuleNode } from './tree';

/**
 * The class evaluator: runs a workspace `nn.Module` class's `__init__` on
 * known argument values and builds the module tree it registers, with the
 * exact parameter counts torch would give.
 *
 * Unlike the freeze-state interpreter, which over-approximates (loops run a
 * few times, branches join), this evaluator is exact or gives up: a branch
 * on an unknown condition, a loop over an unknown count, or a value that
 * could be a module but is not known marks the module `partial`, and counts
 * that depend on an unknown number are null. Unknown, never guessed.
 */

/**
 * A module object under construction: mutable, with identity (a module
 * registered twice is one module). One made from a library tree (a catalog
 * backbone, an nn layer) keeps that tree as `base` and only materialises its
 * children when something reads or changes them, so a resnet50 used as a
 * backbone costs one object, not two hundred.
 */
class ModObj {
  readonly k = 'module' as const;
  paramSizes: (number | null)[] | undefined;
  tied = 0;
  runningStats?: boolean;
  dropout?: boolean;
  /** Children may exist that are not listed: built where the evaluator could not follow. */
  partial = false;
  /** Non-module attributes (`self.hidden = hidden`). */
  fields = new Map<string, SVal>();
  /** Buffer numel by name, for `register_buffer` replacing an earlier one. */
  bufferSizes = new Map<string, number | null>();
  /** The workspace class it is an instance of: `self.method` dispatches on it. */
  userCls?: ClassInfo;
  /** Size attributes of a library layer (`in_features`). */
  attrs?: Readonly<Record<string, number>>;
  /** The library tree this object stands for, as long as nothing changed it. */
  base?: ModuleNode;
  /** Registration order; null: the attribute was set to None (torch keeps the slot). */
  private kids?: Map<string, ModObj | null>;

  constructor(
    public cls: string,
    public params: number | null,
    public buffers: number | null,
    public paramNames: string[] | undefined,
  ) {
    this.paramSizes = paramNames ? paramNames.map(() => null) : undefined;
  }

  get children(): Map<string, ModObj | null> {
    if (!this.kids) {
      this.kids = new Map();
      for (const c of this.base?.children ?? []) this.kids.set(c.name, thaw(c));
    }
    return this.kids;
  }

  set children(kids: Map<string, ModObj | null>) {
    this.kids = kids;
  }

  /** Still exactly its base tree: children never materialised and own counts unchanged. */
  get untouched(): boolean {
    const b = this.base;
    return (
      !!b &&
      !this.kids &&
      this.cls === b.cls &&
      this.params === b.params &&
      this.buffers === b.buffers &&
      this.tied === (b.tied ?? 0) &&
      this.partial === (b.partial ?? false) &&
      (this.paramNames?.length ?? -1) === (b.paramNames?.length ?? -1)
    );
  }
}

/** Values of the evaluator. `scalar` marks an unknown that is certainly not a module (arithmetic, an `int` argument). */
type SVal =
  | { k: 'num'; v: number }
  | { k: 'str'; v: string }
  | { k: 'bool'; v: boolean }
  | { k: 'none' }
  | { k: 'list'; items: SVal[]; tuple?: boolean }
  | { k: 'dict'; entries: Map<string, SVal> }
  | ModObj
  /** A parameter: a new `nn.Parameter`, or an existing one (`self.embed.weight`) for tied weights. */
  | { k: 'param'; numel: number | null; existing?: boolean }
  | { k: 'tensor'; numel: number | null }
  | { k: 'class'; cls: ClassInfo }
  /** `closure`: the variables of the function a nested `def` was made in. */
  | { k: 'function'; fn: FunctionInfo; self?: SVal; bound?: boolean; closure?: Map<string, SVal> }
  | { k: 'lib'; q: string }
  | { k: 'builtin'; name: string }
  | { k: 'ns'; unit: number }
  /** A bound method of a value: `self.layers.append`, `xs.append`. */
  | { k: 'method'; recv: SVal; name: string }
  | { k: 'super'; self: ModObj; after: ClassInfo }
  | { k: 'unknown'; scalar?: boolean };

const UNKNOWN: SVal = { k: 'unknown' };
/** Code that can add modules, parameters or buffers: attribute or item assignment, container mutation, or a call of a method of self. */
const MAY_REGISTER = /\.\s*(?!requires_grad\b)\w+\s*=[^=]|\]\s*=[^=]|\.(append|extend|insert|add_module|register_\w+|update)\s*\(|\bsetattr\s*\(|\bself\s*\.\s*(?!(?:modules|parameters|named_\w+|children|buffers|apply|to|cuda)\s*\()\w+\s*\(/;
const SCALAR: SVal = { k: 'unknown', scalar: true };
const NONE: SVal = { k: 'none' };

/** Caps that keep a pathological class (a loop of a million layers, deep recursion) cheap and unknown. */
const MAX_STEPS = 200_000;
const MAX_DEPTH = 24;
const MAX_LIST = 100_000;

class GiveUp extends Error {}

interface Frame {
  vars: Map<string, SVal>;
  unit: number;
  /** The scope that resolves names not bound in `vars` (the function's, then its parents). */
  scope: Scope;
  /** The module being built, to mark partial when something cannot be followed. */
  self?: ModObj;
  cls?: ClassInfo;
  returned?: SVal;
  /** Variables of the enclosing function, for a nested `def`. */
  closure?: Map<string, SVal>;
  /** Set by `break`/`continue`/`return`/`raise` to stop the block. */
  stop?: 'break' | 'continue' | 'return' | 'raise';
}

const BUILTINS = new Set([
  'range',
  'len',
  'int',
  'float',
  'bool',
  'str',
  'list',
  'tuple',
  'dict',
  'zip',
  'enumerate',
  'min',
  'max',
  'sum',
  'abs',
  'round',
  'reversed',
  'sorted',
  'isinstance',
  'getattr',
  'hasattr',
  'setattr',
  'super',
  'print',
  'any',
  'all',
  'OrderedDict',
]);

export class ClassEvaluator {
  private steps = 0;
  private depth = 0;
  private readonly globals = new Map<string, SVal>();
  private readonly evaluating = new Set<string>();

  constructor(
    private readonly binder: Binder,
    /** Where each import statement's module went (imports.ts): `${unit}:${from}:${module}` → unit. */
    private readonly importTable: ReadonlyMap<string, number>,
  ) {}

  /** The tree `cls(*args)` builds; undefined when the class is not known to be an nn.Module or construction fails. */
  instantiate(cls: ClassInfo, positional: LayerArg[], keyword: ReadonlyMap<string, LayerArg>): ModuleNode | undefined {
    // A script builds the same class with the same arguments from several places (and loops run twice).
    const key = argumentsKey('', { positional, keyword }, 'identity');
    let byArgs = this.memo.get(cls);
    if (key !== undefined && byArgs?.has(key)) return byArgs.get(key);
    // Across keystrokes: the same class text with the same arguments, where every module-level name it read
    // is still bound to the same text, builds the same tree.
    const unit = this.binder.program.units[cls.unit];
    const crossKey = key === undefined ? undefined : `${unit.id}\u0000${nodeText(unit.text, cls.node)}\u0000${key}`;
    const previous = crossKey === undefined ? undefined : crossAnalysis.get(crossKey);
    let tree: ModuleNode | undefined;
    if (previous && previous.deps.every((d) => this.fingerprintOf(d.unitId, d.name) === d.text)) {
      tree = previous.tree;
      // An enclosing class being evaluated depends on what this one read.
      if (this.deps) for (const d of previous.deps) this.deps.set(`${d.unitId}\u0000${d.name}`, d);
    } else {
      const outer = this.deps;
      this.deps = new Map();
      try {
        tree = this.instantiateNow(cls, positional, keyword);
        if (crossKey !== undefined && !this.incompleteDeps) {
          if (crossAnalysis.size >= CROSS_ANALYSIS_SIZE) crossAnalysis.delete(crossAnalysis.keys().next().value!);
          crossAnalysis.set(crossKey, { tree, deps: [...this.deps.values()] });
        }
      } finally {
        // What the inner class read, the outer one read too.
        if (outer) for (const [k, d] of this.deps) outer.set(k, d);
        this.deps = outer;
      }
    }
    if (key !== undefined) {
      if (!byArgs) this.memo.set(cls, (byArgs = new Map()));
      byArgs.set(key, tree);
    }
    return tree;
  }

  /** Module-level names read while evaluating, with the text they were bound to: the validity of a cached tree. */
  private deps: Map<string, { unitId: string; name: string; text: string }> | undefined;
  private incompleteDeps = false;

  /** The text a module-level name is bound to in a unit now ('' when unbound). */
  private fingerprintOf(unitId: string, name: string): string | undefined {
    const unit = this.unitsById().get(unitId);
    if (unit === undefined) return undefined;
    const scope = this.binder.moduleScopeOf(unit);
    return (scope.bindings.get(name) ?? []).map((b) => nodeText(this.binder.program.units[b.unit].text, b.statement)).join('\u0000');
  }

  private byId?: Map<string, number>;
  private unitsById(): Map<string, number> {
    if (!this.byId) {
      this.byId = new Map();
      this.binder.program.units.forEach((u, i) => this.byId!.set(u.id, i));
    }
    return this.byId;
  }

  private readonly memo = new Map<ClassInfo, Map<string, ModuleNode | undefined>>();

  private instantiateNow(cls: ClassInfo, positional: LayerArg[], keyword: ReadonlyMap<string, LayerArg>): ModuleNode | undefined {
    try {
      const v = this.construct(cls, { positional: positional.map(fromArg), keyword: new Map([...keyword].map(([k, a]) => [k, fromArg(a)])) });
      return v.k === 'module' ? freeze(v) : undefined;
    } catch (e) {
      // Past a cap (steps, depth) or a certain raise: the structure is unknown, not an error.
      if (e instanceof GiveUp) return undefined;
      throw e;
    }
  }

  /** The tree of a library layer or model call, from literal arguments (used by the freeze-state interpreter). */
  static library(q: string, args: LayerArgs): ModuleNode | undefined {
    const lib = libraryModel(q, args);
    if (lib) return lib.tree;
    const nn = /^torch\.nn\.(?:modules\.\w+\.)?([A-Z]\w*)$/.exec(q);
    if (nn) return nnLayer(nn[1], args);
    if (/^torchvision\.ops\.(misc\.)?FrozenBatchNorm2d$/.test(q)) return nnLayer('FrozenBatchNorm2d', args);
    return undefined;
  }

  // ---- construction ----------------------------------------------------

  private tick(): void {
    if (++this.steps > MAX_STEPS) throw new GiveUp('step budget');
  }

  private text(unit: number, node: SyntaxNode): string {
    return nodeText(this.binder.program.units[unit].text, node);
  }

  /** The base classes of a workspace class, evaluated in its defining scope. */
  private basesOf(cls: ClassInfo): SVal[] {
    const frame: Frame = { vars: new Map(), unit: cls.unit, scope: cls.scope.parent ?? this.binder.moduleScopeOf(cls.unit) };
    return cls.bases.map((b) => this.eval(b, frame));
  }

  /** Whether instances are nn.Modules: some base chain reaches torch.nn.Module (or a torch.nn container). */
  private isModuleClass(cls: ClassInfo, seen = new Set<ClassInfo>()): boolean {
    if (seen.has(cls)) return false;
    seen.add(cls);
    return this.basesOf(cls).some((b) => (b.k === 'lib' && /^torch\.nn\.(modules\.\w+\.)?[A-Z]\w*$/.test(b.q)) || (b.k === 'class' && this.isModuleClass(b.cls, seen)));
  }

  private construct(cls: ClassInfo, args: { positional: SVal[]; keyword: Map<string, SVal> }): SVal {
    if (!this.isModuleClass(cls)) return UNKNOWN;
    const self = newModule(cls.name, 0, 0, []);
    self.userCls = cls;
    const init = this.findMethod(cls, '__init__');
    if (init.kind === 'user') this.call(init.fn, self, args, init.owner);
    else if (init.kind === 'library') this.libraryInit(init.q, self, args);
    return self;
  }

  /** A method in the class chain: a workspace function, or the library base class that defines everything below. */
  private findMethod(cls: ClassInfo, name: string, after?: ClassInfo): { kind: 'user'; fn: FunctionInfo; owner: ClassInfo } | { kind: 'library'; q: string } | { kind: 'none' } {
    const chain = this.mro(cls);
    let start = 0;
    if (after) start = chain.findIndex((c) => c.k === 'class' && c.cls === after) + 1;
    for (let i = start; i < chain.length; i++) {
      const c = chain[i];
      if (c.k === 'class') {
        const fn = c.cls.methods.get(name);
        if (fn) return { kind: 'user', fn, owner: c.cls };
      } else if (c.k === 'lib') return { kind: 'library', q: c.q };
      else return { kind: 'none' };
    }
    return { kind: 'none' };
  }

  private readonly mros = new Map<ClassInfo, SVal[]>();

  /** Single-inheritance chain, first base first: what `super()` walks for the classes people write. */
  private mro(cls: ClassInfo): SVal[] {
    const known = this.mros.get(cls);
    if (known) return known;
    const out: SVal[] = [];
    this.mros.set(cls, out);
    let cur: ClassInfo | undefined = cls;
    for (let i = 0; cur && i < 20; i++) {
      out.push({ k: 'class', cls: cur });
      const bases: SVal[] = this.basesOf(cur).filter((b) => !(b.k === 'lib' && /^(abc\.ABC|typing\.Generic)/.test(b.q)));
      const first: SVal | undefined = bases[0];
      if (!first) break;
      if (first.k === 'class') cur = first.cls;
      else {
        out.push(first);
        break;
      }
    }
    return out;
  }

  /** `super().__init__(...)` reaching a library class: nn.Module sets nothing; containers take their children. */
  private libraryInit(q: string, self: ModObj, args: { positional: SVal[]; keyword: Map<string, SVal> }): void {
    const cls = /^torch\.nn\.(?:modules\.\w+\.)?(\w+)$/.exec(q)?.[1];
    if (cls === 'Module') return;
    if (cls === 'Sequential' || cls === 'ModuleList' || cls === 'ModuleDict') {
      this.fillContainer(cls, self, args.positional);
      return;
    }
    self.partial = true;
  }

  private fillContainer(cls: string, target: ModObj, positional: SVal[]): void {
    if (cls === 'Sequential') {
      const only = positional[0];
      if (positional.length === 1 && only.k === 'dict') {
        for (const [k, v] of only.entries) this.register(target, k, v);
        return;
      }
      positional.forEach((v, i) => this.register(target, String(i), v));
      return;
    }
    const src = positional[0];
    if (!src) return;
    if (cls === 'ModuleList') {
      if (src.k === 'list') src.items.forEach((v, i) => this.register(target, String(i), v));
      else target.partial = true;
    } else if (src.k === 'dict') for (const [k, v] of src.entries) this.register(target, k, v);
    else if (src.k === 'list' && src.items.every((p) => p.k === 'list' && p.items.length === 2 && p.items[0].k === 'str')) {
      for (const p of src.items) {
        const [k, v] = (p as { items: SVal[] }).items;
        this.register(target, (k as { v: string }).v, v);
      }
    } else target.partial = true;
  }

  /** `module.name = value`, with nn.Module.__setattr__'s rules. */
  private register(target: ModObj, name: string, value: SVal): void {
    this.tick();
    if (value.k === 'module') {
      target.children.set(name, value);
      target.fields.delete(name);
      return;
    }
    if (value.k === 'param') {
      const names = target.paramNames;
      const at = names ? names.indexOf(name) : -1;
      if (at >= 0) {
        // A parameter put in place of another one of the same name: tied weights keep the count, and
        // parameters() yields the shared tensor once.
        const replaced = target.paramSizes?.[at] ?? null;
        const size = value.numel ?? replaced;
        if (value.existing && size !== null) target.tied += size;
        else target.params = null;
        if (!value.existing && target.params !== null) target.params = null;
        return;
      }
      if (names) names.push(name);
      if (target.paramSizes) target.paramSizes.push(value.numel);
      target.params = target.params === null || value.numel === null ? null : target.params + value.numel;
      if (value.existing && value.numel !== null) target.tied += value.numel;
      else if (value.existing) target.params = null;
      return;
    }
    if (target.children.has(name)) {
      // None in a module's slot keeps it (named_modules skips it); anything else unknown there is unknown.
      if (value.k === 'none') target.children.set(name, null);
      else if (value.k === 'unknown' && !value.scalar) target.partial = true;
      else target.children.delete(name);
      return;
    }
    if (target.bufferSizes.has(name) && value.k === 'tensor') {
      const old = target.bufferSizes.get(name) ?? null;
      target.bufferSizes.set(name, value.numel);
      target.buffers = target.buffers === null || old === null || value.numel === null ? null : target.buffers - old + value.numel;
      return;
    }
    // An unknown that may be a module (an argument, an unknown library's object) could add a child.
    if (value.k === 'unknown' && !value.scalar) target.partial = true;
    if (value.k === 'list' && value.items.some((v) => v.k === 'module' || (v.k === 'unknown' && !v.scalar))) {
      // A plain list of modules is not registered: torch ignores it (a classic bug, but not ours to count).
    }
    target.fields.set(name, value);
  }

  // ---- calls --------------------------------------------------------------

  private call(fn: FunctionInfo, self: SVal | undefined, args: { positional: SVal[]; keyword: Map<string, SVal> }, owner?: ClassInfo, closure?: Map<string, SVal>): SVal {
    if (this.depth >= MAX_DEPTH) throw new GiveUp('depth');
    const body = fn.node.getChild('Body');
    if (!body) return UNKNOWN;
    const frame: Frame = { vars: new Map(), unit: fn.unit, scope: fn.scope, self: self?.k === 'module' ? self : undefined, cls: owner ?? fn.cls, closure };
    const params = fn.params;
    let pos = 0;
    const positional = self ? [self, ...args.positional] : args.positional;
    const used = new Set<string>();
    const text = this.binder.program.units[fn.unit].text;
    for (const p of params) {
      const isKwargs = p.star && nodeText(text, p.node).startsWith('**');
      if (p.star) {
        // *args takes the rest of the positionals; **kwargs the remaining keywords.
        if (isKwargs) {
          const rest = new Map([...args.keyword].filter(([k]) => !used.has(k)));
          frame.vars.set(p.name, { k: 'dict', entries: rest });
          for (const k of rest.keys()) used.add(k);
        } else {
          frame.vars.set(p.name, { k: 'list', items: positional.slice(pos), tuple: true });
          pos = positional.length;
        }
        continue;
      }
      if (pos < positional.length) frame.vars.set(p.name, positional[pos++]);
      else if (args.keyword.has(p.name)) {
        frame.vars.set(p.name, args.keyword.get(p.name)!);
        used.add(p.name);
      } else if (p.default) frame.vars.set(p.name, this.eval(p.default, { vars: new Map(), unit: fn.unit, scope: fn.scope.parent ?? this.binder.moduleScopeOf(fn.unit) }));
      else frame.vars.set(p.name, annotatedScalar(text, p.annotation) ? SCALAR : UNKNOWN);
    }
    this.depth++;
    try {
      this.execBlock(body, frame);
    } finally {
      this.depth--;
    }
    if (frame.stop === 'raise') throw new GiveUp('raised');
    return frame.returned ?? NONE;
  }

  private callValue(callee: SVal, args: { positional: SVal[]; keyword: Map<string, SVal>; star?: boolean }, frame: Frame): SVal {
    this.tick();
    switch (callee.k) {
      case 'class':
        return this.construct(callee.cls, args);
      case 'function': {
        if (args.star) return this.opaqueCall(frame, args);
        const isStatic = /@staticmethod/.test(this.text(callee.fn.unit, callee.fn.node.parent ?? callee.fn.node).split('def')[0]);
        return this.call(callee.fn, callee.bound && !isStatic ? callee.self : undefined, args, undefined, callee.closure);
      }
      case 'lib':
        return this.libraryCall(callee.q, args, frame);
      case 'builtin':
        return this.builtinCall(callee.name, args, frame);
      case 'method':
        return this.methodCall(callee.recv, callee.name, args, frame);
      default:
        return this.opaqueCall(frame, args);
    }
  }

  /** A call the evaluator cannot follow: modules passed to it may be changed, so their owners become partial. */
  private opaqueCall(frame: Frame, args: { positional: SVal[]; keyword: Map<string, SVal> }): SVal {
    for (const a of [...args.positional, ...args.keyword.values()]) if (a.k === 'module' && a === frame.self) a.partial = true;
    return UNKNOWN;
  }

  private libraryCall(q: string, args: { positional: SVal[]; keyword: Map<string, SVal>; star?: boolean }, frame: Frame): SVal {
    const nn = /^torch\.nn\.(?:modules\.\w+\.)?([A-Z]\w*)$/.exec(q);
    if (nn) {
      const cls = nn[1];
      if (args.star) return UNKNOWN;
      if (cls === 'Sequential' || cls === 'ModuleList' || cls === 'ModuleDict') {
        const m = newModule(cls, 0, 0, []);
        this.fillContainer(cls, m, cls === 'Sequential' ? args.positional : [args.positional[0] ?? args.keyword.get(cls === 'ModuleList' ? 'modules' : 'modules') ?? NONE].filter((v) => v.k !== 'none'));
        return m;
      }
      if (cls === 'Parameter') {
        const data = args.positional[0] ?? args.keyword.get('data');
        return { k: 'param', numel: data?.k === 'tensor' || data?.k === 'param' ? data.numel : null };
      }
      if (cls === 'ParameterList' || cls === 'ParameterDict') {
        const m = newModule(cls, 0, 0, []);
        const src = args.positional[0];
        if (src?.k === 'list') src.items.forEach((v, i) => this.register(m, String(i), v.k === 'tensor' ? { k: 'param', numel: v.numel } : v));
        else if (src?.k === 'dict') for (const [k, v] of src.entries) this.register(m, k, v.k === 'tensor' ? { k: 'param', numel: v.numel } : v);
        else if (src) m.partial = true;
        return m;
      }
      const tree = nnLayer(cls, toLayerArgs(args));
      return tree ? thaw(tree) : UNKNOWN;
    }
    const lib = ClassEvaluator.library(q, toLayerArgs(args));
    if (lib) return thaw(lib);
    const tensor = /^torch\.(zeros|ones|empty|randn|rand|full|Tensor|FloatTensor|LongTensor|tensor|eye|arange|randint|linspace|logspace)$/.exec(q);
    if (tensor) return this.tensorOf(tensor[1], args);
    const same = /^torch\.(\w+)$/.exec(q);
    if (same && TENSOR_SAME_SIZE.test(same[1]) && args.positional[0]?.k === 'tensor') return { k: 'tensor', numel: args.positional[0].numel };
    if (q === 'torch.cat' || q === 'torch.stack') {
      // The number of elements does not depend on the dimension joined along.
      const parts = args.positional[0]?.k === 'list' ? args.positional[0].items : [];
      const sizes = parts.map((p) => (p.k === 'tensor' || p.k === 'param' ? p.numel : null));
      return { k: 'tensor', numel: parts.length > 0 && sizes.every((x) => x !== null) ? (sizes as number[]).reduce((a, b) => a + b, 0) : null };
    }
    if (q === 'torch.outer') {
      const [a, b] = args.positional;
      return { k: 'tensor', numel: a?.k === 'tensor' && b?.k === 'tensor' && a.numel !== null && b.numel !== null ? a.numel * b.numel : null };
    }
    if (/^torch\.\w+$/.test(q) && args.positional.some((p) => p.k === 'tensor')) return { k: 'tensor', numel: null };
    if (q === 'copy.deepcopy') {
      const v = args.positional[0];
      return v?.k === 'module' ? cloneModule(v) : UNKNOWN;
    }
    if (q === 'collections.OrderedDict') return this.builtinCall('dict', args, frame);
    if (/^math\.(ceil|floor|sqrt|log2?|prod)$/.test(q)) {
      const xs = args.positional.map(num);
      if (xs.some((x) => x === undefined)) return SCALAR;
      const f = q.slice(5);
      const x = xs[0]!;
      const r = f === 'ceil' ? Math.ceil(x) : f === 'floor' ? Math.floor(x) : f === 'sqrt' ? Math.sqrt(x) : f === 'log2' ? Math.log2(x) : f === 'log' ? Math.log(x) : args.positional[0]?.k === 'list' ? 0 : x;
      return { k: 'num', v: r };
    }
    if (/^torch\.nn\.init\./.test(q) || /^(warnings|logging)\./.test(q)) return NONE;
    // `nn.Module.__init__(self)`: the base initialiser registers nothing.
    if (/^torch\.nn\.(modules\.\w+\.)?Module\.__init__$/.test(q)) return NONE;
    const base = /^(torch\.nn\.(?:modules\.\w+\.)?(?:Sequential|ModuleList|ModuleDict))\.__init__$/.exec(q);
    if (base && args.positional[0]?.k === 'module') {
      this.libraryInit(base[1], args.positional[0], { positional: args.positional.slice(1), keyword: args.keyword });
      return NONE;
    }
    return this.opaqueCall(frame, args);
  }

  private tensorOf(kind: string, args: { positional: SVal[]; keyword: Map<string, SVal> }): SVal {
    const dimsOf = (vs: SVal[]): number | null => {
      let n = 1;
      for (const v of vs) {
        if (v.k === 'list') {
          const inner = dimsOf(v.items);
          if (inner === null) return null;
          n *= inner;
        } else if (v.k === 'num') n *= v.v;
        else return null;
      }
      return n;
    };
    if (kind === 'linspace' || kind === 'logspace') {
      const steps = num(args.positional[2] ?? args.keyword.get('steps'));
      return { k: 'tensor', numel: steps ?? null };
    }
    if (kind === 'tensor') {
      const flat = (v: SVal | undefined): number | null => (v?.k === 'num' || v?.k === 'bool' ? 1 : v?.k === 'list' ? v.items.reduce<number | null>((s, x) => (s === null ? null : ((f) => (f === null ? null : s + f))(flat(x))), 0) : null);
      return { k: 'tensor', numel: flat(args.positional[0]) };
    }
    if (kind === 'eye') {
      const n = num(args.positional[0]);
      const m = args.positional[1] ? num(args.positional[1]) : n;
      return { k: 'tensor', numel: n === undefined || m === undefined ? null : n * m };
    }
    if (kind === 'arange') {
      const xs = args.positional.map(num);
      if (xs.some((x) => x === undefined) || xs.length === 0) return { k: 'tensor', numel: null };
      const [a, b, s] = xs.length === 1 ? [0, xs[0]!, 1] : [xs[0]!, xs[1]!, xs[2] ?? 1];
      return { k: 'tensor', numel: Math.max(0, Math.ceil((b - a) / s)) };
    }
    if (kind === 'randint') return { k: 'tensor', numel: dimsOf(args.keyword.get('size') ? [args.keyword.get('size')!] : args.positional.slice(-1)) };
    const shape = kind === 'full' ? args.positional.slice(0, 1) : args.positional;
    const size = args.keyword.get('size');
    return { k: 'tensor', numel: dimsOf(size ? [size] : shape) };
  }

  private builtinCall(name: string, args: { positional: SVal[]; keyword: Map<string, SVal>; star?: boolean }, frame: Frame): SVal {
    const a = args.positional;
    switch (name) {
      case 'range': {
        const xs = a.map(num);
        if (xs.length === 0 || xs.some((x) => x === undefined)) return UNKNOWN;
        const [start, stop, step] = xs.length === 1 ? [0, xs[0]!, 1] : [xs[0]!, xs[1]!, xs[2] ?? 1];
        if (step === 0 || Math.abs((stop - start) / step) > MAX_LIST) return UNKNOWN;
        const items: SVal[] = [];
        for (let i = start; step > 0 ? i < stop : i > stop; i += step) items.push({ k: 'num', v: i });
        return { k: 'list', items };
      }
      case 'len': {
        const v = a[0];
        if (v?.k === 'list') return { k: 'num', v: v.items.length };
        if (v?.k === 'str') return { k: 'num', v: v.v.length };
        if (v?.k === 'dict') return { k: 'num', v: v.entries.size };
        if (v?.k === 'module' && !v.partial) return { k: 'num', v: [...v.children.values()].filter(Boolean).length };
        return SCALAR;
      }
      case 'int':
      case 'float':
      case 'round': {
        const v = a[0];
        if (v?.k === 'num') return { k: 'num', v: name === 'float' ? v.v : name === 'round' ? Math.round(v.v) : Math.trunc(v.v) };
        if (v?.k === 'bool') return { k: 'num', v: Number(v.v) };
        if (v?.k === 'str' && name !== 'round' && v.v.trim() !== '' && Number.isFinite(Number(v.v))) return { k: 'num', v: name === 'int' ? Math.trunc(Number(v.v)) : Number(v.v) };
        return SCALAR;
      }
      case 'bool': {
        const t = truthy(a[0] ?? { k: 'bool', v: false });
        return t === undefined ? SCALAR : { k: 'bool', v: t };
      }
      case 'str':
        return a[0]?.k === 'str' ? a[0] : a[0]?.k === 'num' ? { k: 'str', v: String(a[0].v) } : SCALAR;
      case 'abs':
        return a[0]?.k === 'num' ? { k: 'num', v: Math.abs(a[0].v) } : SCALAR;
      case 'min':
      case 'max':
      case 'sum': {
        const items = a.length === 1 && a[0].k === 'list' ? a[0].items : a;
        const xs = items.map(num);
        if (xs.some((x) => x === undefined) || (xs.length === 0 && name !== 'sum')) return SCALAR;
        const ns = xs as number[];
        return { k: 'num', v: name === 'sum' ? ns.reduce((s, x) => s + x, 0) : name === 'min' ? Math.min(...ns) : Math.max(...ns) };
      }
      case 'list':
      case 'tuple':
      case 'reversed':
      case 'sorted': {
        if (a.length === 0) return { k: 'list', items: [], tuple: name === 'tuple' };
        const it = this.iterate(a[0]);
        if (!it) return UNKNOWN;
        const items = name === 'reversed' ? [...it].reverse() : name === 'sorted' ? sortValues(it) : it;
        return items ? { k: 'list', items, tuple: name === 'tuple' } : UNKNOWN;
      }
      case 'dict':
      case 'OrderedDict': {
        const entries = new Map<string, SVal>();
        if (a[0]) {
          if (a[0].k === 'dict') for (const [k, v] of a[0].entries) entries.set(k, v);
          else {
            const it = this.iterate(a[0]);
            if (!it) return UNKNOWN;
            for (const p of it) {
              if (p.k !== 'list' || p.items.length !== 2) return UNKNOWN;
              const key = keyOf(p.items[0]);
              if (key === undefined) return UNKNOWN;
              entries.set(key, p.items[1]);
            }
          }
        }
        for (const [k, v] of args.keyword) entries.set(k, v);
        return { k: 'dict', entries };
      }
      case 'zip': {
        const lists = a.map((v) => this.iterate(v));
        if (lists.some((l) => !l) || lists.length === 0) return UNKNOWN;
        const n = Math.min(...lists.map((l) => l!.length));
        return { k: 'list', items: Array.from({ length: n }, (_, i) => ({ k: 'list', items: lists.map((l) => l![i]), tuple: true }) as SVal) };
      }
      case 'enumerate': {
        const it = a[0] ? this.iterate(a[0]) : undefined;
        const start = num(a[1] ?? args.keyword.get('start') ?? { k: 'num', v: 0 });
        if (!it || start === undefined) return UNKNOWN;
        return { k: 'list', items: it.map((v, i) => ({ k: 'list', items: [{ k: 'num', v: i + start }, v], tuple: true }) as SVal) };
      }
      case 'any':
      case 'all': {
        const it = a[0] ? this.iterate(a[0]) : undefined;
        if (!it) return SCALAR;
        const ts = it.map(truthy);
        if (ts.some((t) => t === undefined)) return SCALAR;
        return { k: 'bool', v: name === 'any' ? ts.some(Boolean) : ts.every(Boolean) };
      }
      case 'isinstance':
        return SCALAR;
      case 'getattr':
      case 'hasattr': {
        const key = a[1]?.k === 'str' ? a[1].v : undefined;
        if (!a[0] || key === undefined) return name === 'hasattr' ? SCALAR : UNKNOWN;
        const v = this.member(a[0], key, frame);
        if (name === 'hasattr') return v.k === 'unknown' ? SCALAR : { k: 'bool', v: true };
        return v.k === 'unknown' && a[2] ? a[2] : v;
      }
      case 'setattr': {
        const key = a[1]?.k === 'str' ? a[1].v : undefined;
        if (a[0]?.k === 'module') {
          if (key === undefined) a[0].partial = true;
          else this.register(a[0], key, a[2] ?? UNKNOWN);
        }
        return NONE;
      }
      case 'super': {
        if (!frame.self || !frame.cls) return UNKNOWN;
        return { k: 'super', self: frame.self, after: frame.cls };
      }
      case 'print':
        return NONE;
    }
    return UNKNOWN;
  }

  private methodCall(recv: SVal, name: string, args: { positional: SVal[]; keyword: Map<string, SVal>; star?: boolean }, frame: Frame): SVal {
    const a = args.positional;
    if (recv.k === 'super') {
      const m = this.findMethod(recv.self.userCls ?? recv.after, name, recv.after);
      if (m.kind === 'user') return this.call(m.fn, recv.self, args, m.owner);
      if (m.kind === 'library' && name === '__init__') {
        this.libraryInit(m.q, recv.self, args);
        return NONE;
      }
      if (m.kind === 'none' && name === '__init__') return NONE;
      recv.self.partial = true;
      return UNKNOWN;
    }
    if (recv.k === 'list') {
      switch (name) {
        case 'append':
          recv.items.push(a[0] ?? UNKNOWN);
          return NONE;
        case 'extend': {
          const it = a[0] ? this.iterate(a[0]) : undefined;
          if (!it) {
            recv.items.length = 0;
            recv.items.push(UNKNOWN);
            return NONE;
          }
          recv.items.push(...it);
          return NONE;
        }
        case 'insert': {
          const i = num(a[0]);
          if (i === undefined) return UNKNOWN;
          recv.items.splice(i, 0, a[1] ?? UNKNOWN);
          return NONE;
        }
        case 'pop': {
          const i = a[0] ? num(a[0]) : -1;
          if (i === undefined) return UNKNOWN;
          return recv.items.splice(i < 0 ? recv.items.length + i : i, 1)[0] ?? UNKNOWN;
        }
        case 'index':
        case 'count':
          return SCALAR;
      }
      return UNKNOWN;
    }
    if (recv.k === 'dict') {
      switch (name) {
        case 'get': {
          const key = a[0] ? keyOf(a[0]) : undefined;
          if (key === undefined) return UNKNOWN;
          return recv.entries.get(key) ?? a[1] ?? NONE;
        }
        case 'items':
          return { k: 'list', items: [...recv.entries].map(([k, v]) => ({ k: 'list', items: [{ k: 'str', v: k }, v], tuple: true }) as SVal) };
        case 'keys':
          return { k: 'list', items: [...recv.entries.keys()].map((k) => ({ k: 'str', v: k }) as SVal) };
        case 'values':
          return { k: 'list', items: [...recv.entries.values()] };
        case 'pop': {
          const key = a[0] ? keyOf(a[0]) : undefined;
          if (key === undefined) return UNKNOWN;
          const v = recv.entries.get(key) ?? a[1] ?? UNKNOWN;
          recv.entries.delete(key);
          return v;
        }
        case 'update':
          if (a[0]?.k === 'dict') for (const [k, v] of a[0].entries) recv.entries.set(k, v);
          for (const [k, v] of args.keyword) recv.entries.set(k, v);
          return NONE;
        case 'setdefault': {
          const key = a[0] ? keyOf(a[0]) : undefined;
          if (key === undefined) return UNKNOWN;
          if (!recv.entries.has(key)) recv.entries.set(key, a[1] ?? NONE);
          return recv.entries.get(key)!;
        }
      }
      return UNKNOWN;
    }
    if (recv.k === 'str') {
      if (name === 'format' || name === 'lower' || name === 'upper' || name === 'strip' || name === 'replace') return SCALAR;
      if (name === 'startswith' || name === 'endswith') return a[0]?.k === 'str' ? { k: 'bool', v: name === 'startswith' ? recv.v.startsWith(a[0].v) : recv.v.endsWith(a[0].v) } : SCALAR;
      return UNKNOWN;
    }
    if (recv.k === 'module') {
      switch (name) {
        case 'append':
          this.register(recv, String([...recv.children.keys()].length), a[0] ?? UNKNOWN);
          return NONE;
        case 'extend': {
          const it = a[0] ? this.iterate(a[0]) : undefined;
          if (!it) recv.partial = true;
          else for (const v of it) this.register(recv, String([...recv.children.keys()].length), v);
          return NONE;
        }
        case 'insert': {
          // ModuleList.insert renumbers the children after the index.
          const i = num(a[0]);
          const kids = [...recv.children.values()];
          if (i === undefined) recv.partial = true;
          else {
            kids.splice(i < 0 ? kids.length + i : i, 0, a[1]?.k === 'module' ? a[1] : null);
            recv.children = new Map(kids.map((k, j) => [String(j), k]));
          }
          return NONE;
        }
        case 'add_module':
        case 'register_module': {
          const key = a[0]?.k === 'str' ? a[0].v : undefined;
          if (key === undefined) recv.partial = true;
          else this.register(recv, key, a[1] ?? args.keyword.get('module') ?? UNKNOWN);
          return NONE;
        }
        case 'register_buffer': {
          const key = a[0]?.k === 'str' ? a[0].v : undefined;
          const t = a[1] ?? args.keyword.get('tensor') ?? UNKNOWN;
          const numel = t.k === 'tensor' || t.k === 'param' ? t.numel : t.k === 'none' ? 0 : null;
          if (key === undefined) recv.buffers = null;
          else {
            const old = recv.bufferSizes.get(key) ?? 0;
            recv.bufferSizes.set(key, numel);
            recv.buffers = recv.buffers === null || numel === null || old === null ? null : recv.buffers - old + numel;
          }
          return NONE;
        }
        case 'register_parameter': {
          const key = a[0]?.k === 'str' ? a[0].v : undefined;
          const p = a[1] ?? UNKNOWN;
          if (key === undefined) recv.params = null;
          else if (p.k !== 'none') this.register(recv, key, p.k === 'param' ? p : { k: 'param', numel: null });
          return NONE;
        }
        case 'children':
          return { k: 'list', items: [...recv.children.values()].filter((c): c is ModObj => c !== null) };
        case 'named_children':
          return { k: 'list', items: [...recv.children].filter(([, c]) => c !== null).map(([n, c]) => ({ k: 'list', items: [{ k: 'str', v: n }, c!], tuple: true }) as SVal) };
        case 'to':
        case 'cuda':
        case 'cpu':
        case 'float':
        case 'half':
        case 'double':
        case 'train':
        case 'eval':
        case 'requires_grad_':
        case 'apply':
          return recv;
        case 'parameters':
        case 'named_parameters':
        case 'modules':
        case 'named_modules':
        case 'buffers':
        case 'state_dict':
        case 'load_state_dict':
        case 'zero_grad':
        case 'extra_repr':
          return UNKNOWN;
        case 'keys':
          return { k: 'list', items: [...recv.children.keys()].map((k) => ({ k: 'str', v: k }) as SVal) };
        case 'values':
          return { k: 'list', items: [...recv.children.values()].filter((c): c is ModObj => c !== null) };
        case 'items':
          return { k: 'list', items: [...recv.children].filter(([, c]) => c !== null).map(([n, c]) => ({ k: 'list', items: [{ k: 'str', v: n }, c!], tuple: true }) as SVal) };
      }
      // A user method of a submodule's class is not known here (the object lost its class on thaw).
      recv.partial = true;
      return UNKNOWN;
    }
    if (recv.k === 'tensor' || recv.k === 'param') {
      if (TENSOR_SAME_SIZE.test(name)) return { k: 'tensor', numel: recv.numel };
      if (name === 'numel') return recv.numel === null ? SCALAR : { k: 'num', v: recv.numel };
      if (name === 'size' || name === 'dim' || name === 'item') return SCALAR;
      return { k: 'tensor', numel: null };
    }
    return UNKNOWN;
  }

  // ---- statements ------------------------------------------------------

  private execBlock(block: SyntaxNode, frame: Frame): void {
    for (let s = block.firstChild; s && !frame.stop; s = s.nextSibling) this.exec(s, frame);
  }

  private exec(stmt: SyntaxNode, frame: Frame): void {
    this.tick();
    switch (stmt.name) {
      case 'AssignStatement':
        return this.execAssign(stmt, frame);
      case 'UpdateStatement': {
        const kids = children(stmt);
        const target = kids[0];
        const op = this.text(frame.unit, kids[1]).slice(0, -1);
        const cur = this.eval(target, frame);
        const rhs = this.eval(kids[2], frame);
        this.assignTo(target, binary(op, cur, rhs), frame);
        return;
      }
      case 'ExpressionStatement':
        this.eval(stmt.firstChild!, frame);
        return;
      case 'IfStatement':
        return this.execIf(stmt, frame);
      case 'ForStatement':
        return this.execFor(stmt, frame);
      case 'WhileStatement':
        return this.unfollowable(stmt, frame);
      case 'ReturnStatement': {
        const value = stmt.firstChild?.nextSibling;
        frame.returned = value ? this.evalTuple(stmt, value, frame) : NONE;
        frame.stop = 'return';
        return;
      }
      case 'RaiseStatement':
        frame.stop = 'raise';
        return;
      case 'BreakStatement':
        frame.stop = 'break';
        return;
      case 'ContinueStatement':
        frame.stop = 'continue';
        return;
      case 'FunctionDefinition':
      case 'DecoratedStatement': {
        const def = stmt.name === 'FunctionDefinition' ? stmt : stmt.getChild('FunctionDefinition');
        const nameNode = def?.getChild('VariableName');
        if (!def || !nameNode) return;
        const name = this.text(frame.unit, nameNode);
        const fn = this.localFunction(frame, name, def);
        frame.vars.set(name, fn ? { k: 'function', fn, closure: frame.vars } : UNKNOWN);
        return;
      }
      case 'WithStatement': {
        const body = stmt.getChild('Body');
        if (body) this.execBlock(body, frame);
        return;
      }
      case 'TryStatement': {
        // The body, as if nothing raised; a handler that could run instead makes what it builds unknown.
        const body = stmt.getChild('Body');
        if (body) this.execBlock(body, frame);
        if (frame.stop === 'raise') {
          frame.stop = undefined;
          this.markSelf(frame);
        }
        return;
      }
      case 'DeleteStatement': {
        for (const t of children(stmt).slice(1)) {
          const m = unparen(t);
          if (m.name === 'MemberExpression' && m.lastChild?.name === 'PropertyName') {
            const obj = this.eval(m.firstChild!, frame);
            if (obj.k === 'module') {
              const key = this.text(frame.unit, m.lastChild);
              obj.children.delete(key);
              obj.fields.delete(key);
            }
          }
        }
        return;
      }
      case 'ImportStatement':
      case 'ImportFromStatement': {
        const parsed = parseImport(this.binder.program.units[frame.unit].text, stmt);
        for (const { name, alias } of parsed.names) {
          const base = parsed.modules[0]?.module ?? '';
          frame.vars.set(alias.split('.')[0], parsed.from ? { k: 'lib', q: base ? `${base}.${name}` : name } : { k: 'lib', q: alias.includes('.') ? name.split('.')[0] : name });
        }
        return;
      }
      case 'PassStatement':
      case 'AssertStatement':
      case 'Comment':
      case 'GlobalStatement':
      case 'NonlocalStatement':
      case 'ClassDefinition':
        return;
      default:
        // Anything else that could build or change modules is not followed.
        if (stmt.name.endsWith('Statement')) this.markSelf(frame);
    }
  }

  private markSelf(frame: Frame): void {
    if (frame.self) frame.self.partial = true;
  }

  /**
   * A statement whose effect is not known (a branch on an unknown condition,
   * a loop over an unknown iterable): every name it assigns becomes unknown,
   * and the module becomes partial if the statement could register anything
   * (an initialisation loop over `self.modules()` cannot).
   */
  private unfollowable(stmt: SyntaxNode, frame: Frame): void {
    if (MAY_REGISTER.test(this.text(frame.unit, stmt))) this.markSelf(frame);
    const c = stmt.cursor();
    do {
      if (c.name === 'AssignStatement' || c.name === 'UpdateStatement') {
        const t = c.node.firstChild;
        if (t?.name === 'VariableName') frame.vars.set(this.text(frame.unit, t), UNKNOWN);
      }
    } while (c.next() && c.from < stmt.to);
  }

  private localFunction(frame: Frame, name: string, def: SyntaxNode): FunctionInfo | undefined {
    for (let s: Scope | undefined = frame.scope; s; s = s.parent) {
      for (const b of s.bindings.get(name) ?? []) if (b.source.type === 'function' && b.source.fn.node.from === def.from) return b.source.fn;
    }
    return undefined;
  }

  private execAssign(stmt: SyntaxNode, frame: Frame): void {
    const kids = children(stmt);
    const ops = kids.map((k, i) => (k.name === 'AssignOp' ? i : -1)).filter((i) => i >= 0);
    if (ops.length === 0) return; // an annotation without a value
    const last = ops[ops.length - 1];
    const valueNodes = kids.slice(last + 1).filter((k) => k.name !== ',');
    const value = valueNodes.length === 1 ? this.eval(valueNodes[0], frame) : { k: 'list' as const, items: valueNodes.map((v) => this.eval(v, frame)), tuple: true };
    let start = 0;
    for (const op of ops) {
      const targets = kids.slice(start, op).filter((k) => k.name !== ',' && k.name !== 'TypeDef');
      if (targets.length === 1) this.assignTo(targets[0], value, frame);
      else this.destructure(targets, value, frame);
      start = op + 1;
    }
  }

  private destructure(targets: SyntaxNode[], value: SVal, frame: Frame): void {
    const items = this.iterate(value);
    targets.forEach((t, i) => this.assignTo(t, items && items.length === targets.length ? items[i] : UNKNOWN, frame));
  }

  private assignTo(target: SyntaxNode, value: SVal, frame: Frame): void {
    const t = unparen(target);
    if (t.name === 'VariableName') {
      frame.vars.set(this.text(frame.unit, t), value);
      return;
    }
    if (t.name === 'TupleExpression' || t.name === 'ArrayExpression') {
      this.destructure(children(t).filter((k) => !/^[[\](),]$/.test(k.name)), value, frame);
      return;
    }
    if (t.name !== 'MemberExpression') return;
    const obj = this.eval(t.firstChild!, frame);
    const prop = t.lastChild!;
    if (prop.name === 'PropertyName') {
      const name = this.text(frame.unit, prop);
      if (obj.k === 'module') this.register(obj, name, value);
      return;
    }
    // module[i] = new_module (a layer replaced inside a Sequential); list[i] = v; dict[k] = v
    const index = this.subscriptIndex(t, frame);
    if (obj.k === 'module') {
      const key = index === undefined ? undefined : keyOf(index);
      if (key === undefined) obj.partial = true;
      else {
        const kids = [...obj.children.keys()];
        const n = Number(key);
        this.register(obj, Number.isInteger(n) && n < 0 ? kids[kids.length + n] ?? key : key, value);
      }
    } else if (obj.k === 'list') {
      const i = index?.k === 'num' ? index.v : undefined;
      if (i === undefined || Math.abs(i) > obj.items.length) obj.items.splice(0, obj.items.length, UNKNOWN);
      else obj.items[i < 0 ? obj.items.length + i : i] = value;
    } else if (obj.k === 'dict') {
      const key = index ? keyOf(index) : undefined;
      if (key !== undefined) obj.entries.set(key, value);
    }
  }

  private execIf(stmt: SyntaxNode, frame: Frame): void {
    const kids = children(stmt);
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i];
      if (k.name === 'if' || k.name === 'elif') {
        const cond = truthy(this.eval(kids[i + 1], frame));
        let body: SyntaxNode | undefined;
        for (let j = i + 1; j < kids.length && !body; j++) if (kids[j].name === 'Body') body = kids[j];
        if (cond === undefined) {
          // Which arm runs is not known: whatever any remaining arm builds is unknown.
          this.unfollowable(stmt, frame);
          return;
        }
        if (cond && body) {
          this.execBlock(body, frame);
          return;
        }
      } else if (k.name === 'else') {
        const body = kids[i + 1];
        if (body?.name === 'Body') this.execBlock(body, frame);
        return;
      }
    }
  }

  private execFor(stmt: SyntaxNode, frame: Frame): void {
    const kids = children(stmt);
    const inIdx = kids.findIndex((k) => k.name === 'in');
    const targets = kids.slice(1, inIdx).filter((k) => k.name !== ',');
    const body = stmt.getChild('Body');
    const iterNode = kids[inIdx + 1];
    if (!body || !iterNode) return;
    const items = this.iterate(this.eval(iterNode, frame));
    if (!items) return this.unfollowable(stmt, frame);
    for (const item of items) {
      if (targets.length === 1) this.assignTo(targets[0], item, frame);
      else this.destructure(targets, item, frame);
      this.execBlock(body, frame);
      const stop = frame.stop;
      if (stop === 'continue') frame.stop = undefined;
      else if (stop === 'break') {
        frame.stop = undefined;
        return;
      } else if (stop) return;
    }
    // for-else runs when the loop ends without break.
    const elseBody = kids.findIndex((k) => k.name === 'else');
    if (elseBody >= 0 && kids[elseBody + 1]?.name === 'Body') this.execBlock(kids[elseBody + 1], frame);
  }

  /** The elements of an iterable value; undefined when not known. */
  private iterate(v: SVal): SVal[] | undefined {
    if (v.k === 'list') return v.items.some((x) => x.k === 'unknown' && !x.scalar && v.items.length === 1 && x === UNKNOWN) ? undefined : v.items;
    if (v.k === 'dict') return [...v.entries.keys()].map((k) => ({ k: 'str', v: k }) as SVal);
    if (v.k === 'str') return [...v.v].map((c) => ({ k: 'str', v: c }) as SVal);
    if (v.k === 'module' && !v.partial && /^(Sequential|ModuleList)$/.test(v.cls)) return [...v.children.values()].filter((c): c is ModObj => c !== null);
    if (v.k === 'module' && !v.partial && v.cls === 'ModuleDict') return [...v.children.keys()].map((k) => ({ k: 'str', v: k }) as SVal);
    return undefined;
  }

  // ---- expressions -----------------------------------------------------

  private eval(node: SyntaxNode, frame: Frame): SVal {
    this.tick();
    const n = node;
    switch (n.name) {
      case 'Number': {
        const t = this.text(frame.unit, n).replace(/_/g, '');
        const v = /^0[xob]/i.test(t) ? Number(t) : /[jJ]$/.test(t) ? NaN : Number(t.replace(/[lL]$/, ''));
        return Number.isFinite(v) ? { k: 'num', v } : SCALAR;
      }
      case 'String':
        return this.stringLiteral(n, frame);
      case 'FormatString':
        return SCALAR;
      case 'Boolean':
        return { k: 'bool', v: this.text(frame.unit, n) === 'True' };
      case 'None':
        return NONE;
      case 'VariableName':
        return this.lookup(this.text(frame.unit, n), frame);
      case 'ParenthesizedExpression': {
        const inner = children(n).filter((k) => k.name !== '(' && k.name !== ')');
        return inner.length === 1 ? this.eval(inner[0], frame) : UNKNOWN;
      }
      case 'TupleExpression':
      case 'ArrayExpression':
        return { k: 'list', items: this.elements(n, frame), tuple: n.name === 'TupleExpression' };
      case 'DictionaryExpression':
        return this.dictLiteral(n, frame);
      case 'BinaryExpression': {
        const kids = children(n);
        const opText = this.text(frame.unit, kids[1]);
        if (opText === 'and' || opText === 'or') {
          const l = this.eval(kids[0], frame);
          const t = truthy(l);
          if (t === undefined) return l.k === 'unknown' ? l : SCALAR;
          if (opText === 'and') return t ? this.eval(kids[2], frame) : l;
          return t ? l : this.eval(kids[2], frame);
        }
        return binary(opText.replace(/\s+/g, ' '), this.eval(kids[0], frame), this.eval(kids[2], frame));
      }
      case 'UnaryExpression': {
        const kids = children(n);
        const op = this.text(frame.unit, kids[0]);
        const v = this.eval(kids[1], frame);
        if (op === 'not') {
          const t = truthy(v);
          return t === undefined ? SCALAR : { k: 'bool', v: !t };
        }
        if (v.k !== 'num') return SCALAR;
        return { k: 'num', v: op === '-' ? -v.v : op === '~' ? ~v.v : v.v };
      }
      case 'ConditionalExpression': {
        const kids = children(n).filter((k) => k.name !== 'if' && k.name !== 'else');
        const t = truthy(this.eval(kids[1], frame));
        if (t === undefined) {
          const a = this.eval(kids[0], frame);
          const b = this.eval(kids[2], frame);
          return a.k === 'num' && b.k === 'num' ? SCALAR : a.k === 'module' || b.k === 'module' || (a.k === 'unknown' && !a.scalar) ? UNKNOWN : SCALAR;
        }
        return this.eval(t ? kids[0] : kids[2], frame);
      }
      case 'CallExpression':
        return this.evalCall(n, frame);
      case 'MemberExpression': {
        const obj = this.eval(n.firstChild!, frame);
        const prop = n.lastChild!;
        if (prop.name === 'PropertyName') return this.member(obj, this.text(frame.unit, prop), frame);
        return this.subscript(obj, n, frame);
      }
      case 'ArrayComprehensionExpression':
      case 'ComprehensionExpression':
        return this.comprehension(n, frame, false);
      case 'DictionaryComprehensionExpression':
        return this.comprehension(n, frame, true);
      case 'LambdaExpression':
        return UNKNOWN;
    }
    return UNKNOWN;
  }

  private stringLiteral(n: SyntaxNode, frame: Frame): SVal {
    const raw = this.text(frame.unit, n);
    const m = /^([rRuUbB]*)('''|"""|'|")([\s\S]*)\2$/.exec(raw);
    if (!m || /[bB]/.test(m[1])) return SCALAR;
    const body = /[rR]/.test(m[1]) ? m[3] : m[3].replace(/\\(['"\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    return { k: 'str', v: body };
  }

  private elements(n: SyntaxNode, frame: Frame): SVal[] {
    const out: SVal[] = [];
    const kids = children(n);
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i];
      if (/^[[\](),]$/.test(k.name)) continue;
      if (k.name === '*') {
        const it = kids[i + 1] ? this.iterate(this.eval(kids[i + 1], frame)) : undefined;
        if (!it) return [UNKNOWN];
        out.push(...it);
        i++;
        continue;
      }
      out.push(this.eval(k, frame));
    }
    return out;
  }

  private dictLiteral(n: SyntaxNode, frame: Frame): SVal {
    const entries = new Map<string, SVal>();
    const kids = children(n).filter((k) => k.name !== '{' && k.name !== '}' && k.name !== ',');
    for (let i = 0; i < kids.length; i++) {
      if (kids[i].name === '**') {
        const v = kids[i + 1] ? this.eval(kids[i + 1], frame) : UNKNOWN;
        if (v.k !== 'dict') return UNKNOWN;
        for (const [k, x] of v.entries) entries.set(k, x);
        i++;
        continue;
      }
      if (kids[i + 1]?.name !== ':') return UNKNOWN;
      const key = keyOf(this.eval(kids[i], frame));
      const value = kids[i + 2] ? this.eval(kids[i + 2], frame) : UNKNOWN;
      if (key === undefined) return UNKNOWN;
      entries.set(key, value);
      i += 2;
    }
    return { k: 'dict', entries };
  }

  private comprehension(n: SyntaxNode, frame: Frame, dict: boolean): SVal {
    const kids = children(n).filter((k) => !/^[[\](){}]$/.test(k.name));
    // element [':' value] ('for' targets 'in' iter ('if' cond)*)+
    const forAt = kids.findIndex((k) => k.name === 'for');
    if (forAt < 0) return UNKNOWN;
    const head = kids.slice(0, forAt);
    const clauses: { targets: SyntaxNode[]; iter: SyntaxNode; conds: SyntaxNode[] }[] = [];
    for (let i = forAt; i < kids.length; ) {
      if (kids[i].name !== 'for') return UNKNOWN;
      const inAt = kids.findIndex((k, j) => j > i && k.name === 'in');
      if (inAt < 0) return UNKNOWN;
      const clause = { targets: kids.slice(i + 1, inAt).filter((k) => k.name !== ','), iter: kids[inAt + 1], conds: [] as SyntaxNode[] };
      i = inAt + 2;
      while (kids[i]?.name === 'if') {
        clause.conds.push(kids[i + 1]);
        i += 2;
      }
      clauses.push(clause);
    }
    const local: Frame = { ...frame, vars: new Map(frame.vars) };
    const items: SVal[] = [];
    const entries = new Map<string, SVal>();
    let known = true;
    const run = (c: number): void => {
      if (!known) return;
      if (c === clauses.length) {
        if (dict) {
          const key = keyOf(this.eval(head[0], local));
          if (key === undefined || !head[2]) known = false;
          else entries.set(key, this.eval(head[2], local));
        } else items.push(this.eval(head[0], local));
        return;
      }
      const clause = clauses[c];
      const it = this.iterate(this.eval(clause.iter, local));
      if (!it) {
        known = false;
        return;
      }
      for (const item of it) {
        if (clause.targets.length === 1) this.assignTo(clause.targets[0], item, local);
        else this.destructure(clause.targets, item, local);
        let pass: boolean | undefined = true;
        for (const cond of clause.conds) {
          pass = truthy(this.eval(cond, local));
          if (!pass) break;
        }
        if (pass === undefined) {
          known = false;
          return;
        }
        if (pass) run(c + 1);
      }
    };
    run(0);
    if (!known) return UNKNOWN;
    return dict ? { k: 'dict', entries } : { k: 'list', items };
  }

  private evalCall(n: SyntaxNode, frame: Frame): SVal {
    const calleeNode = n.firstChild!;
    const argList = n.getChild('ArgList');
    const args = this.args(argList, frame);
    // `self.helper(...)`: a method of the class being built, bound to self.
    const callee = this.eval(calleeNode, frame);
    return this.callValue(callee, args, frame);
  }

  private args(argList: SyntaxNode | null, frame: Frame): { positional: SVal[]; keyword: Map<string, SVal>; star?: boolean } {
    const out = { positional: [] as SVal[], keyword: new Map<string, SVal>(), star: false };
    if (!argList) return out;
    const kids = children(argList);
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i];
      if (k.name === '(' || k.name === ')' || k.name === ',' || k.name === 'Comment') continue;
      if (k.name === '*' || k.name === '**') {
        const v = kids[i + 1] ? this.eval(kids[i + 1], frame) : UNKNOWN;
        i++;
        if (k.name === '*') {
          const it = this.iterate(v);
          if (it) out.positional.push(...it);
          else out.star = true;
        } else if (v.k === 'dict') for (const [key, x] of v.entries) out.keyword.set(key, x);
        else out.star = true;
        continue;
      }
      if (k.name === 'VariableName' && kids[i + 1]?.name === 'AssignOp' && kids[i + 2]) {
        out.keyword.set(this.text(frame.unit, k), this.eval(kids[i + 2], frame));
        i += 2;
        continue;
      }
      if (k.name === 'ComprehensionExpression' || kids[i + 1]?.name === 'for') {
        out.positional.push(this.comprehension(argList, frame, false));
        return out;
      }
      out.positional.push(this.eval(k, frame));
    }
    return out;
  }

  private subscriptIndex(n: SyntaxNode, frame: Frame): SVal | undefined {
    const kids = children(n);
    const open = kids.findIndex((k) => k.name === '[');
    const inside = kids.slice(open + 1, -1).filter((k) => k.name !== ',');
    if (inside.length !== 1 || inside.some((k) => k.name === ':')) return undefined;
    return this.eval(inside[0], frame);
  }

  private subscript(obj: SVal, n: SyntaxNode, frame: Frame): SVal {
    const kids = children(n);
    const open = kids.findIndex((k) => k.name === '[');
    const inside = kids.slice(open + 1, kids.length - 1);
    const seq = obj.k === 'module' ? (obj.partial ? undefined : [...obj.children.values()].filter((c): c is ModObj => c !== null)) : obj.k === 'list' ? obj.items : obj.k === 'str' ? [...obj.v].map((c) => ({ k: 'str', v: c }) as SVal) : undefined;
    if (inside.some((k) => k.name === ':')) {
      // A slice: start:stop[:step] with literal or evaluated bounds.
      if (!seq) return UNKNOWN;
      const parts: (SyntaxNode | undefined)[] = [undefined, undefined, undefined];
      let slot = 0;
      for (const k of inside) {
        if (k.name === ':') slot++;
        else if (k.name !== ',') parts[slot] = k;
      }
      const val = (p: SyntaxNode | undefined) => (p ? num(this.eval(p, frame)) : null);
      const [a, b, s] = parts.map(val);
      if (a === undefined || b === undefined || s === undefined) return UNKNOWN;
      const step = s ?? 1;
      const len = seq.length;
      const norm = (x: number | null, dflt: number) => (x === null ? dflt : x < 0 ? Math.max(len + x, step < 0 ? -1 : 0) : Math.min(x, step < 0 ? len - 1 : len));
      const items: SVal[] = [];
      if (step > 0) for (let i = norm(a, 0); i < norm(b, len); i += step) items.push(seq[i]);
      else if (step < 0) for (let i = norm(a, len - 1); i > norm(b, -1); i += step) items.push(seq[i]);
      if (obj.k === 'module') {
        // Slicing a Sequential gives a new Sequential holding the same modules.
        const m = newModule(obj.cls, 0, 0, []);
        items.forEach((c, i) => m.children.set(String(i), c as ModObj));
        return m;
      }
      return obj.k === 'str' ? { k: 'str', v: items.map((x) => (x as { v: string }).v).join('') } : { k: 'list', items };
    }
    const index = this.subscriptIndex(n, frame);
    if (!index) return UNKNOWN;
    if (obj.k === 'dict') {
      const key = keyOf(index);
      return key === undefined ? UNKNOWN : (obj.entries.get(key) ?? UNKNOWN);
    }
    if (obj.k === 'module' && obj.cls === 'ModuleDict' && index.k === 'str') return obj.children.get(index.v) ?? UNKNOWN;
    if (!seq || index.k !== 'num') return index.k === 'unknown' && obj.k === 'list' && obj.items.every((x) => x.k === 'num') ? SCALAR : UNKNOWN;
    const i = index.v < 0 ? seq.length + index.v : index.v;
    return seq[i] ?? UNKNOWN;
  }

  private member(obj: SVal, name: string, frame: Frame): SVal {
    switch (obj.k) {
      case 'module': {
        const child = obj.children.get(name);
        if (child) return child;
        if (child === null) return NONE;
        const field = obj.fields.get(name);
        if (field) return field;
        if (obj.userCls) {
          const m = this.findMethod(obj.userCls, name);
          if (m.kind === 'user') return { k: 'function', fn: m.fn, self: obj, bound: true };
        }
        const at = obj.paramNames ? obj.paramNames.indexOf(name) : -1;
        if (at >= 0) return { k: 'param', numel: obj.paramSizes?.[at] ?? null, existing: true };
        const attr = sizeAttribute(obj, name);
        if (attr !== undefined) return { k: 'num', v: attr };
        if (obj.userCls) {
          const classAttr = this.classAttribute(obj.userCls, name);
          if (classAttr) return classAttr;
        }
        if (/^(in_features|out_features|in_channels|out_channels|num_features|embedding_dim|num_embeddings|hidden_size|embed_dim)$/.test(name)) return SCALAR;
        return { k: 'method', recv: obj, name };
      }
      case 'lib':
        return { k: 'lib', q: `${obj.q}.${name}` };
      case 'ns': {
        return this.globalIn(obj.unit, name) ?? UNKNOWN;
      }
      case 'class': {
        const fn = obj.cls.methods.get(name);
        if (fn) return { k: 'function', fn };
        return this.classAttribute(obj.cls, name) ?? UNKNOWN;
      }
      case 'param':
      case 'tensor':
        if (name === 'data') return { k: 'tensor', numel: obj.numel };
        if (name === 'shape') return UNKNOWN;
        return { k: 'method', recv: obj, name };
      case 'list':
      case 'dict':
      case 'str':
      case 'super':
        return { k: 'method', recv: obj, name };
    }
    return UNKNOWN;
  }

  /** `expansion = 4` in a class body (or a base class's), read as `self.expansion` or `Bottleneck.expansion`. */
  private classAttribute(cls: ClassInfo, name: string): SVal | undefined {
    for (const c of this.mro(cls)) {
      if (c.k !== 'class') break;
      const bindings = c.cls.scope.bindings.get(name);
      if (!bindings) continue;
      const b = bindings[bindings.length - 1];
      if (b.source.type === 'function') return undefined;
      if (b.source.type !== 'assign' || bindings.length !== 1 || b.source.values.length !== 1 || b.source.path.length !== 0) return UNKNOWN;
      const v = this.eval(b.source.values[0], { vars: new Map(), unit: c.cls.unit, scope: c.cls.scope });
      return v.k === 'module' ? UNKNOWN : v;
    }
    return undefined;
  }

  // ---- names -------------------------------------------------------------

  private lookup(name: string, frame: Frame): SVal {
    const local = frame.vars.get(name) ?? frame.closure?.get(name);
    if (local) return local;
    if (name === 'self' && frame.self) return frame.self;
    // Enclosing function scopes (closures) are not tracked: only the module scope and builtins.
    const global = this.globalIn(frame.unit, name);
    if (global) return global;
    if (BUILTINS.has(name)) return { k: 'builtin', name };
    return UNKNOWN;
  }

  /** A module-level name of a unit: a class, a function, an import, or a constant assigned once. */
  private globalIn(unit: number, name: string): SVal | undefined {
    const scope = this.binder.moduleScopeOf(unit);
    const key = `${scope.unit}:${name}`;
    if (this.deps) {
      const unitId = this.binder.program.units[scope.unit].id;
      const depKey = `${unitId}\u0000${name}`;
      if (!this.deps.has(depKey)) {
        const text = this.fingerprintOf(unitId, name);
        if (text === undefined) this.incompleteDeps = true;
        else this.deps.set(depKey, { unitId, name, text });
      }
    }
    const cached = this.globals.get(key);
    if (cached) return cached;
    const bindings = scope.bindings.get(name);
    if (!bindings || bindings.length === 0) return undefined;
    if (this.evaluating.has(key)) return UNKNOWN;
    this.evaluating.add(key);
    let v: SVal = UNKNOWN;
    try {
      if (bindings.length === 1 || bindings.every((b) => b.source.type === 'import')) {
        const b = bindings[bindings.length - 1];
        const src = b.source;
        if (src.type === 'class') v = { k: 'class', cls: src.cls };
        else if (src.type === 'function') v = { k: 'function', fn: src.fn };
        else if (src.type === 'import') v = this.importValue(b.unit, b.statement, name, src.qualified);
        else if (src.type === 'assign' && src.values.length === 1 && src.path.length === 0) {
          v = this.eval(src.values[0], { vars: new Map(), unit: b.unit, scope: this.binder.moduleScopeOf(b.unit) });
          // A module object at module level is shared by every instance: a fresh copy per use would be wrong, so keep it unknown.
          if (v.k === 'module' || v.k === 'list' || v.k === 'dict') v = v.k === 'module' ? UNKNOWN : v;
        }
      } else {
        // Several definitions: the class or function a script redefines last is what a later call sees.
        const defs = bindings.filter((b) => b.source.type === 'class' || b.source.type === 'function');
        if (defs.length === bindings.length) {
          const src = defs[defs.length - 1].source;
          v = src.type === 'class' ? { k: 'class', cls: src.cls } : src.type === 'function' ? { k: 'function', fn: src.fn } : UNKNOWN;
        }
      }
    } finally {
      this.evaluating.delete(key);
    }
    this.globals.set(key, v);
    return v;
  }

  /** An imported name: a workspace module's definition, or a library name by its qualified path. */
  private importValue(unit: number, stmt: SyntaxNode, name: string, qualified: string): SVal {
    const parsed = parseImport(this.binder.program.units[unit].text, stmt);
    const entry = parsed.names.find((n) => n.alias === name || n.alias.split('.')[0] === name);
    const target = (module: string) => this.importTable.get(`${unit}:${stmt.from}:${module}`);
    if (parsed.from && entry) {
      const base = parsed.modules[0]?.module ?? '';
      const where = target(base);
      if (where !== undefined && where >= 0) {
        const v = this.globalIn(where, entry.name);
        if (v) return v;
      }
      const sub = target(base ? `${base}.${entry.name}` : entry.name);
      if (sub !== undefined && sub >= 0) return { k: 'ns', unit: sub };
      if (where !== undefined || sub !== undefined) return UNKNOWN;
    } else if (entry) {
      const where = target(entry.name);
      if (where !== undefined && where >= 0 && entry.alias === name) return { k: 'ns', unit: where };
      if (where !== undefined) return UNKNOWN;
    }
    return { k: 'lib', q: qualified };
  }

  private evalTuple(stmt: SyntaxNode, first: SyntaxNode, frame: Frame): SVal {
    const values = children(stmt).filter((k) => k.name !== 'return' && k.name !== ',');
    return values.length === 1 ? this.eval(first, frame) : { k: 'list', items: values.map((v) => this.eval(v, frame)), tuple: true };
  }
}

// ---- helpers ---------------------------------------------------------------

function newModule(cls: string, params: number | null, buffers: number | null, paramNames: string[] | undefined): ModObj {
  return new ModObj(cls, params, buffers, paramNames);
}

/** A library tree as a mutable object (each call builds a fresh one: every construction is a new module). */
function thaw(tree: ModuleNode): ModObj {
  const m = newModule(tree.cls, tree.params, tree.buffers, tree.paramNames ? [...tree.paramNames] : undefined);
  m.paramSizes = tree.paramSizes ? [...tree.paramSizes] : m.paramSizes;
  m.tied = tree.tied ?? 0;
  m.attrs = tree.attrs;
  m.runningStats = tree.runningStats;
  m.dropout = tree.dropout;
  m.partial = tree.partial ?? false;
  m.base = tree;
  if (tree.buffers !== null && tree.buffers > 0) m.bufferSizes.set('#library', tree.buffers);
  return m;
}

/** copy.deepcopy: a new object with the same structure (modules shared inside stay shared). */
function cloneModule(m: ModObj, seen = new Map<ModObj, ModObj>()): ModObj {
  const known = seen.get(m);
  if (known) return known;
  const c = newModule(m.cls, m.params, m.buffers, m.paramNames ? [...m.paramNames] : undefined);
  c.paramSizes = m.paramSizes ? [...m.paramSizes] : undefined;
  c.tied = m.tied;
  c.runningStats = m.runningStats;
  c.dropout = m.dropout;
  c.partial = m.partial;
  c.fields = new Map(m.fields);
  c.bufferSizes = new Map(m.bufferSizes);
  c.userCls = m.userCls;
  c.attrs = m.attrs;
  seen.set(m, c);
  if (m.untouched) c.base = m.base;
  else for (const [k, v] of m.children) c.children.set(k, v ? cloneModule(v, seen) : null);
  return c;
}

/**
 * The immutable tree, as `named_modules()` lists it: a module reachable
 * twice appears once, at its first path, and its parameters count once.
 */
function freeze(root: ModObj): ModuleNode {
  const seen = new Set<ModObj>();
  const go = (m: ModObj, name: string): ModuleNode => {
    seen.add(m);
    // A library subtree nothing changed is returned as it is: shared, and cheap.
    if (m.untouched) return m.base!.name === name ? m.base! : { ...m.base!, name };
    const kids: ModuleNode[] = [];
    for (const [k, c] of m.children) if (c && !seen.has(c)) kids.push(go(c, k));
    return {
      name,
      cls: m.cls,
      params: m.params,
      buffers: m.buffers,
      ...(m.paramNames ? { paramNames: [...m.paramNames] } : {}),
      ...(m.paramSizes && m.paramSizes.some((x) => x !== null) ? { paramSizes: [...m.paramSizes] } : {}),
      ...(m.tied ? { tied: m.tied } : {}),
      ...(m.attrs ? { attrs: m.attrs } : {}),
      ...(m.runningStats ? { runningStats: true } : {}),
      ...(m.dropout ? { dropout: true } : {}),
      children: kids,
      ...(m.partial ? { partial: true } : {}),
    };
  };
  return go(root, '');
}

/**
 * Class trees from earlier analyses (the previous keystroke's), keyed by the
 * class's text and arguments, valid while every module-level name they read
 * is bound to the same text.
 */
const crossAnalysis = new Map<string, { tree: ModuleNode | undefined; deps: { unitId: string; name: string; text: string }[] }>();
const CROSS_ANALYSIS_SIZE = 256;

function fromArg(a: LayerArg): SVal {
  if (a === undefined) return UNKNOWN;
  if (a === null) return NONE;
  if (typeof a === 'number') return { k: 'num', v: a };
  if (typeof a === 'string') return { k: 'str', v: a };
  if (typeof a === 'boolean') return { k: 'bool', v: a };
  if (Array.isArray(a)) return { k: 'list', items: a.map(fromArg) };
  if ('entries' in a) return { k: 'dict', entries: new Map(a.entries.map(([k, v]) => [k, fromArg(v)])) };
  return thaw(a.tree);
}

function toArg(v: SVal): LayerArg {
  switch (v.k) {
    case 'num':
    case 'str':
    case 'bool':
      return v.v;
    case 'none':
      return null;
    case 'list':
      return v.items.map(toArg);
    case 'dict':
      return { entries: [...v.entries].map(([k, x]) => [k, toArg(x)]) };
    case 'module':
      return { tree: freeze(v) };
    case 'lib':
      // A weights enum or a layer class passed as an argument: present, value not modelled.
      return `<${v.q}>`;
    default:
      return undefined;
  }
}

function toLayerArgs(args: { positional: SVal[]; keyword: Map<string, SVal>; star?: boolean }): LayerArgs {
  return { positional: args.positional.map(toArg), keyword: new Map([...args.keyword].map(([k, v]) => [k, toArg(v)])), star: args.star };
}

function num(v: SVal | undefined): number | undefined {
  return v?.k === 'num' ? v.v : v?.k === 'bool' ? Number(v.v) : undefined;
}

function keyOf(v: SVal): string | undefined {
  return v.k === 'str' ? v.v : v.k === 'num' ? String(v.v) : undefined;
}

/** Python truthiness where the value is known. */
function truthy(v: SVal): boolean | undefined {
  switch (v.k) {
    case 'num':
      return v.v !== 0;
    case 'str':
      return v.v.length > 0;
    case 'bool':
      return v.v;
    case 'none':
      return false;
    case 'list':
      return v.items.length > 0;
    case 'dict':
      return v.entries.size > 0;
    case 'module':
    case 'class':
    case 'function':
    case 'lib':
      return true;
    default:
      return undefined;
  }
}

function sortValues(items: SVal[]): SVal[] | undefined {
  if (items.every((x) => x.k === 'num')) return [...items].sort((a, b) => (a as { v: number }).v - (b as { v: number }).v);
  if (items.every((x) => x.k === 'str')) return [...items].sort((a, b) => ((a as { v: string }).v < (b as { v: string }).v ? -1 : 1));
  return undefined;
}

function equal(a: SVal, b: SVal): boolean | undefined {
  if ((a.k === 'num' || a.k === 'bool') && (b.k === 'num' || b.k === 'bool')) return Number(a.v) === Number(b.v);
  if (a.k === 'str' && b.k === 'str') return a.v === b.v;
  if (a.k === 'none' || b.k === 'none') return a.k === b.k ? true : a.k === 'unknown' || b.k === 'unknown' ? undefined : false;
  if (a.k === 'str' && b.k === 'num') return false;
  if (a.k === 'num' && b.k === 'str') return false;
  if (a.k === 'list' && b.k === 'list') {
    if (a.items.length !== b.items.length) return false;
    let all: boolean | undefined = true;
    for (let i = 0; i < a.items.length; i++) {
      const e = equal(a.items[i], b.items[i]);
      if (e === false) return false;
      if (e === undefined) all = undefined;
    }
    return all;
  }
  return undefined;
}

/** Tensor methods and torch functions that keep the number of elements. */
const TENSOR_SAME_SIZE =
  /^(clone|detach|float|double|half|bfloat16|long|int|to|cuda|cpu|contiguous|requires_grad_|normal_|uniform_|zero_|fill_|data|view|reshape|unsqueeze|squeeze|flatten|t|transpose|permute|log|exp|sqrt|rsqrt|abs|neg|sin|cos|tanh|sigmoid|relu|tril|triu|mul|div|add|sub|pow|mul_|div_|add_|sub_|log_|exp_|clamp|clamp_|sign|reciprocal|expand_as|type|masked_fill|masked_fill_|copy_)$/;

/** Python arithmetic and comparison on known values; an unknown operand gives an unknown scalar. */
function binary(op: string, a: SVal, b: SVal): SVal {
  if (/^([-+*/%@]|\*\*|\/\/)$/.test(op) && (a.k === 'tensor' || a.k === 'param' || b.k === 'tensor' || b.k === 'param')) {
    // Elementwise with a scalar keeps the size; two tensors broadcast, which only the shapes decide.
    const ta = a.k === 'tensor' || a.k === 'param' ? a.numel : undefined;
    const tb = b.k === 'tensor' || b.k === 'param' ? b.numel : undefined;
    if (op !== '@' && ta !== undefined && tb === undefined && (b.k === 'num' || (b.k === 'unknown' && b.scalar))) return { k: 'tensor', numel: ta };
    if (op !== '@' && tb !== undefined && ta === undefined && (a.k === 'num' || (a.k === 'unknown' && a.scalar))) return { k: 'tensor', numel: tb };
    return { k: 'tensor', numel: null };
  }
  if (op === '==' || op === '!=') {
    const e = equal(a, b);
    return e === undefined ? SCALAR : { k: 'bool', v: op === '==' ? e : !e };
  }
  if (op === 'is' || op === 'is not') {
    if (a.k === 'none' || b.k === 'none') {
      if (a.k === 'unknown' || b.k === 'unknown') return SCALAR;
      const same = a.k === b.k;
      return { k: 'bool', v: op === 'is' ? same : !same };
    }
    return SCALAR;
  }
  if (op === 'in' || op === 'not in') {
    const items = b.k === 'list' ? b.items : b.k === 'dict' ? [...b.entries.keys()].map((k) => ({ k: 'str', v: k }) as SVal) : undefined;
    if (b.k === 'str' && a.k === 'str') return { k: 'bool', v: op === 'in' ? b.v.includes(a.v) : !b.v.includes(a.v) };
    if (!items) return SCALAR;
    let found: boolean | undefined = false;
    for (const x of items) {
      const e = equal(a, x);
      if (e) {
        found = true;
        break;
      }
      if (e === undefined) found = undefined;
    }
    return found === undefined ? SCALAR : { k: 'bool', v: op === 'in' ? found : !found };
  }
  if (a.k === 'list' && b.k === 'list' && op === '+') return { k: 'list', items: [...a.items, ...b.items], tuple: a.tuple };
  if (a.k === 'list' && b.k === 'num' && op === '*') return b.v * a.items.length > MAX_LIST ? UNKNOWN : { k: 'list', items: Array.from({ length: Math.max(0, b.v) }, () => a.items).flat(), tuple: a.tuple };
  if (a.k === 'str' && b.k === 'str' && op === '+') return { k: 'str', v: a.v + b.v };
  if (a.k === 'str' && op === '%') return SCALAR;
  const x = num(a);
  const y = num(b);
  if (x === undefined || y === undefined) return SCALAR;
  switch (op) {
    case '+':
      return { k: 'num', v: x + y };
    case '-':
      return { k: 'num', v: x - y };
    case '*':
      return { k: 'num', v: x * y };
    case '/':
      return y === 0 ? SCALAR : { k: 'num', v: x / y };
    case '//':
      return y === 0 ? SCALAR : { k: 'num', v: Math.floor(x / y) };
    case '%':
      return y === 0 ? SCALAR : { k: 'num', v: ((x % y) + y) % y };
    case '**':
      return { k: 'num', v: x ** y };
    case '<':
      return { k: 'bool', v: x < y };
    case '>':
      return { k: 'bool', v: x > y };
    case '<=':
      return { k: 'bool', v: x <= y };
    case '>=':
      return { k: 'bool', v: x >= y };
    case '&':
      return { k: 'num', v: x & y };
    case '|':
      return { k: 'num', v: x | y };
    case '<<':
      return { k: 'num', v: x << y };
    case '>>':
      return { k: 'num', v: x >> y };
  }
  return SCALAR;
}

/** A parameter annotated `int`, `float`, `bool` or `str` cannot hold a module. */
function annotatedScalar(text: string, annotation: SyntaxNode | undefined): boolean {
  if (!annotation) return false;
  return /^\s*:?\s*(int|float|bool|str|Optional\[(int|float|bool|str)\]|Tuple\[[\w, .]*\]|List\[(int|float|str)\]|tuple|list)\s*$/.test(nodeText(text, annotation));
}
