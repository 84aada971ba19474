import type { SyntaxNode } from '@lezer/common';
import type { Program } from '../python/program';
import { children, namedChildren, nodeText, dottedParts, unparen } from '../python/syntax';
import { AnalysisBudget, BudgetExceeded } from './budget';

/**
 * The binder: one pass over the syntax trees that records scopes, imports,
 * classes, functions and every name binding with where its value comes from.
 * It answers "what could this name refer to here?"; deciding what kind of
 * value that is (module, tensor, ...) is valueKind.ts's job.
 */

export type BindingSource =
  /** `values` has several nodes for an unparenthesised tuple: `a, b = x, y`. */
  | { type: 'assign'; values: SyntaxNode[]; path: number[] }
  | { type: 'for'; iter: SyntaxNode; path: number[] }
  | { type: 'param'; fn: FunctionInfo; index: number; name: string; annotation?: SyntaxNode }
  | { type: 'import'; qualified: string }
  | { type: 'function'; fn: FunctionInfo }
  | { type: 'class'; cls: ClassInfo }
  | { type: 'opaque' };

export interface Binding {
  name: string;
  unit: number;
  /** Name node of the binding site. */
  node: SyntaxNode;
  /** The statement that binds; used to decide whether it dominates a use. */
  statement: SyntaxNode;
  source: BindingSource;
  scope: Scope;
}

export interface FunctionInfo {
  name: string;
  unit: number;
  node: SyntaxNode;
  params: { name: string; node: SyntaxNode; annotation?: SyntaxNode; default?: SyntaxNode; star: boolean }[];
  scope: Scope;
  /** Set for methods. */
  cls?: ClassInfo;
  returns: SyntaxNode[];
}

export interface ClassInfo {
  name: string;
  unit: number;
  node: SyntaxNode;
  bases: SyntaxNode[];
  scope: Scope;
  methods: Map<string, FunctionInfo>;
  /** `self.x = value` assignments inside the class's methods, by attribute name. */
  selfAttributes: Map<string, { value: SyntaxNode; unit: number; method: FunctionInfo }[]>;
}

export interface AttributeAssignment {
  unit: number;
  target: SyntaxNode;
  value: SyntaxNode;
  statement: SyntaxNode;
  scope: Scope;
}

/** A call of a plain name, `name(...)`, and the scope it is made in. */
export interface NameCall {
  unit: number;
  call: SyntaxNode;
  scope: Scope;
}

export interface Scope {
  kind: 'module' | 'function' | 'class';
  parent?: Scope;
  unit: number;
  node: SyntaxNode | undefined;
  bindings: Map<string, Binding[]>;
  fn?: FunctionInfo;
  cls?: ClassInfo;
}

export interface Binder {
  program: Program;
  moduleScope: Scope;
  classes: Map<string, ClassInfo[]>;
  functions: Map<string, FunctionInfo[]>;
  /**
   * `model.fc = nn.Linear(...)`: assignments to dotted attributes outside
   * `self`, keyed by the dotted text, in program order. Head replacements
   * change what `model.fc` is from that point on.
   */
  attributeAssignments: Map<string, AttributeAssignment[]>;
  /**
   * Calls to a name, for following arguments back to parameters. Built on
   * first use, by walking every expression; `callsOf` answers for one name
   * without that walk.
   */
  readonly callsByName: Map<string, NameCall[]>;
  /** `callsByName.get(name) ?? []`, in the same order. */
  callsOf(name: string): readonly NameCall[];
  /** The innermost scope that contains each node, found by position. */
  scopeAt(unit: number, node: SyntaxNode): Scope;
  /** The module scope of a unit: the program's own, or an imported module's. */
  moduleScopeOf(unit: number): Scope;
}

/**
 * A backstop for the recursive statement walk: above what the parser ever
 * nests (it turns blocks nested deeper than a few hundred levels into error
 * nodes). Skipping bindings would make names elsewhere look certain when
 * they are not, so past it the whole file gets no diagnostics instead.
 */
const MAX_NESTING = 1000;
/** Tuple targets nested deeper than this (`((a, b), c) = ...` is 2) bind their names as unknown values. */
const MAX_TARGET_NESTING = 50;
/** Where a `return` of the enclosing function can hide; expressions and nested defs cannot hold one. */
const COMPOUND_STATEMENTS = new Set(['Body', 'IfStatement', 'ForStatement', 'WhileStatement', 'WithStatement', 'TryStatement', 'StatementGroup', 'MatchStatement', 'MatchBody', 'MatchClause']);

/**
 * `mainUnits`: how many leading units are the program itself (they share one
 * module scope); each unit after them is an imported workspace module with a
 * module scope of its own.
 */
export function bind(program: Program, budget: AnalysisBudget, mainUnits = program.units.length): Binder {
  const moduleScope: Scope = { kind: 'module', unit: 0, node: undefined, bindings: new Map() };
  const moduleScopes = program.units.map((_, i): Scope => (i < mainUnits ? moduleScope : { kind: 'module', unit: i, node: undefined, bindings: new Map() }));
  const moduleScopeOf = (unit: number) => moduleScopes[unit] ?? moduleScope;
  const classes = new Map<string, ClassInfo[]>();
  const functions = new Map<string, FunctionInfo[]>();
  /**
   * The expressions whose calls count (see visitExpressions), per unit in
   * source order. They do not overlap; `ordered` turns false if a unit's did.
   */
  const expressionRoots = program.units.map(() => ({ ordered: true, roots: [] as { from: number; to: number; node: SyntaxNode; scope: Scope }[] }));
  const attributeAssignments = new Map<string, AttributeAssignment[]>();
  /** Function and class scopes per unit, to map a node back to its scope. */
  const scopesByNode: Map<number, Scope>[] = program.units.map(() => new Map());

  program.units.forEach((unit, unitIndex) => {
    const text = unit.text;

    const addBinding = (scope: Scope, nameNode: SyntaxNode, statement: SyntaxNode, source: BindingSource) => {
      const name = nodeText(text, nameNode);
      const list = scope.bindings.get(name) ?? [];
      list.push({ name, unit: unitIndex, node: nameNode, statement, source, scope });
      scope.bindings.set(name, list);
    };

    /** Binds each name in an assignment/for target; `path` records tuple positions. */
    const bindTarget = (
      scope: Scope,
      target: SyntaxNode,
      statement: SyntaxNode,
      make: (path: number[]) => BindingSource,
      path: number[] = [],
    ) => {
      const t = unparen(target);
      if (t.name === 'VariableName') {
        addBinding(scope, t, statement, make(path));
      } else if ((t.name === 'TupleExpression' || t.name === 'ArrayExpression') && path.length >= MAX_TARGET_NESTING) {
        // `[[[[a]]]] = x` nested thousands deep (generated code) would overflow the
        // stack: past the cap the names are still bound, to values we do not know.
        budget.exceeded(`assignment targets nested deeper than ${MAX_TARGET_NESTING} levels`);
        bindOpaque(scope, t, statement);
      } else if (t.name === 'TupleExpression' || t.name === 'ArrayExpression') {
        namedChildren(t).forEach((el, i) => bindTarget(scope, el, statement, make, [...path, i]));
      } else if (t.name === 'MemberExpression') {
        const source = make(path);
        const parts = dottedParts(text, t);
        if (scope.fn?.cls && scope.fn.params[0] && parts?.[0] === scope.fn.params[0].name) recordSelfAttribute(scope.fn, t, source);
        else if (parts && source.type === 'assign' && source.values.length === 1 && source.path.length === 0) {
          const key = parts.join('.');
          const list = attributeAssignments.get(key) ?? [];
          list.push({ unit: unitIndex, target: t, value: source.values[0], statement, scope });
          attributeAssignments.set(key, list);
        }
      }
    };

    /** Binds every name of a nested target as unknown, without recursion. */
    const bindOpaque = (scope: Scope, target: SyntaxNode, statement: SyntaxNode) => {
      const c = target.cursor();
      let depth = 0;
      for (;;) {
        if (c.name === 'VariableName') {
          // Names inside `a.b` or `a[i]` are read, not bound.
          const parent = c.node.parent?.name;
          if (parent === 'TupleExpression' || parent === 'ArrayExpression' || parent === 'ParenthesizedExpression') addBinding(scope, c.node, statement, { type: 'opaque' });
        }
        if (c.firstChild()) {
          depth++;
          continue;
        }
        while (depth > 0 && !c.nextSibling()) {
          c.parent();
          depth--;
        }
        if (depth === 0) return;
      }
    };

    const recordSelfAttribute = (fn: FunctionInfo, target: SyntaxNode, source: BindingSource) => {
      const self = fn.params[0].name;
      const parts = dottedParts(text, target);
      if (!parts || parts.length !== 2 || parts[0] !== self || source.type !== 'assign' || source.values.length !== 1 || source.path.length > 0) return;
      const attrs = fn.cls!.selfAttributes;
      const list = attrs.get(parts[1]) ?? [];
      list.push({ value: source.values[0], unit: unitIndex, method: fn });
      attrs.set(parts[1], list);
    };

    const visitExpressions = (scope: Scope, node: SyntaxNode) => {
      // Only calls matter here (for call-site argument inference); lambdas and
      // comprehensions get no scope of their own since nothing we track binds there.
      // The calls are found when first asked for (see callsOf): most keystrokes
      // need a few names' calls, never a walk over every expression.
      const entry = expressionRoots[unitIndex];
      const last = entry.roots[entry.roots.length - 1];
      const from = node.from;
      if (last && from < last.to) entry.ordered = false;
      entry.roots.push({ from, to: node.to, node, scope });
    };

    const visitBody = (scope: Scope, body: SyntaxNode, depth: number) => {
      for (let s = body.firstChild; s; s = s.nextSibling) visitStatement(scope, s, depth);
    };

    const visitStatement = (scope: Scope, stmt: SyntaxNode, depth: number): void => {
      budget.tick();
      if (depth > MAX_NESTING) throw new BudgetExceeded(`statements nested deeper than ${MAX_NESTING} levels`);
      switch (stmt.name) {
        case 'StatementGroup':
          for (let s = stmt.firstChild; s; s = s.nextSibling) visitStatement(scope, s, depth);
          return;
        case 'AssignStatement': {
          // Index loops rather than filtered copies: this runs for every assignment in the program.
          const kids = children(stmt);
          const names = kids.map((k) => k.name);
          const lastOp = names.lastIndexOf('AssignOp');
          const values: SyntaxNode[] = [];
          if (lastOp >= 0) for (let i = lastOp + 1; i < kids.length; i++) if (names[i] !== 'Comment' && names[i] !== ',') values.push(kids[i]);
          // Every target before each `=`: `a = b = value`, `x: T = value`.
          const isTarget = (i: number) => names[i] !== 'TypeDef' && names[i] !== ',' && names[i] !== 'Comment';
          let segmentStart = 0;
          for (let i = 0; i < kids.length; i++) {
            if (names[i] !== 'AssignOp') continue;
            if (values.length > 0) {
              let count = 0;
              for (let j = segmentStart; j < i; j++) if (isTarget(j)) count++;
              const isTupleWithoutParens = count > 1;
              let ti = 0;
              for (let j = segmentStart; j < i; j++) {
                if (!isTarget(j)) continue;
                const index = ti++;
                bindTarget(scope, kids[j], stmt, (path) => ({ type: 'assign', values, path: isTupleWithoutParens ? [index, ...path] : path }));
              }
            }
            segmentStart = i + 1;
          }
          for (const v of values) visitExpressions(scope, v);
          return;
        }
        case 'UpdateStatement': {
          const target = stmt.firstChild;
          if (target?.name === 'VariableName') addBinding(scope, target, stmt, { type: 'opaque' });
          return;
        }
        case 'ForStatement': {
          const kids = children(stmt);
          const inIdx = kids.findIndex((k) => k.name === 'in');
          const targets = kids.slice(1, inIdx).filter((k) => k.name !== ',' && k.name !== 'async' && k.name !== 'for');
          const iter = kids[inIdx + 1];
          if (iter) {
            targets.forEach((t, ti) =>
              bindTarget(scope, t, stmt, (path) => ({ type: 'for', iter, path: targets.length > 1 ? [ti, ...path] : path })),
            );
            visitExpressions(scope, iter);
          }
          for (const k of kids) if (k.name === 'Body') visitBody(scope, k, depth + 1);
          return;
        }
        case 'WithStatement': {
          const kids = children(stmt);
          kids.forEach((k, i) => {
            if (k.name === 'as' && kids[i + 1]) bindTarget(scope, kids[i + 1], stmt, () => ({ type: 'opaque' }));
            else if (k.name !== 'Body' && k.name !== 'as') visitExpressions(scope, k);
          });
          for (const k of kids) if (k.name === 'Body') visitBody(scope, k, depth + 1);
          return;
        }
        case 'TryStatement': {
          const kids = children(stmt);
          kids.forEach((k, i) => {
            if (k.name === 'as' && kids[i + 1]?.name === 'VariableName') addBinding(scope, kids[i + 1], stmt, { type: 'opaque' });
            if (k.name === 'Body') visitBody(scope, k, depth + 1);
          });
          return;
        }
        case 'IfStatement':
        case 'WhileStatement':
        case 'MatchStatement':
          for (const k of children(stmt)) {
            if (k.name === 'Body' || k.name === 'MatchBody') visitBody(scope, k, depth + 1);
            else if (k.name === 'MatchClause') for (const b of children(k)) if (b.name === 'Body') visitBody(scope, b, depth + 1);
            else visitExpressions(scope, k);
          }
          return;
        case 'DecoratedStatement': {
          const inner = stmt.lastChild;
          if (inner) visitStatement(scope, inner, depth);
          return;
        }
        case 'FunctionDefinition':
          visitFunction(scope, stmt, depth);
          return;
        case 'ClassDefinition':
          visitClass(scope, stmt, depth);
          return;
        case 'ImportStatement':
          bindImports(scope, stmt);
          return;
        default:
          visitExpressions(scope, stmt);
      }
    };

    const visitFunction = (scope: Scope, def: SyntaxNode, depth: number) => {
      const defKids = children(def);
      const nameNode = defKids.find((k) => k.name === 'VariableName');
      const paramList = defKids.find((k) => k.name === 'ParamList');
      const body = defKids.find((k) => k.name === 'Body');
      if (!nameNode) return;
      const fnScope: Scope = { kind: 'function', parent: scope, unit: unitIndex, node: def, bindings: new Map() };
      const fn: FunctionInfo = {
        name: nodeText(text, nameNode),
        unit: unitIndex,
        node: def,
        params: [],
        scope: fnScope,
        cls: scope.kind === 'class' ? scope.cls : undefined,
        returns: [],
      };
      fnScope.fn = fn;
      scopesByNode[unitIndex].set(def.from, fnScope);
      if (paramList) {
        const kids = children(paramList);
        let star = false;
        for (let i = 0; i < kids.length; i++) {
          const k = kids[i];
          if (k.name === '*' || k.name === '**') star = true;
          else if (k.name === ',') star = false;
          else if (k.name === 'VariableName') {
            const param = { name: nodeText(text, k), node: k, star } as FunctionInfo['params'][number];
            if (kids[i + 1]?.name === 'TypeDef') param.annotation = namedChildren(kids[++i])[0];
            if (kids[i + 1]?.name === 'AssignOp') {
              param.default = kids[i + 2];
              i += 2;
            }
            fn.params.push(param);
          }
        }
        fn.params.forEach((p, index) =>
          addBinding(fnScope, p.node, def, { type: 'param', fn, index, name: p.name, annotation: p.annotation }),
        );
      }
      if (scope.kind === 'class') scope.cls!.methods.set(fn.name, fn);
      else {
        addBinding(scope, nameNode, def, { type: 'function', fn });
        const list = functions.get(fn.name) ?? [];
        list.push(fn);
        functions.set(fn.name, list);
      }
      if (body) {
        visitBody(fnScope, body, depth + 1);
        collectReturns(body, fn.returns, 0);
      }
    };

    const collectReturns = (node: SyntaxNode, out: SyntaxNode[], depth: number) => {
      if (depth > MAX_NESTING) return;
      for (let c = node.firstChild; c; c = c.nextSibling) {
        if (c.name === 'ReturnStatement') {
          const value = namedChildren(c).find((k) => k.name !== 'return');
          if (value) out.push(value);
        } else if (COMPOUND_STATEMENTS.has(c.name)) collectReturns(c, out, depth + 1);
      }
    };

    const visitClass = (scope: Scope, def: SyntaxNode, depth: number) => {
      const defKids = children(def);
      const nameNode = defKids.find((k) => k.name === 'VariableName');
      const argList = defKids.find((k) => k.name === 'ArgList');
      const body = defKids.find((k) => k.name === 'Body');
      if (!nameNode) return;
      const clsScope: Scope = { kind: 'class', parent: scope, unit: unitIndex, node: def, bindings: new Map() };
      const bases = argList
        ? children(argList).filter((k, i, all) => !['(', ')', ','].includes(k.name) && all[i + 1]?.name !== 'AssignOp' && k.name !== 'AssignOp' && all[i - 1]?.name !== 'AssignOp')
        : [];
      const cls: ClassInfo = {
        name: nodeText(text, nameNode),
        unit: unitIndex,
        node: def,
        bases,
        scope: clsScope,
        methods: new Map(),
        selfAttributes: new Map(),
      };
      clsScope.cls = cls;
      scopesByNode[unitIndex].set(def.from, clsScope);
      addBinding(scope, nameNode, def, { type: 'class', cls });
      const list = classes.get(cls.name) ?? [];
      list.push(cls);
      classes.set(cls.name, list);
      if (body) visitBody(clsScope, body, depth + 1);
    };

    const bindImports = (scope: Scope, stmt: SyntaxNode) => {
      const kids = children(stmt);
      const isFrom = kids[0]?.name === 'from';
      if (isFrom) {
        const importIdx = kids.findIndex((k) => k.name === 'import');
        const modulePath = kids
          .slice(1, importIdx)
          .map((k) => nodeText(text, k))
          .join('');
        for (let i = importIdx + 1; i < kids.length; i++) {
          const k = kids[i];
          if (k.name !== 'VariableName') continue;
          const imported = nodeText(text, k);
          let local = k;
          if (kids[i + 1]?.name === 'as' && kids[i + 2]?.name === 'VariableName') {
            local = kids[i + 2];
            i += 2;
          }
          addBinding(scope, local, stmt, { type: 'import', qualified: `${modulePath}.${imported}` });
        }
        return;
      }
      // import a.b.c [as x], d
      let dotted: SyntaxNode[] = [];
      const flush = (alias?: SyntaxNode) => {
        if (dotted.length === 0) return;
        const full = dotted.map((d) => nodeText(text, d)).join('.');
        if (alias) addBinding(scope, alias, stmt, { type: 'import', qualified: full });
        // `import torch.nn` binds `torch` to the top package.
        else addBinding(scope, dotted[0], stmt, { type: 'import', qualified: nodeText(text, dotted[0]) });
        dotted = [];
      };
      for (let i = 1; i < kids.length; i++) {
        const k = kids[i];
        if (k.name === 'VariableName') dotted.push(k);
        else if (k.name === 'as' && kids[i + 1]) {
          flush(kids[i + 1]);
          i++;
        } else if (k.name === ',') flush();
      }
      flush();
    };

    visitBody(moduleScopes[unitIndex], unit.tree.topNode, 0);
  });

  const scopeAt = (unit: number, node: SyntaxNode): Scope => {
    // Climb to the nearest def/class; a def's name, decorators and defaults
    // belong to the outer scope, its parameters and body to its own.
    for (let n: SyntaxNode | null = node, child: SyntaxNode | null = null; n; child = n, n = n.parent) {
      if ((n.name === 'FunctionDefinition' || n.name === 'ClassDefinition') && child && (child.name === 'Body' || child.name === 'ParamList')) {
        const scope = scopesByNode[unit].get(n.from);
        if (scope) return scope;
      }
    }
    return moduleScopeOf(unit);
  };

  let allCalls: Map<string, NameCall[]> | undefined;
  const callsByName = (): Map<string, NameCall[]> => {
    if (!allCalls) {
      const calls = new Map<string, NameCall[]>();
      program.units.forEach((unit, u) => {
        for (const r of expressionRoots[u].roots) recordCalls(unit.text, u, r.node, r.scope, budget, calls);
      });
      allCalls = calls;
    }
    return allCalls;
  };
  const callsOfName = new Map<string, readonly NameCall[]>();
  const callsOf = (name: string): readonly NameCall[] => {
    if (allCalls) return allCalls.get(name) ?? NO_CALLS;
    let calls = callsOfName.get(name);
    if (!calls) {
      calls = findCalls(program, expressionRoots, name) ?? callsByName().get(name) ?? NO_CALLS;
      callsOfName.set(name, calls);
    }
    return calls;
  };

  return {
    program,
    moduleScope,
    classes,
    functions,
    attributeAssignments,
    get callsByName() {
      return callsByName();
    },
    callsOf,
    scopeAt,
    moduleScopeOf,
  };
}

const NO_CALLS: readonly NameCall[] = [];

/**
 * Records every call of a plain name in the expression `root` and below, in
 * source order. Iterative, with no depth cap: generated code nests
 * expressions thousands deep, and a call left out here would make "every
 * call of f() passes a module" wrong rather than silent. It walks the nodes
 * themselves rather than a cursor: most expressions are small, and a cursor
 * per expression costs more than the walk.
 */
function recordCalls(text: string, unit: number, root: SyntaxNode, scope: Scope, budget: AnalysisBudget, calls: Map<string, NameCall[]>): void {
  let n = root;
  let depth = 0;
  for (;;) {
    budget.tick();
    if (n.name === 'CallExpression') {
      const callee = n.firstChild;
      if (callee?.name === 'VariableName') {
        const name = nodeText(text, callee);
        const list = calls.get(name);
        if (list) list.push({ unit, call: n, scope });
        else calls.set(name, [{ unit, call: n, scope }]);
      }
    }
    const first = n.firstChild;
    if (first) {
      n = first;
      depth++;
      continue;
    }
    for (;;) {
      if (depth === 0) return;
      const next = n.nextSibling;
      if (next) {
        n = next;
        break;
      }
      n = n.parent!;
      depth--;
    }
  }
}

/**
 * The calls of one name that `recordCalls` would find, located through the
 * text instead: each occurrence of the name is checked in the tree (a
 * variable that is a call's callee, inside one of the walked expressions).
 * Undefined when a unit's expressions overlap, so that the walk must decide.
 */
function findCalls(
  program: Program,
  expressionRoots: readonly { ordered: boolean; roots: readonly { from: number; to: number; scope: Scope }[] }[],
  name: string,
): NameCall[] | undefined {
  const out: NameCall[] = [];
  if (!name) return out;
  for (let u = 0; u < program.units.length; u++) {
    const { ordered, roots } = expressionRoots[u];
    if (roots.length === 0) continue;
    if (!ordered) return undefined;
    const unit = program.units[u];
    const text = unit.text;
    for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
      const node = unit.tree.resolveInner(at, 1);
      if (node.name !== 'VariableName' || node.from !== at || node.to !== at + name.length) continue;
      const call = node.parent;
      const callee = call?.firstChild;
      if (!call || call.name !== 'CallExpression' || callee?.name !== 'VariableName' || callee.from !== at || callee.to !== node.to) continue;
      // The last expression starting at or before the call must hold it.
      let lo = 0;
      let hi = roots.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (roots[mid].from <= call.from) lo = mid + 1;
        else hi = mid;
      }
      const root = roots[lo - 1];
      if (root && call.to <= root.to) out.push({ unit: u, call, scope: root.scope });
    }
  }
  return out;
}

/** Qualified import name for a dotted expression's head, e.g. `nn.Linear` -> `torch.nn.Linear`. */
export function importOf(binding: Binding | undefined): string | undefined {
  return binding?.source.type === 'import' ? binding.source.qualified : undefined;
}
