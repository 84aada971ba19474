import type { SyntaxNode } from '@lezer/common';
import type { Binder, ClassInfo, FunctionInfo } from '../binder';
import type { AnalysisBudget } from '../budget';
import type { ValueKinds } from '../valueKind';
import { callArgs, children, namedChildren, nodeText, unparen } from '../../python/syntax';
import { isUnder, type NamePredicate, type ParamSet, type Tri } from './paramSet';
import { MachineState, freshGen, snapshotCoverage, triOf, type ModelInfo, type OptimizerInfo, type Region, type Site } from './state';
import { parseImport } from '../imports';
import type { Timeline, TimelineEvent } from './timeline';
import { UNKNOWN, type Value } from './values';
import { visitSummary } from './observe';
import { ClassEvaluator } from '../../models/classEval';
import { libraryModel } from '../../models/library';
import { nnLayer, type LayerArg, type LayerArgs } from '../../models/nnLayers';
import { dropoutPaths, findNode, isComplete, runningStatsPaths, sizeAttribute, withChild, type ModuleNode } from '../../models/tree';
import { trainsSummary } from '../../models/counts';

/**
 * The freeze-state interpreter: runs a training script abstractly, statement
 * by statement in control-flow order, and records a timeline of what it sees
 * (optimizers built, flags set, modes switched, backward and step calls).
 *
 * - `if` runs both branches unless the condition is known, then joins them;
 * - `for epoch in range(N)` with a known small N is unrolled, so `if epoch == k`
 *   guards pick their iteration; loops over parameters or modules apply their
 *   body to the whole set at once; other loops run their body twice;
 * - functions and methods of the program are followed at their call sites;
 * - anything unknown that receives a model makes that model's state unknown,
 *   so rules stay silent about it.
 */

const MAX_CALL_DEPTH = 8;
const MAX_UNROLL = 8;
const MAX_UNROLLED_ITEMS = 1024;
/**
 * Statements and expressions nested in each other, counted together and
 * across followed calls. Generated code nests thousands deep; past this the
 * code is skipped (see skip()) instead of overflowing the stack.
 */
const MAX_NESTING = 200;
/**
 * Nested loops multiply (each runs its body twice or more): a loop nested
 * deeper than this, or a body past this many runs, is skipped.
 */
const MAX_LOOP_NESTING = 10;
const MAX_BODY_RUNS = 1000;

interface Env {
  vars: Map<string, Value>;
  parent?: Env;
}

/** What a module expression held at one place in the source, for hover. */
export interface Observation {
  unit: number;
  from: number;
  to: number;
  root: number;
  path: string;
  /** Distinct states seen here, in order: loops and calls can pass several times. */
  visits: Visit[];
}

export interface Visit {
  /** 'frozen', 'trainable', 'mixed: 2 of 5 parts frozen', 'unknown', ... */
  flags: string;
  /** 'train', 'eval' or 'eval or train'. */
  mode: string;
  /** "trains 5,130 of 11,181,642 params (0.05%)", where the module's structure is known. */
  counts?: string;
}

interface Frame {
  returns: Value[];
  exits: MachineState[];
}

/** torchvision / timm families that contain BatchNorm with running statistics. */
const BATCHNORM_FAMILIES = /^(resnet|resnext|wide_resnet|densenet|efficientnet|mobilenet|mnasnet|regnet|shufflenet|inception|googlenet|vgg\d+_bn|fcn_|deeplab|fasterrcnn|maskrcnn|retinanet|keypointrcnn|lraspp|ssd)/;
/** Families whose classifier holds Dropout. */
const DROPOUT_FAMILIES = /^(vgg|alexnet|vit_|efficientnet|mobilenet|mnasnet|squeezenet|googlenet|inception|convnext|swin|maxvit)/;
/** torch.nn modules that own no parameters. */
const PARAMETERLESS = /^(Identity|Flatten|Unflatten|Dropout\w*|AlphaDropout|ReLU6?|LeakyReLU|GELU|SiLU|Mish|ELU|SELU|CELU|Tanh|Sigmoid|Hardswish|Hardsigmoid|Hardtanh|Softmax\d*d?|LogSoftmax|Softplus|(Adaptive)?(Max|Avg)Pool[123]d|Upsample\w*|(Zero|Constant|Reflection|Replication)Pad[123]d|PixelShuffle|PixelUnshuffle|ChannelShuffle)$/;
/** Heads that a pretrained checkpoint of the base model does not contain: built fresh by from_pretrained. */
const TASK_HEAD = /^(classifier|score|qa_outputs|head|heads|fc|cls)$/;
/** Region names that never hold BatchNorm in those families (heads, single convs, linears). */
const NO_BATCHNORM_REGION = /(^|\.)(fc|classifier|head|heads|linear|logits|conv1|conv_stem|last_linear|lm_head|pooler)(\.\d+)?$/;

/**
 * Functions we cannot follow are assumed to change whatever model they
 * receive, so rules go silent about it; except those whose name says they
 * only look: a logger, a summary, a checkpoint save, an evaluation.
 */
const READ_ONLY_NAME = /^(print|log|report|snapshot|summar|count|show|plot|save|evaluat|eval_|validat|test|check|assert|describe|inspect|visuali|profile|watch|dump|export|to_onnx|compute_|measure|num_|get_num|get_n_|trainable_param|print_trainable)/i;

const SAFE_FUNCTIONS = new Set([
  'print', 'len', 'isinstance', 'hasattr', 'getattr', 'id', 'type', 'str', 'repr', 'format', 'sum', 'min', 'max', 'round', 'abs',
  'torch.save', 'torch.manual_seed', 'torch.set_grad_enabled', 'summary', 'torchinfo.summary', 'torchsummary.summary', 'wandb.watch',
  'count_parameters', 'logging.info', 'logger.info', 'tqdm', 'tqdm.tqdm',
]);
const SAFE_MODULE_METHODS = new Set([
  'state_dict', 'named_buffers', 'buffers', 'register_forward_hook',
  'register_full_backward_hook', 'register_buffer', 'extra_repr', '__repr__', 'num_parameters', 'print_trainable_parameters',
  'save_pretrained', 'get_input_embeddings', 'get_output_embeddings', 'share_memory',
]);
/** Library methods on models that replace or (un)freeze parts of them. */
const MUTATING_LIBRARY_METHODS = /^(reset_classifier|reset_head|set_grad_checkpointing|freeze|unfreeze|freeze_|unfreeze_|resize_token_embeddings|tie_weights|init_weights|post_init|prepare_|enable_input_require_grads|gradient_checkpointing_enable|add_adapter|merge_and_unload|convert_|replace_|load_adapter|set_adapter|train_adapter|requires_grad)/;
const MODULE_CHAINING = new Set(['to', 'cuda', 'cpu', 'float', 'half', 'double', 'bfloat16', 'type', 'xpu', 'mps', 'to_empty']);
/**
 * Whether a step moves a parameter whose gradient is a zero tensor (not
 * None), as torch.optim implements each optimizer:
 * - `decaysZeroGrad`: even with fresh state. Weight decay (L2 added to the
 *   gradient, or AdamW's decoupled decay) and ASGD's `lambd` shrink the
 *   weight whatever the gradient.
 * - `movesZeroGrad`: once the optimizer has state for the parameter from
 *   earlier steps. A momentum buffer or Adam's first moment keeps pushing.
 *   RMSprop/Adagrad/Adadelta divide the gradient by running averages, so a
 *   zero gradient moves nothing without momentum or decay; Rprop steps by the
 *   gradient's sign (0), and LBFGS stops at a zero gradient.
 * `num(name, index)` reads a keyword or positional argument; NaN when not a literal.
 */
function zeroGradMotion(kind: string, num: (name: string, index: number) => number | undefined): { movesZeroGrad: Tri; decaysZeroGrad: Tri } {
  const tri = (x: number | undefined, absent: boolean): Tri => (x === undefined ? (absent ? 'yes' : 'no') : Number.isNaN(x) ? 'maybe' : x > 0 ? 'yes' : 'no');
  const or = (a: Tri, b: Tri): Tri => (a === 'yes' || b === 'yes' ? 'yes' : a === 'maybe' || b === 'maybe' ? 'maybe' : 'no');
  switch (kind) {
    case 'SGD': {
      const decay = tri(num('weight_decay', 4), false);
      return { decaysZeroGrad: decay, movesZeroGrad: or(decay, tri(num('momentum', 2), false)) };
    }
    case 'Adam':
    case 'Adamax':
    case 'NAdam':
    case 'RAdam':
      return { decaysZeroGrad: tri(num('weight_decay', 4), false), movesZeroGrad: 'yes' };
    case 'AdamW':
      return { decaysZeroGrad: tri(num('weight_decay', 4), true), movesZeroGrad: 'yes' };
    case 'RMSprop': {
      const decay = tri(num('weight_decay', 4), false);
      return { decaysZeroGrad: decay, movesZeroGrad: or(decay, tri(num('momentum', 5), false)) };
    }
    case 'Adagrad': {
      const decay = tri(num('weight_decay', 3), false);
      return { decaysZeroGrad: decay, movesZeroGrad: decay };
    }
    case 'Adadelta': {
      const decay = tri(num('weight_decay', 4), false);
      return { decaysZeroGrad: decay, movesZeroGrad: decay };
    }
    case 'ASGD':
      return { decaysZeroGrad: 'yes', movesZeroGrad: 'yes' };
    case 'Rprop':
    case 'LBFGS':
    case 'SparseAdam':
      return { decaysZeroGrad: 'no', movesZeroGrad: 'no' };
    default:
      return { decaysZeroGrad: 'maybe', movesZeroGrad: 'maybe' };
  }
}

export class Interpreter {
  readonly events: TimelineEvent[] = [];
  readonly models = new Map<number, ModelInfo>();
  readonly batchNormPaths = new Map<number, Set<string>>();
  readonly dropoutPaths = new Map<number, Set<string>>();
  readonly frozenBatchNorm = new Set<number>();
  /** Non-module attributes of module objects (self.lr = lr), keyed by model and path. */
  private readonly fields = new Map<string, Value>();
  /** Workspace nn.Module classes of each model object. */
  private readonly classOf = new Map<number, ClassInfo>();
  private nextModel = 1;
  private nextOptimizer = 1;
  private steps = 0;
  private depth = 0;
  /** Statements and expressions being run, nested; see MAX_NESTING. */
  private nesting = 0;
  /** Runs of each loop body so far, by `${unit}:${body.from}`; see MAX_BODY_RUNS. */
  private readonly bodyRuns = new Map<string, number>();
  private readonly skippedNames = new Map<string, string[]>();
  private readonly callStack: FunctionInfo[] = [];
  private raised = false;
  /** Elements of short comprehensions evaluated one by one so far (see evalComprehension). */
  private unrolledItems = 0;
  /** The enclosing loops' `continue` and `break` states, innermost last. */
  private readonly loops: { continues: MachineState[]; breaks: MachineState[] }[] = [];
  private incomplete = false;
  private readonly moduleEnv: Env = { vars: new Map() };
  /** Globals of each imported module, created when first imported (a cycle sees a partial module, as in Python). */
  private readonly importedEnvs = new Map<number, Env>();
  private readonly programCalls: Site[] = [];
  private readonly callers = new Map<string, Site>();
  /** Models on which a forward ran outside no_grad: where a backward of unknown origin flows. */
  private readonly trained = new Set<number>();
  private readonly explicitHookCalls: boolean;

  constructor(
    private readonly binder: Binder,
    private readonly kinds: ValueKinds,
    private readonly budget: AnalysisBudget,
    private readonly torchVersion: { major: number; minor: number; source: string },
    /** Units from this index on are imported workspace modules: run when imported, not on their own. */
    private readonly mainUnits = binder.program.units.length,
    /** Where each import statement's module went (see imports.ts). */
    private readonly importTable: ReadonlyMap<string, number> = new Map(),
    /** Build module trees (catalog, nn layers, workspace classes); off only to measure what they cost. */
    private readonly structure = true,
  ) {
    // Unit by unit: the pattern has no line break, so it never spans two units of the joined text.
    this.explicitHookCalls = binder.program.units.some((u) => u.text.includes('.configure_optimizers('));
  }

  run(): Timeline {
    let st: MachineState | null = new MachineState();
    let last = st;
    this.binder.program.units.forEach((unit, index) => {
      if (index >= this.mainUnits) return;
      if (!st) st = new MachineState();
      st = this.execBlock(index, unit.tree.topNode, this.moduleEnv, st, { returns: [], exits: [] });
      if (st) last = st;
    });
    return {
      finalState: (st as MachineState | null) ?? last,
      unattributedFlagWrites: this.unattributedFlagWrites,
      events: this.events,
      models: this.models,
      batchNormPaths: this.batchNormPaths,
      dropoutPaths: this.dropoutPaths,
      frozenBatchNorm: this.frozenBatchNorm,
      incomplete: this.incomplete,
      unknowns: this.unknowns,
      observations: this.observations,
      torchVersion: this.torchVersion,
      callers: this.callers,
    };
  }

  private text(unit: number, node: SyntaxNode): string {
    return nodeText(this.binder.program.units[unit].text, node);
  }

  // ---- statements ------------------------------------------------------

  private execBlock(unit: number, block: SyntaxNode, env: Env, st: MachineState | null, frame: Frame): MachineState | null {
    for (let s = block.firstChild; s && st; s = s.nextSibling) st = this.execStmt(unit, s, env, st, frame);
    return st;
  }

  private execStmt(unit: number, stmt: SyntaxNode, env: Env, st: MachineState, frame: Frame): MachineState | null {
    if (this.nesting >= MAX_NESTING) {
      this.skip(unit, stmt, env, st, `code nested deeper than ${MAX_NESTING} levels`);
      return st;
    }
    this.nesting++;
    try {
      return this.execStmtHere(unit, stmt, env, st, frame);
    } finally {
      this.nesting--;
    }
  }

  private execStmtHere(unit: number, stmt: SyntaxNode, env: Env, st: MachineState, frame: Frame): MachineState | null {
    this.budget.tick();
    switch (stmt.name) {
      case 'StatementGroup':
        return this.execBlock(unit, stmt, env, st, frame);
      case 'ExpressionStatement': {
        const e = namedChildren(stmt)[0];
        if (e) this.eval(unit, e, env, st);
        return this.afterRaise(st);
      }
      case 'AssignStatement':
        this.execAssign(unit, stmt, env, st);
        return this.afterRaise(st);
      case 'UpdateStatement': {
        const target = stmt.firstChild;
        if (target?.name === 'VariableName') this.setVar(env, this.text(unit, target), UNKNOWN);
        return st;
      }
      case 'IfStatement':
        return this.execIf(unit, stmt, env, st, frame);
      case 'ForStatement':
        return this.execFor(unit, stmt, env, st, frame);
      case 'WhileStatement': {
        const body = children(stmt).find((k) => k.name === 'Body');
        if (!body) return st;
        const once = this.execIteration(unit, body, env, st.clone(), frame);
        const twice = once.next ? this.execIteration(unit, body, env, once.next.clone(), frame) : { next: null, broke: null };
        return joinStates(joinStates(st, joinStates(once.next, twice.next)), joinStates(once.broke, twice.broke));
      }
      case 'WithStatement':
        return this.execWith(unit, stmt, env, st, frame);
      case 'TryStatement': {
        const bodies = children(stmt).filter((k) => k.name === 'Body');
        const kids = children(stmt);
        let after: MachineState | null = st;
        let handlers: MachineState | null = null;
        for (const b of bodies) {
          const kw = kids[kids.indexOf(b) - 1]?.name;
          const lead = kids.slice(0, kids.indexOf(b)).reverse().find((k) => ['try', 'except', 'else', 'finally'].includes(k.name))?.name ?? kw;
          if (lead === 'try' || lead === 'else') after = after ? this.execBlock(unit, b, env, after, frame) : null;
          else if (lead === 'except') handlers = joinStates(handlers, this.execBlock(unit, b, env, st.clone(), frame));
          else if (lead === 'finally') after = this.execBlock(unit, b, env, joinStates(after, handlers) ?? st, frame);
        }
        return joinStates(after, handlers);
      }
      case 'FunctionDefinition': {
        const fn = this.functionAt(unit, stmt);
        const name = children(stmt).find((k) => k.name === 'VariableName');
        if (fn && name && !fn.cls) this.setVar(env, this.text(unit, name), { t: 'function', fn });
        return st;
      }
      case 'ClassDefinition': {
        const name = children(stmt).find((k) => k.name === 'VariableName');
        const cls = name ? this.binder.classes.get(this.text(unit, name))?.find((c) => c.node.from === stmt.from && c.unit === unit) : undefined;
        if (cls && name) this.setVar(env, cls.name, { t: 'class', cls });
        return st;
      }
      case 'DecoratedStatement': {
        const inner = stmt.lastChild;
        return inner ? this.execStmt(unit, inner, env, st, frame) : st;
      }
      case 'ReturnStatement': {
        const v = namedChildren(stmt).find((k) => k.name !== 'return');
        frame.returns.push(v ? this.eval(unit, v, env, st) : { t: 'none' });
        frame.exits.push(st);
        return null;
      }
      case 'ContinueStatement':
      case 'BreakStatement': {
        const loop = this.loops[this.loops.length - 1];
        if (!loop) return st;
        (stmt.name === 'BreakStatement' ? loop.breaks : loop.continues).push(st);
        return null;
      }
      case 'RaiseStatement':
        // This path ends here; an enclosing `try` runs its handlers from the state before the try.
        return null;
      case 'ImportStatement':
        return this.execImport(unit, stmt, env, st);
      case 'PassStatement':
      case 'Comment':
        return st;
      default:
        return st;
    }
  }

  /** The globals a function defined in `unit` sees. */
  private envOfUnit(unit: number): Env {
    return unit < this.mainUnits ? this.moduleEnv : (this.importedEnvs.get(unit) ?? this.moduleEnv);
  }

  /**
   * `from utils import freeze_backbone`, `import helpers as h`: a workspace
   * module runs once, at its first import, and the names it defines become
   * values here. Anything else imported stays unknown.
   */
  private execImport(unit: number, stmt: SyntaxNode, env: Env, st: MachineState): MachineState | null {
    const parsed = parseImport(this.binder.program.units[unit].text, stmt);
    const moduleAt = (module: string) => this.importTable.get(`${unit}:${stmt.from}:${module}`);
    let cur: MachineState | null = st;
    const load = (target: number | undefined): Env | undefined => {
      if (target === undefined || target < 0 || !cur) return undefined;
      const known = this.importedEnvs.get(target);
      if (known) return known;
      const modEnv: Env = { vars: new Map() };
      this.importedEnvs.set(target, modEnv);
      cur = this.execBlock(target, this.binder.program.units[target].tree.topNode, modEnv, cur, { returns: [], exits: [] });
      return modEnv;
    };
    if (!parsed.from) {
      parsed.modules.forEach((m, i) => {
        const name = parsed.names[i];
        // `import a.b` binds `a`, the package; only a plain or aliased import names the module itself.
        if (m.module.includes('.') && name.alias === m.module.split('.')[0]) return;
        const modEnv = load(moduleAt(m.module));
        if (modEnv) this.setVar(env, name.alias, { t: 'namespace', vars: modEnv.vars });
      });
      return cur;
    }
    const base = parsed.modules[0].module;
    const modEnv = load(moduleAt(base));
    for (const { name, alias } of parsed.names) {
      const defined = modEnv?.vars.get(name);
      if (defined) {
        this.setVar(env, alias, defined);
        continue;
      }
      const sub = load(moduleAt(base ? `${base}.${name}` : name));
      if (sub) this.setVar(env, alias, { t: 'namespace', vars: sub.vars });
    }
    return cur;
  }

  /** A call in the statement certainly raised (an optimizer over an empty list): this path ends. */
  private afterRaise(st: MachineState): MachineState | null {
    if (!this.raised) return st;
    this.raised = false;
    return null;
  }

  private execAssign(unit: number, stmt: SyntaxNode, env: Env, st: MachineState): void {
    const kids = children(stmt).filter((k) => k.name !== 'Comment');
    const ops = kids.map((k, i) => (k.name === 'AssignOp' ? i : -1)).filter((i) => i >= 0);
    if (ops.length === 0) return;
    const valueNodes = kids.slice(ops[ops.length - 1] + 1).filter((k) => k.name !== ',');
    let value: Value =
      valueNodes.length === 1 ? this.eval(unit, valueNodes[0], env, st) : { t: 'list', items: valueNodes.map((n) => this.eval(unit, n, env, st)) };
    let file = valueNodes.length === 1 ? this.modelFileOf(unit, stmt) : undefined;
    // Where the code itself does not show the structure, an export of this model does, in order: the
    // `freezelens.models` setting; `torch.onnx.export(model, x, "model.onnx")` in the program; an export
    // elsewhere in the workspace of a model built by the same function.
    const targetName = kids.length > 0 && kids[0].name === 'VariableName' && ops.length === 1 ? this.text(unit, kids[0]) : undefined;
    if (!file && targetName && valueNodes.length === 1 && !(value.t === 'module' && value.path === '' && st.trees.has(value.root) && isComplete(st.trees.get(value.root)!))) {
      file = this.configuredModelOf(unit, targetName) ?? this.exportedModelOf(unit, targetName) ?? this.workspaceExportOf(unit, valueNodes[0]);
    }
    if (file) {
      // A model built where the analysis cannot follow (a config system, a checkpoint loader) is the export's model.
      if (value.t !== 'module' || value.path !== '') value = this.newModel('model file', this.siteAt(unit, stmt), false, st, { label: this.text(unit, valueNodes[0]) });
      this.setTree(value.root, file, st);
      this.models.get(value.root)!.treeSource = 'onnx';
    }
    let start = 0;
    for (const op of ops) {
      const targets = kids.slice(start, op).filter((k) => k.name !== ',' && k.name !== 'TypeDef');
      if (targets.length === 1) this.assign(unit, targets[0], value, env, st, stmt);
      else targets.forEach((t, i) => this.assign(unit, t, value.t === 'list' ? (value.items[i] ?? UNKNOWN) : UNKNOWN, env, st, stmt));
      start = op + 1;
    }
  }

  /**
   * `model = build()  # freezelens: model=exports/model.onnx`: the export
   * describes this model, so its module tree is the export's (PyTorch's
   * names, counts, where BatchNorm sits), whatever built the model.
   */
  private exportedModelOf(unit: number, name: string): ModuleNode | undefined {
    const program = this.binder.program;
    if (!program.loadModelTree) return undefined;
    for (let u = 0; u < this.mainUnits; u++) {
      const text = program.units[u].text;
      if (!text.includes('onnx.export')) continue;
      const re = new RegExp(`onnx\\.export\\(\\s*${name}\\s*,[\\s\\S]{0,400}?["']([^"']+\\.onnx)["']`);
      const m = re.exec(text);
      if (m) return program.loadModelTree(m[1], program.units[unit].id);
    }
    return undefined;
  }

  /**
   * `freezelens.models` maps this script to an export: it describes the
   * script's one model whose structure the code does not show. The model
   * is the one variable that the script uses as a module (`.parameters()`,
   * `.train()`, ...); with several such variables the setting cannot say
   * which, and binds none.
   */
  private configuredModelOf(unit: number, name: string): ModuleNode | undefined {
    const program = this.binder.program;
    if (!program.configuredModel || !program.loadModelTree || unit >= this.mainUnits) return undefined;
    this.moduleVariables ??= moduleVariablesOf(program.units.slice(0, this.mainUnits).map((u) => u.text));
    if (!this.moduleVariables.includes(name)) return undefined;
    if (this.moduleVariables.length > 1) {
      this.unknowns.push(`freezelens.models maps this script to ${program.configuredModel}, but the script uses several models (${this.moduleVariables.join(', ')}); name one with a \`# freezelens: model=\` comment`);
      return undefined;
    }
    const tree = program.loadModelTree(program.configuredModel, program.units[unit].id);
    if (!tree) this.unknowns.push(`model file ${program.configuredModel} could not be read`);
    return tree;
  }

  /**
   * `model = build_model(cfg)`, where another workspace file exports a
   * model that `build_model` built: that export describes this one. Several
   * different exports of the same builder bind none.
   */
  private workspaceExportOf(unit: number, value: SyntaxNode): ModuleNode | undefined {
    const program = this.binder.program;
    if (!program.exportsOf || !program.loadModelTree) return undefined;
    const builder = /^\s*[A-Za-z_][\w.]*/.exec(this.text(unit, value))?.[0].trim().split('.').pop();
    if (!builder || value.name !== 'CallExpression') return undefined;
    const files = program.exportsOf(builder);
    return files.length === 1 ? program.loadModelTree(files[0], program.units[unit].id) : undefined;
  }

  private modelFileOf(unit: number, stmt: SyntaxNode): ModuleNode | undefined {
    const program = this.binder.program;
    if (!program.loadModelTree) return undefined;
    const text = program.units[unit].text;
    const lineEnd = text.indexOf('\n', stmt.to);
    const line = text.slice(stmt.to, lineEnd < 0 ? text.length : lineEnd);
    if (!line.includes('freezelens')) return undefined;
    const m = /#\s*freezelens:\s*model\s*=\s*(\S+)/.exec(line);
    if (!m) return undefined;
    const tree = program.loadModelTree(m[1], program.units[unit].id);
    if (!tree) this.unknowns.push(`model file ${m[1]} could not be read`);
    return tree;
  }

  private assign(unit: number, target: SyntaxNode, value: Value, env: Env, st: MachineState, stmt: SyntaxNode): void {
    const t = unparen(target);
    if (t.name === 'VariableName') {
      const name = this.text(unit, t);
      if (value.t === 'module' && value.path === '') {
        const info = this.models.get(value.root);
        if (info && !info.name) info.name = name;
      }
      this.setVar(env, name, value);
      return;
    }
    if (t.name === 'TupleExpression' || t.name === 'ArrayExpression') {
      if (this.nesting >= MAX_NESTING) {
        // A target nested thousands deep: its names now hold something unknown.
        this.skip(unit, t, env, st, `code nested deeper than ${MAX_NESTING} levels`);
        this.havocValue(value, st, `a value assigned in code that was skipped (code nested deeper than ${MAX_NESTING} levels)`);
        for (const name of this.namesIn(unit, t)) this.setVar(env, name, UNKNOWN);
        return;
      }
      this.nesting++;
      try {
        namedChildren(t).forEach((el, i) => this.assign(unit, el, value.t === 'list' ? (value.items[i] ?? UNKNOWN) : UNKNOWN, env, st, stmt));
      } finally {
        this.nesting--;
      }
      return;
    }
    if (t.name !== 'MemberExpression') return;
    const obj = t.firstChild!;
    const prop = t.lastChild!;
    const site = this.siteAt(unit, stmt);
    if (prop.name !== 'PropertyName') {
      // module[i] = new_module (replacing a layer inside a Sequential)
      const container = this.eval(unit, obj, env, st);
      const index = this.eval(unit, children(t).find((k, i, all) => all[i - 1]?.name === '[')!, env, st);
      if (container.t === 'module' && (index.t === 'num' || index.t === 'str')) {
        this.setAttribute(container, String(index.v), value, st, site);
      }
      return;
    }
    const attr = this.text(unit, prop);
    const receiver = this.eval(unit, obj, env, st);
    if (attr === 'requires_grad') {
      if (receiver.t === 'unknown') this.unattributedFlagWrites = true;
      if (receiver.t !== 'paramEach') return;
      if (value.t === 'bool') return this.writeFlag(receiver.set, value.v, st, site);
      // `p.requires_grad = name.startswith("fc.")`: True where the test holds, False elsewhere.
      const valueNode = lastValueNode(stmt);
      const narrowed = valueNode ? this.narrowing(unit, valueNode, env) : undefined;
      if (narrowed?.predicate && narrowed.set === receiver.set) {
        this.writeFlag({ ...receiver.set, predicate: and2(receiver.set.predicate, narrowed.predicate) }, true, st, site);
        this.writeFlag({ ...receiver.set, predicate: and2(receiver.set.predicate, { op: 'not', arg: narrowed.predicate }) }, false, st, site);
        return;
      }
      this.writeFlag(receiver.set, undefined, st, site);
      return;
    }
    if (attr === 'grad' && receiver.t === 'paramEach' && value.t === 'none') {
      st.update(receiver.set, (r) => (r.grad = new Set(['none'])));
      return;
    }
    if (attr === 'track_running_stats' && value.t === 'bool' && !value.v && (receiver.t === 'module' || receiver.t === 'moduleEach')) {
      const set = receiver.t === 'module' ? { root: receiver.root, prefixes: [receiver.path] } : receiver.set;
      this.events.push({ kind: 'trackRunningStats', set, site });
      return;
    }
    if (receiver.t === 'module') this.setAttribute(receiver, attr, value, st, site);
    else if (receiver.t === 'instance') receiver.fields.set(attr, value);
    else if (receiver.t === 'moduleEach' && attr === 'momentum' && value.t === 'num' && value.v === 0 && receiver.only === 'batchnorm') {
      // BatchNorm with momentum 0 keeps its running statistics: running = (1 - 0) * running + 0 * batch.
      this.events.push({ kind: 'bnMomentumZero', set: receiver.set, site });
    }
  }

  /** `parent.attr = value` on a module: a submodule (re)placed, or a plain field. */
  private setAttribute(parent: Extract<Value, { t: 'module' }>, attr: string, value: Value, st: MachineState, site: Site): void {
    const path = joinPath(parent.path, attr);
    if (value.t === 'module' && value.path === '' && !this.models.get(value.root)?.attachedTo && value.root !== parent.root) {
      const replacing = this.hasBeenUsed(parent.root);
      this.attach(value.root, parent.root, path, st);
      if (replacing) this.events.push({ kind: 'replace', root: parent.root, path, site, stepsBefore: this.steps });
      return;
    }
    if (value.t === 'module') {
      // Aliasing an existing submodule under a new name: nothing new to track.
      return;
    }
    this.fields.set(`${parent.root}:${path}`, value);
  }

  /** Whether an optimizer already exists, so a new submodule counts as a replacement the rules care about. */
  private hasBeenUsed(root: number): boolean {
    return this.events.some((e) => e.kind === 'optimizer' && e.opt.groups.some((g) => g.set.root === root));
  }

  /** Moves a model object into another one at `path`; its regions come along, same tensors. */
  private attach(child: number, root: number, path: string, st: MachineState): void {
    // Linear in the model's size: an nn.Sequential of thousands of layers makes the attaches quadratic.
    this.budget.tick();
    const info = this.models.get(child);
    if (info) info.attachedTo = { root, path };
    const target = st.writable(root);
    for (const p of [...target.keys()]) if (p === path || p.startsWith(path + '.')) target.delete(p);
    const source = st.models.get(child);
    if (source) {
      for (const [p, r] of source) target.set(joinPath(path, p), { ...r, rg: new Set(r.rg), grad: new Set(r.grad), mode: new Set(r.mode), bnEval: new Set(r.bnEval) });
      st.dropModel(child);
    } else {
      target.set(path, freshRegion(false));
    }
    for (const [map, src] of [
      [this.batchNormPaths, this.batchNormPaths.get(child)],
      [this.dropoutPaths, this.dropoutPaths.get(child)],
    ] as const) {
      // What was at `path` before (a replaced head with Dropout) is gone.
      const old = map.get(root);
      if (old && path !== '') for (const p of [...old]) if (p === path || p.startsWith(`${path}.`)) old.delete(p);
      if (!src) continue;
      const set = map.get(root) ?? new Set<string>();
      for (const p of src) set.add(joinPath(path, p));
      map.set(root, set);
    }
    if (this.frozenBatchNorm.has(child)) this.frozenBatchNorm.add(root);
    const parentTree = st.trees.get(root);
    if (parentTree) {
      const childTree = st.trees.get(child) ?? { name: '', cls: this.models.get(child)?.label ?? '?', params: null, buffers: null, children: [], partial: true };
      st.trees.set(root, withChild(parentTree, path, childTree) ?? { ...parentTree, partial: true });
    }
    st.trees.delete(child);
    for (const [k, v] of [...this.fields]) {
      if (k.startsWith(`${child}:`)) this.fields.set(`${root}:${joinPath(path, k.slice(String(child).length + 1))}`, v);
    }
    const cls = this.classOf.get(child);
    if (cls && path !== '') this.fields.set(`${root}:${path}#class`, { t: 'class', cls });
  }

  /** Follows attachments: a head created on its own and then assigned into a model is part of that model. */
  private canonical(root: number, path: string): { root: number; path: string } {
    let r = root;
    let p = path;
    for (let i = 0; i < 20; i++) {
      const at = this.models.get(r)?.attachedTo;
      if (!at) break;
      p = joinPath(at.path, p);
      r = at.root;
    }
    return { root: r, path: p };
  }

  private writeFlag(set: ParamSet, value: boolean | undefined, st: MachineState, site: Site): void {
    const before = st.clone();
    st.update(set, (r) => {
      r.rg = value === undefined ? new Set([true, false]) : new Set([value]);
      r.rgSite = site;
    });
    this.events.push({ kind: 'setFlag', set, value, site, before, after: st.clone(), stepsBefore: this.steps });
  }

  private execIf(unit: number, stmt: SyntaxNode, env: Env, st: MachineState, frame: Frame): MachineState | null {
    const outer = env;
    const kids = children(stmt);
    // (condition, body) pairs; `else` has no condition.
    const arms: { cond?: SyntaxNode; body: SyntaxNode }[] = [];
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i];
      if (k.name === 'if' || k.name === 'elif') {
        // The next Body, found from here: searching from the start is quadratic in an if with thousands of elifs.
        let body: SyntaxNode | undefined;
        for (let j = i + 1; j < kids.length && !body; j++) if (kids[j].name === 'Body') body = kids[j];
        if (body) arms.push({ cond: kids[i + 1], body });
      } else if (k.name === 'else') {
        const body = kids[i + 1];
        if (body?.name === 'Body') arms.push({ body });
      }
    }
    let result: MachineState | null = null;
    let rest: MachineState | null = st;
    for (const arm of arms) {
      if (!rest) break;
      if (!arm.cond) {
        result = joinStates(result, this.execBlock(unit, arm.body, env, rest, frame));
        rest = null;
        break;
      }
      const cond = this.condition(unit, arm.cond, env, rest);
      if (cond.value === 'yes') {
        result = joinStates(result, this.execBlock(unit, arm.body, cond.thenEnv ?? env, rest, frame));
        rest = null;
        break;
      }
      if (cond.value === 'no') {
        if (cond.elseEnv) env = cond.elseEnv;
        continue;
      }
      const loop = this.loops[this.loops.length - 1];
      const mark = loop?.continues.length ?? 0;
      const taken = this.execBlock(unit, arm.body, cond.thenEnv ?? env, rest.clone(), frame);
      if (cond.thenEnv && !taken && cond.elseEnv) {
        // `if name.startswith('fc'): continue`: what follows the `if` runs only for the other elements,
        // and the elements that continued keep what the arm did to them: compose, as above.
        for (const [k, v] of cond.elseEnv.vars) outer.vars.set(k, v);
        const continued = loop ? loop.continues.splice(mark) : [];
        if (continued.length > 0) rest = continued.reduce<MachineState | null>(joinStates, null)!;
      }
      if (cond.thenEnv && taken) {
        // A test on the loop element of a set-wise loop (`if 'fc' not in name:`) splits the elements, not the
        // runs: both arms happen, each to its own params. So the arms compose in sequence rather than join.
        rest = taken;
      } else result = joinStates(result, taken);
      if (cond.elseEnv) env = cond.elseEnv;
    }
    return joinStates(result, rest);
  }

  private execWith(unit: number, stmt: SyntaxNode, env: Env, st: MachineState, frame: Frame): MachineState | null {
    const kids = children(stmt);
    const body = kids.find((k) => k.name === 'Body');
    let noGrad = false;
    kids.forEach((k, i) => {
      if (k.name === 'Body' || k.name === 'with' || k.name === 'as' || k.name === ',' || kids[i - 1]?.name === 'as') return;
      const v = this.eval(unit, k, env, st);
      if (v.t === 'noGrad') noGrad = true;
      const next = kids[i + 1];
      if (next?.name === 'as' && kids[i + 2]?.name === 'VariableName') this.setVar(env, this.text(unit, kids[i + 2]), UNKNOWN);
    });
    if (!body) return st;
    if (noGrad) st.noGradDepth++;
    const after = this.execBlock(unit, body, env, st, frame);
    if (noGrad && after) after.noGradDepth = Math.max(0, after.noGradDepth - 1);
    if (noGrad) st.noGradDepth = Math.max(0, st.noGradDepth - 1);
    return after;
  }

  private execFor(unit: number, stmt: SyntaxNode, env: Env, st: MachineState, frame: Frame): MachineState | null {
    const kids = children(stmt);
    const inIdx = kids.findIndex((k) => k.name === 'in');
    const targets = kids.slice(1, inIdx).filter((k) => k.name !== ',' && k.name !== 'for' && k.name !== 'async');
    const iterNode = kids[inIdx + 1];
    const body = kids.find((k) => k.name === 'Body');
    if (!iterNode || !body) return st;
    let iter = this.eval(unit, iterNode, env, st);
    let indexTarget: SyntaxNode | undefined;
    let target: SyntaxNode[] = targets;
    // enumerate(X): the index is a plain number, the element follows X.
    const iterInner = unparen(iterNode);
    if (iterInner.name === 'CallExpression' && this.text(unit, iterInner.firstChild!) === 'enumerate') {
      const arg = callArgs(this.binder.program.units[unit].text, iterInner.lastChild).positional[0];
      if (arg) iter = this.eval(unit, arg, env, st);
      const tuple = targets.length === 2 ? targets : targets.length === 1 && unparen(targets[0]).name === 'TupleExpression' ? namedChildren(unparen(targets[0])) : [];
      if (tuple.length === 2) {
        indexTarget = tuple[0];
        target = [tuple[1]];
      }
    }
    if (indexTarget) this.assign(unit, indexTarget, UNKNOWN, env, st, stmt);
    const names = target.length === 1 && unparen(target[0]).name === 'TupleExpression' ? namedChildren(unparen(target[0])) : target;

    // Set-wise loops: the body applies to every parameter or module of the set at once.
    if ((iter.t === 'params' || iter.t === 'modules') && names.length >= 1) {
      let out: MachineState | null = null;
      const sets = iter.t === 'params' ? iter.sets : [iter.set];
      for (const set of sets) {
        const named = iter.named && names.length === 2;
        const element: Value = iter.t === 'params' ? { t: 'paramEach', set } : { t: 'moduleEach', set };
        if (named) {
          this.assign(unit, names[0], { t: 'nameEach', set, of: iter.t === 'params' ? 'param' : 'child' }, env, st, stmt);
          this.assign(unit, names[1], element, env, st, stmt);
        } else if (names.length === 1) this.assign(unit, names[0], element, env, st, stmt);
        else return this.execLoopTwice(unit, body, env, st, frame);
        const before: MachineState = out ?? st;
        const run = this.execIteration(unit, body, env, before.clone(), frame);
        // `break` in a loop over parameters stops at an element we cannot name: then nothing is certain.
        out = run.broke ? joinStates(joinStates(run.next, run.broke), before) : run.next;
        if (!out) return null;
      }
      return out;
    }
    // A counted loop with a known, small count: unroll it so epoch guards resolve.
    if (iter.t === 'list' && iter.items.length <= MAX_UNROLL && names.length === 1) {
      let cur: MachineState | null = st;
      let broke: MachineState | null = null;
      for (const item of iter.items) {
        if (!cur) break;
        this.assign(unit, names[0], item, env, cur, stmt);
        const run = this.execIteration(unit, body, env, cur, frame);
        cur = run.next;
        broke = joinStates(broke, run.broke);
      }
      return joinStates(cur, broke);
    }
    if (iter.t === 'list' && iter.items.length > MAX_UNROLL && iter.items.every((i) => i.t === 'num') && names.length === 1) {
      // range(N) with a large N: the epochs where guards can change something, then the rest.
      const cut = this.guardThresholds(unit, body, this.text(unit, names[0]));
      const values = [...new Set([0, ...cut.flatMap((c) => [c - 1, c, c + 1])])].filter((v) => v >= 0 && v < iter.items.length).sort((a, b) => a - b).slice(0, MAX_UNROLL);
      let cur: MachineState | null = st;
      let broke: MachineState | null = null;
      for (const v of values) {
        if (!cur) break;
        this.assign(unit, names[0], { t: 'num', v }, env, cur, stmt);
        const run = this.execIteration(unit, body, env, cur, frame);
        cur = run.next;
        broke = joinStates(broke, run.broke);
      }
      return joinStates(cur, broke);
    }
    for (const n of names) this.assign(unit, n, iter.t === 'list' && iter.items.length > 0 ? iter.items[0] : UNKNOWN, env, st, stmt);
    return this.execLoopTwice(unit, body, env, st, frame);
  }

  /** A loop over data: assume at least one iteration; two show what carries over between them. */
  private execLoopTwice(unit: number, body: SyntaxNode, env: Env, st: MachineState, frame: Frame): MachineState | null {
    const once = this.execIteration(unit, body, env, st, frame);
    if (!once.next) return once.broke;
    const twice = this.execIteration(unit, body, env, once.next.clone(), frame);
    return joinStates(joinStates(once.next, twice.next), joinStates(once.broke, twice.broke));
  }

  /**
   * One run of a loop body. `next`: the state that reaches the next iteration
   * (the body's end joined with every `continue`); `broke`: the states that
   * left the loop by `break`.
   */
  private execIteration(unit: number, body: SyntaxNode, env: Env, st: MachineState, frame: Frame): { next: MachineState | null; broke: MachineState | null } {
    const key = `${unit}:${body.from}`;
    const runs = (this.bodyRuns.get(key) ?? 0) + 1;
    this.bodyRuns.set(key, runs);
    if (runs > MAX_BODY_RUNS || this.loops.length >= MAX_LOOP_NESTING) {
      this.skip(unit, body, env, st, runs > MAX_BODY_RUNS ? `a loop body ran ${MAX_BODY_RUNS} times` : `loops nested deeper than ${MAX_LOOP_NESTING}`);
      return { next: st, broke: null };
    }
    const loop = { continues: [] as MachineState[], breaks: [] as MachineState[] };
    this.loops.push(loop);
    let end: MachineState | null;
    try {
      end = this.execBlock(unit, body, env, st, frame);
    } finally {
      this.loops.pop();
    }
    return { next: loop.continues.reduce<MachineState | null>(joinStates, end), broke: loop.breaks.reduce<MachineState | null>(joinStates, null) };
  }

  /** Numbers compared with the loop variable inside a loop body: `epoch == 3`, `epoch >= UNFREEZE`. */
  private guardThresholds(unit: number, body: SyntaxNode, loopVar: string): number[] {
    const out: number[] = [];
    const text = this.binder.program.units[unit].text;
    const re = new RegExp(`\\b${loopVar}\\s*(==|>=|<=|>|<|%)\\s*(\\d+)|(\\d+)\\s*(==|>=|<=|>|<)\\s*${loopVar}\\b`, 'g');
    for (const m of text.slice(body.from, body.to).matchAll(re)) out.push(Number(m[2] ?? m[3]));
    return out;
  }

  // ---- conditions --------------------------------------------------------

  /**
   * Evaluates an `if` test. Inside a loop over parameters or modules, a test
   * on the loop's name or element narrows the set for each branch instead.
   */
  private condition(unit: number, node: SyntaxNode, env: Env, st: MachineState): { value: Tri; thenEnv?: Env; elseEnv?: Env } {
    const narrowed = this.narrowing(unit, node, env);
    if (narrowed) {
      const thenEnv: Env = { vars: new Map(env.vars), parent: env.parent };
      const elseEnv: Env = { vars: new Map(env.vars), parent: env.parent };
      for (const [name, v] of env.vars) {
        if ((v.t === 'paramEach' || v.t === 'moduleEach' || v.t === 'nameEach') && v.set === narrowed.set) {
          thenEnv.vars.set(name, narrowValue(v, narrowed.predicate, narrowed.only, narrowed.trainable, true));
          elseEnv.vars.set(name, narrowValue(v, narrowed.predicate, narrowed.only, narrowed.trainable, false));
        }
      }
      return { value: 'maybe', thenEnv, elseEnv };
    }
    const v = this.eval(unit, node, env, st);
    if (v.t === 'bool') return { value: v.v ? 'yes' : 'no' };
    if (v.t === 'num') return { value: v.v !== 0 ? 'yes' : 'no' };
    if (v.t === 'none') return { value: 'no' };
    return { value: 'maybe' };
  }

  private narrowing(
    unit: number,
    node: SyntaxNode,
    env: Env,
  ): { set: ParamSet; predicate?: NamePredicate; only?: 'batchnorm' | 'dropout'; trainable?: boolean } | undefined {
    const n = unparen(node);
    const text = this.binder.program.units[unit].text;
    if (n.name === 'UnaryExpression' && n.firstChild?.name === 'not') {
      const inner = this.narrowing(unit, n.lastChild!, env);
      if (!inner) return undefined;
      if (inner.predicate) return { ...inner, predicate: { op: 'not', arg: inner.predicate } };
      if (inner.trainable !== undefined) return { ...inner, trainable: !inner.trainable };
      return undefined;
    }
    if (n.name === 'BinaryExpression') {
      const kids = children(n);
      const opNode = kids.find((k) => ['and', 'or', 'in', 'not', 'CompareOp', 'is'].includes(k.name));
      const left = kids[0];
      const right = kids[kids.length - 1];
      if (opNode?.name === 'and' || opNode?.name === 'or') {
        const a = this.narrowing(unit, left, env);
        const b = this.narrowing(unit, right, env);
        if (!a || !b || a.set !== b.set) return a || b ? { set: (a ?? b)!.set, predicate: { op: 'unknown' } } : undefined;
        if (opNode.name === 'and' && !(a.only && b.only) && !(a.trainable !== undefined && b.trainable !== undefined)) {
          // isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad: both narrowings apply.
          const predicate = a.predicate && b.predicate ? { op: 'and' as const, args: [a.predicate, b.predicate] } : (a.predicate ?? b.predicate);
          return { set: a.set, predicate, only: a.only ?? b.only, trainable: a.trainable ?? b.trainable };
        }
        if (a.predicate && b.predicate && !a.only && !b.only && a.trainable === undefined && b.trainable === undefined) {
          return { set: a.set, predicate: { op: opNode.name, args: [a.predicate, b.predicate] } };
        }
        return { set: a.set, predicate: { op: 'unknown' } };
      }
      const negated = kids.some((k) => k.name === 'not');
      if (kids.some((k) => k.name === 'in')) {
        const r = this.evalName(unit, right, env);
        if (r?.t === 'nameEach') {
          const needle = this.stringLiteral(unit, left);
          const p: NamePredicate = needle !== undefined ? { op: 'contains', value: needle } : { op: 'unknown' };
          return { set: r.set, predicate: negated ? { op: 'not', arg: p } : p };
        }
        const l = this.evalName(unit, left, env);
        if (l?.t === 'nameEach') {
          // `name in ['layer3', 'layer4']` on child names; anything else is unknown.
          const list = unparen(right);
          const items = list.name === 'ArrayExpression' || list.name === 'TupleExpression' || list.name === 'SetExpression' ? namedChildren(list).map((x) => this.stringLiteral(unit, x)) : [];
          const p: NamePredicate =
            items.length > 0 && items.every((x) => x !== undefined) && l.of === 'child'
              ? { op: 'or', args: items.map((x) => ({ op: 'startswith' as const, value: childPath(l.set, x!) })) }
              : { op: 'unknown' };
          return { set: l.set, predicate: negated ? { op: 'not', arg: p } : p };
        }
        return undefined;
      }
      if (opNode?.name === 'CompareOp' && /==|!=/.test(this.text(unit, opNode))) {
        const l = this.evalName(unit, left, env);
        const value = this.stringLiteral(unit, right);
        if (l?.t === 'nameEach') {
          const p: NamePredicate = value !== undefined && l.of === 'child' ? { op: 'startswith', value: childPath(l.set, value) } : { op: 'unknown' };
          return { set: l.set, predicate: this.text(unit, opNode) === '!=' ? { op: 'not', arg: p } : p };
        }
        const flag = this.requiresGradOf(unit, left, env);
        if (flag && unparen(right).name === 'Boolean') {
          const isTrue = this.text(unit, unparen(right)) === 'True';
          return { set: flag, trainable: this.text(unit, opNode) === '==' ? isTrue : !isTrue };
        }
      }
      return undefined;
    }
    if (n.name === 'CallExpression') {
      const callee = n.firstChild!;
      const args = callArgs(text, n.lastChild);
      if (callee.name === 'MemberExpression' && callee.lastChild?.name === 'PropertyName') {
        const method = this.text(unit, callee.lastChild);
        const recv = this.evalName(unit, callee.firstChild!, env);
        if (recv?.t === 'nameEach' && (method === 'startswith' || method === 'endswith')) {
          const arg = args.positional[0] ? unparen(args.positional[0]) : undefined;
          // A literal, a tuple of literals, or a name bound to them (`frozen_prefixes = ("embeddings.", ...)`).
          const bound = arg?.name === 'VariableName' ? this.evalName(unit, arg, env) : undefined;
          const values =
            bound?.t === 'list'
              ? bound.items.map((x) => (x.t === 'str' ? x.v : undefined))
              : bound?.t === 'str'
                ? [bound.v]
                : arg && (arg.name === 'TupleExpression' || arg.name === 'ArrayExpression')
                  ? namedChildren(arg).map((x) => this.stringLiteral(unit, x))
                  : [arg ? this.stringLiteral(unit, arg) : undefined];
          if (values.every((v) => v !== undefined)) {
            const op = method;
            const preds: NamePredicate[] = values.map((v) => ({ op, value: recv.of === 'child' && op === 'startswith' ? childPath(recv.set, v!) : v! }));
            return { set: recv.set, predicate: preds.length === 1 ? preds[0] : { op: 'or', args: preds } };
          }
          return { set: recv.set, predicate: { op: 'unknown' } };
        }
      }
      if (callee.name === 'VariableName' && this.text(unit, callee) === 'isinstance' && args.positional.length === 2) {
        const recv = this.evalName(unit, args.positional[0], env);
        if (recv?.t === 'moduleEach') {
          const types = this.text(unit, args.positional[1]);
          if (/BatchNorm|_BatchNorm|SyncBatchNorm/.test(types) && !/Frozen/.test(types)) return { set: recv.set, only: 'batchnorm' };
          if (/Dropout/.test(types)) return { set: recv.set, only: 'dropout' };
          return { set: recv.set, predicate: { op: 'unknown' } };
        }
      }
      if (callee.name === 'VariableName' && this.text(unit, callee) === 'any') {
        // any(k in n for k in KEYS)
        const gen = unparen(args.positional[0] ?? n);
        if (gen.name === 'ComprehensionExpression') {
          const kids = children(gen);
          const test = kids.find((k) => k.name === 'BinaryExpression');
          const inIdx = kids.findIndex((k) => k.name === 'in');
          const keysNode = kids[inIdx + 1];
          const loopVar = kids.find((k, i) => k.name === 'VariableName' && kids[i - 1]?.name === 'for');
          if (test && keysNode && loopVar) {
            const tk = children(test);
            const hay = this.evalName(unit, tk[tk.length - 1], env);
            const keys = this.eval(unit, keysNode, env, new MachineState());
            if (hay?.t === 'nameEach' && this.text(unit, tk[0]) === this.text(unit, loopVar)) {
              const strs = keys.t === 'list' ? keys.items.map((i) => (i.t === 'str' ? i.v : undefined)) : [];
              const p: NamePredicate =
                strs.length > 0 && strs.every((s) => s !== undefined) ? { op: 'or', args: strs.map((s) => ({ op: 'contains' as const, value: s! })) } : { op: 'unknown' };
              return { set: hay.set, predicate: tk.some((k) => k.name === 'not') ? { op: 'not', arg: p } : p };
            }
          }
        }
      }
    }
    const flag = this.requiresGradOf(unit, n, env);
    if (flag) return { set: flag, trainable: true };
    const v = this.evalName(unit, n, env);
    if (v?.t === 'nameEach' || v?.t === 'paramEach' || v?.t === 'moduleEach') return { set: v.set, predicate: { op: 'unknown' } };
    return undefined;
  }

  /** `p.requires_grad` on a loop's parameter: the set it tests. */
  private requiresGradOf(unit: number, node: SyntaxNode, env: Env): ParamSet | undefined {
    const n = unparen(node);
    if (n.name !== 'MemberExpression' || n.lastChild?.name !== 'PropertyName' || this.text(unit, n.lastChild) !== 'requires_grad') return undefined;
    const v = this.evalName(unit, n.firstChild!, env);
    return v?.t === 'paramEach' ? v.set : undefined;
  }

  private evalName(unit: number, node: SyntaxNode, env: Env): Value | undefined {
    const n = unparen(node);
    return n.name === 'VariableName' ? this.lookup(env, this.text(unit, n)) : undefined;
  }

  /** `f"encoder.layer.{i}."` with plain replacements of known strings and integers; anything else is unknown. */
  private formatString(unit: number, n: SyntaxNode, env: Env, st: MachineState): Value {
    const raw = this.text(unit, n);
    const m = /^[fF][rR]?(['"]{1,3})([\s\S]*)\1$/.exec(raw) ?? /^[rR][fF](['"]{1,3})([\s\S]*)\1$/.exec(raw);
    if (!m) return UNKNOWN;
    const bodyStart = n.from + raw.indexOf(m[2], m[1].length);
    let out = '';
    let at = bodyStart;
    for (const rep of n.getChildren('FormatReplacement')) {
      out += this.binder.program.units[unit].text.slice(at, rep.from);
      const inner = rep.firstChild?.nextSibling;
      // A conversion (`!r`) or a format spec (`:03d`) changes the text: not modelled.
      if (!inner || children(rep).length !== 3) return UNKNOWN;
      const v = this.eval(unit, inner, env, st);
      if (v.t === 'str') out += v.v;
      else if (v.t === 'num' && Number.isInteger(v.v)) out += String(v.v);
      else return UNKNOWN;
      at = rep.to;
    }
    out += this.binder.program.units[unit].text.slice(at, n.to - m[1].length);
    return { t: 'str', v: out.replace(/\{\{/g, '{').replace(/\}\}/g, '}') };
  }

  private stringLiteral(unit: number, node: SyntaxNode): string | undefined {
    const n = unparen(node);
    if (n.name !== 'String') return undefined;
    const m = /^[rRuU]?(['"]{1,3})([\s\S]*)\1$/.exec(this.text(unit, n));
    return m ? m[2] : undefined;
  }

  // ---- expressions ---------------------------------------------------------

  eval(unit: number, node: SyntaxNode, env: Env, st: MachineState): Value {
    if (this.nesting >= MAX_NESTING) {
      this.skip(unit, node, env, st, `code nested deeper than ${MAX_NESTING} levels`);
      return UNKNOWN;
    }
    this.nesting++;
    try {
      return this.evalHere(unit, node, env, st);
    } finally {
      this.nesting--;
    }
  }

  /**
   * Code past a depth or work cap is not run. Every model it names becomes
   * unknown, and every model at all when it calls code of the program, so the
   * rules stay silent about what it may have changed. Iterative: the node can
   * be thousands of levels deep.
   */
  private skip(unit: number, node: SyntaxNode, env: Env, st: MachineState, why: string): void {
    this.budget.exceeded(why);
    this.incomplete = true;
    for (const name of this.namesIn(unit, node)) {
      this.budget.tick();
      const v = this.lookup(env, name);
      const reason = `${name}, used in code that was skipped (${why})`;
      if (v?.t === 'function' || v?.t === 'class' || v?.t === 'namespace') {
        // It runs code of the program, which can reach any model.
        if (v.t === 'function' && v.self) this.havocValue(v.self, st, reason);
        for (const root of [...st.models.keys()]) this.havocValue({ t: 'module', root, path: '' }, st, reason);
      } else if (v?.t === 'instance') for (const f of v.fields.values()) this.havocValue(f, st, reason);
      else if (v?.t === 'paramEach' || v?.t === 'moduleEach' || v?.t === 'nameEach') this.havocValue({ t: 'params', sets: [v.set] }, st, reason);
      else if (v) this.havocValue(v, st, reason);
    }
  }

  /** The distinct names in a node, walked once per node however often it is skipped. */
  private namesIn(unit: number, node: SyntaxNode): string[] {
    const key = `${unit}:${node.from}:${node.to}`;
    let names = this.skippedNames.get(key);
    if (names) return names;
    const text = this.binder.program.units[unit].text;
    const seen = new Set<string>();
    const c = node.cursor();
    let depth = 0;
    for (;;) {
      this.budget.tick();
      if (c.name === 'VariableName') seen.add(text.slice(c.from, c.to));
      if (c.firstChild()) {
        depth++;
        continue;
      }
      while (depth > 0 && !c.nextSibling()) {
        c.parent();
        depth--;
      }
      if (depth === 0) break;
    }
    names = [...seen];
    this.skippedNames.set(key, names);
    return names;
  }

  private evalHere(unit: number, node: SyntaxNode, env: Env, st: MachineState): Value {
    this.budget.tick();
    const n = unparen(node);
    switch (n.name) {
      case 'VariableName':
        return this.observe(unit, n, this.lookup(env, this.text(unit, n)) ?? UNKNOWN, st);
      case 'Number': {
        const v = Number(this.text(unit, n).replace(/_/g, ''));
        return Number.isFinite(v) ? { t: 'num', v } : UNKNOWN;
      }
      case 'String': {
        const s = this.stringLiteral(unit, n);
        return s === undefined ? UNKNOWN : { t: 'str', v: s };
      }
      case 'FormatString':
        return this.formatString(unit, n, env, st);
      case 'Boolean':
        return { t: 'bool', v: this.text(unit, n) === 'True' };
      case 'None':
        return { t: 'none' };
      case 'ArrayExpression':
      case 'TupleExpression':
      case 'SetExpression': {
        const items = namedChildren(n);
        if (items.some((i) => i.name === 'ArrayExpression' && false)) return UNKNOWN;
        const values = items.map((i) => this.eval(unit, i, env, st));
        return { t: 'list', items: values };
      }
      case 'DictionaryExpression': {
        const kids = namedChildren(n);
        const entries = new Map<string, Value>();
        for (let i = 0; i + 1 < kids.length; i += 2) {
          const key = this.stringLiteral(unit, kids[i]);
          if (key === undefined) return UNKNOWN;
          entries.set(key, this.eval(unit, kids[i + 1], env, st));
        }
        return { t: 'dict', entries };
      }
      case 'ArrayComprehensionExpression':
      case 'ComprehensionExpression':
        return this.evalComprehension(unit, n, env, st);
      case 'MemberExpression':
        return this.observe(unit, n, this.evalMember(unit, n, env, st), st);
      case 'CallExpression':
        return this.evalCall(unit, n, env, st);
      case 'BinaryExpression':
        return this.evalBinary(unit, n, env, st);
      case 'UnaryExpression': {
        const op = n.firstChild;
        const v = this.eval(unit, n.lastChild!, env, st);
        if (op?.name === 'not') return v.t === 'bool' ? { t: 'bool', v: !v.v } : UNKNOWN;
        if (op && this.text(unit, op) === '-' && v.t === 'num') return { t: 'num', v: -v.v };
        return UNKNOWN;
      }
      case 'ConditionalExpression': {
        const kids = namedChildren(n).filter((k) => k.name !== 'if' && k.name !== 'else');
        const c = kids[1] ? this.eval(unit, kids[1], env, st) : UNKNOWN;
        if (c.t === 'bool') {
          // Half-typed `a if cond else` has no third part.
          const chosen = c.v ? kids[0] : kids[2];
          return chosen ? this.eval(unit, chosen, env, st) : UNKNOWN;
        }
        const a = this.eval(unit, kids[0], env, st);
        const b = kids[2] ? this.eval(unit, kids[2], env, st) : UNKNOWN;
        return sameValue(a, b) ? a : UNKNOWN;
      }
      default:
        return UNKNOWN;
    }
  }

  /**
   * Remembers what a module expression held at this point (joined over every
   * time the interpreter passed here), for hover.
   */
  private observe(unit: number, node: SyntaxNode, v: Value, st: MachineState): Value {
    if (v.t !== 'module') return v;
    const c = this.canonical(v.root, v.path);
    const key = `${unit}:${node.from}:${node.to}`;
    const summary: Visit = visitSummary(st, c.root, c.path);
    const o = this.observations.get(key) ?? { unit, from: node.from, to: node.to, root: c.root, path: c.path, visits: [] };
    // One entry per distinct state, in the order first seen (gradual unfreezing reads as a sequence).
    if (!o.visits.some((x) => x.flags === summary.flags && x.mode === summary.mode)) {
      // Counted only for a new visit: a walk of the subtree, not worth doing at every evaluation.
      const tree = st.trees.get(c.root);
      const sub = tree && findNode(tree, c.path);
      if (sub) summary.counts = trainsSummary(sub, c.path, st.regions(c.root));
      o.visits.push(summary);
    }
    this.observations.set(key, o);
    return v;
  }

  readonly observations = new Map<string, Observation>();

  private evalBinary(unit: number, n: SyntaxNode, env: Env, st: MachineState): Value {
    const kids = children(n);
    const left = this.eval(unit, kids[0], env, st);
    const right = this.eval(unit, kids[kids.length - 1], env, st);
    const op = kids.slice(1, -1).map((k) => this.text(unit, k)).join(' ');
    if (left.t === 'num' && right.t === 'num') {
      const a = left.v;
      const b = right.v;
      switch (op) {
        case '+': return { t: 'num', v: a + b };
        case '-': return { t: 'num', v: a - b };
        case '*': return { t: 'num', v: a * b };
        case '/': return b !== 0 ? { t: 'num', v: a / b } : UNKNOWN;
        case '//': return b !== 0 ? { t: 'num', v: Math.floor(a / b) } : UNKNOWN;
        case '%': return b !== 0 ? { t: 'num', v: a % b } : UNKNOWN;
        case '**': return { t: 'num', v: a ** b };
        case '==': return { t: 'bool', v: a === b };
        case '!=': return { t: 'bool', v: a !== b };
        case '<': return { t: 'bool', v: a < b };
        case '<=': return { t: 'bool', v: a <= b };
        case '>': return { t: 'bool', v: a > b };
        case '>=': return { t: 'bool', v: a >= b };
      }
    }
    if (op === 'and' || op === 'or') {
      if (left.t === 'bool' && right.t === 'bool') return { t: 'bool', v: op === 'and' ? left.v && right.v : left.v || right.v };
      if (left.t === 'bool' && op === 'and' && !left.v) return left;
      if (left.t === 'bool' && op === 'or' && left.v) return left;
      return UNKNOWN;
    }
    if ((op === '==' || op === '!=') && left.t === 'str' && right.t === 'str') return { t: 'bool', v: (left.v === right.v) === (op === '==') };
    if (op === '+' && left.t === 'params' && right.t === 'params') return { t: 'params', sets: [...left.sets, ...right.sets] };
    if (op === '+' && left.t === 'list' && right.t === 'list') return { t: 'list', items: [...left.items, ...right.items] };
    if (left.t === 'tensor' || right.t === 'tensor') return tensorOf([left, right]);
    return UNKNOWN;
  }

  private evalComprehension(unit: number, n: SyntaxNode, env: Env, st: MachineState): Value {
    const kids = children(n);
    const forIdx = kids.findIndex((k) => k.name === 'for');
    const inIdx = kids.findIndex((k) => k.name === 'in');
    if (forIdx < 0 || inIdx < 0 || kids.filter((k) => k.name === 'for').length > 1) return UNKNOWN;
    const element = kids[forIdx - 1];
    const targets = kids.slice(forIdx + 1, inIdx).filter((k) => k.name !== ',');
    const iterNode = kids[inIdx + 1];
    const ifIdx = kids.findIndex((k, i) => i > inIdx && k.name === 'if');
    const test = ifIdx > 0 ? kids[ifIdx + 1] : undefined;
    const iter = this.eval(unit, iterNode, env, st);
    if (
      iter.t === 'list' &&
      !test &&
      targets.length === 1 &&
      unparen(targets[0]).name === 'VariableName' &&
      iter.items.length <= 64 &&
      // Nested comprehensions multiply: a budget for the whole analysis keeps five levels of range(64) cheap.
      (this.unrolledItems += iter.items.length) <= MAX_UNROLLED_ITEMS
    ) {
      // `[Block(d) for _ in range(4)]`: a short list of known length, element by element (a ModuleList's children).
      return {
        t: 'list',
        items: iter.items.map((item) => {
          const local: Env = { vars: new Map([[this.text(unit, targets[0]), item]]), parent: env };
          return element ? this.eval(unit, element, local, st) : UNKNOWN;
        }),
      };
    }
    if (iter.t !== 'params' && iter.t !== 'modules') return UNKNOWN;
    const names = targets.length === 1 && unparen(targets[0]).name === 'TupleExpression' ? namedChildren(unparen(targets[0])) : targets;
    const out: ParamSet[] = [];
    for (const set of iter.t === 'params' ? iter.sets : [iter.set]) {
      const local: Env = { vars: new Map(), parent: env };
      const elementValue: Value = iter.t === 'params' ? { t: 'paramEach', set } : { t: 'moduleEach', set };
      if (iter.named && names.length === 2) {
        local.vars.set(this.text(unit, names[0]), { t: 'nameEach', set, of: iter.t === 'params' ? 'param' : 'child' });
        local.vars.set(this.text(unit, names[1]), elementValue);
      } else if (names.length === 1) local.vars.set(this.text(unit, names[0]), elementValue);
      else return UNKNOWN;
      let narrowedSet = set;
      if (test) {
        const c = this.condition(unit, test, local, st);
        const v = c.thenEnv?.vars.get(this.text(unit, names[names.length - 1]));
        if (c.value === 'no') continue;
        if (c.value === 'maybe') {
          if (!v || (v.t !== 'paramEach' && v.t !== 'moduleEach')) narrowedSet = { ...set, predicate: and2(set.predicate, { op: 'unknown' }) };
          else narrowedSet = v.set;
        }
      }
      const result = this.eval(unit, element, { vars: new Map([...local.vars].map(([k, v]) => [k, k === this.text(unit, names[names.length - 1]) ? (iter.t === 'params' ? { t: 'paramEach', set: narrowedSet } : { t: 'moduleEach', set: narrowedSet }) : v])), parent: env }, st);
      if (result.t === 'paramEach') out.push(result.set);
      else if (result.t === 'moduleEach' || result.t === 'module') return UNKNOWN;
      else return UNKNOWN;
    }
    // A list comprehension is built now: `[p for p in m.parameters() if not p.requires_grad]` keeps the
    // parameters frozen at this point, even after they are unfrozen. (filter() and generators stay lazy.)
    if (n.name === 'ArrayComprehensionExpression') return { t: 'params', sets: out.map((set) => this.snapshot(set, st)) };
    return { t: 'params', sets: out };
  }

  /**
   * A set filtered on `not p.requires_grad`, fixed to the regions it holds now,
   * where every region's membership is decided and the members can be
   * named by their paths (no excluded region under a member). Otherwise
   * the filter stays, decided when the set is used.
   */
  private snapshot(set: ParamSet, st: MachineState): ParamSet {
    // Only the frozen-parameter filter: it is the one whose members change under the code that uses it
    // (an unfreeze helper flips them, then adds them to the optimizer). A requires_grad filter marks the
    // optimizer as filtered, which rules read, and is used where it is built.
    if (!set.onlyFrozen) return set;
    const members = st.membership(set);
    if (members.some(([, , m]) => m === 'maybe')) return set;
    const yes = members.filter(([, , m]) => m === 'yes').map(([p]) => p);
    const no = members.filter(([, , m]) => m === 'no').map(([p]) => p);
    if (no.some((p) => yes.some((y) => y !== p && isUnder(p, y)))) return set;
    return { root: set.root, prefixes: yes };
  }

  /**
   * `model[:3]`, `list(model.children())[:-1]`: a slice of a Sequential or
   * ModuleList whose length is known is the set of those children; any other
   * slice is unknown.
   */
  private slice(unit: number, obj: Value, inside: SyntaxNode[], env: Env, st: MachineState): Value {
    const parts: (SyntaxNode | undefined)[] = [undefined, undefined, undefined];
    let slot = 0;
    for (const k of inside) {
      if (k.name === ':') slot++;
      else parts[slot] = k;
    }
    const bound = (k: SyntaxNode | undefined): number | null | undefined => {
      if (!k) return null;
      const v = this.eval(unit, k, env, st);
      return v.t === 'num' && Number.isInteger(v.v) ? v.v : undefined;
    };
    const [start, stop, step] = parts.map(bound);
    if (obj.t === 'list') {
      if (start === undefined || stop === undefined || (step !== null && step !== 1)) return UNKNOWN;
      return { t: 'list', items: obj.items.slice(start ?? 0, stop ?? undefined) };
    }
    const container = obj.t === 'module' ? this.canonical(obj.root, obj.path) : obj.t === 'modules' && obj.children && !obj.named ? { root: obj.set.root, path: obj.set.prefixes[0] } : undefined;
    if (!container || (obj.t === 'modules' && obj.set.prefixes.length !== 1) || start === undefined || stop === undefined || (step !== null && step !== 1)) return UNKNOWN;
    const len = this.fields.get(`${container.root}:${joinPath(container.path, '#len')}`);
    if (len?.t !== 'num') return UNKNOWN;
    const indices = Array.from({ length: len.v }, (_, i) => i).slice(start ?? 0, stop ?? undefined);
    return { t: 'modules', set: { root: container.root, prefixes: indices.map((i) => joinPath(container.path, String(i))) }, children: false };
  }

  private evalMember(unit: number, n: SyntaxNode, env: Env, st: MachineState): Value {
    const object = n.firstChild!;
    const last = n.lastChild!;
    const obj = this.eval(unit, object, env, st);
    if (last.name !== 'PropertyName') {
      // Subscript.
      const inside = children(n).slice(children(n).findIndex((k) => k.name === '[') + 1, -1);
      if (inside.some((k) => k.name === ':')) return this.slice(unit, obj, inside, env, st);
      const indexNode = children(n).find((k, i, all) => all[i - 1]?.name === '[');
      const index = indexNode ? this.eval(unit, indexNode, env, st) : UNKNOWN;
      if (obj.t === 'module') {
        if (index.t === 'num' && index.v >= 0 && Number.isInteger(index.v)) return { t: 'module', root: obj.root, path: joinPath(obj.path, String(index.v)) };
        if (index.t === 'num' && Number.isInteger(index.v)) {
          // `features[-1]`: the last child, where the structure says how many there are.
          const c = this.canonical(obj.root, obj.path);
          const tree = st.trees.get(c.root);
          const node = tree && findNode(tree, c.path);
          const child = node && !node.partial ? node.children[node.children.length + index.v] : undefined;
          return child ? { t: 'module', root: obj.root, path: joinPath(obj.path, child.name) } : UNKNOWN;
        }
        if (index.t === 'str') return { t: 'module', root: obj.root, path: joinPath(obj.path, index.v) };
        return UNKNOWN;
      }
      if (obj.t === 'list' && index.t === 'num') return obj.items[index.v < 0 ? obj.items.length + index.v : index.v] ?? UNKNOWN;
      if (obj.t === 'dict' && index.t === 'str') return obj.entries.get(index.v) ?? UNKNOWN;
      if (obj.t === 'params' && index.t === 'num') return { t: 'paramEach', set: { ...obj.sets[0], predicate: and2(obj.sets[0]?.predicate, { op: 'unknown' }) } };
      if (obj.t === 'tensor') return obj;
      return UNKNOWN;
    }
    const attr = this.text(unit, last);
    switch (obj.t) {
      case 'module': {
        const c = this.canonical(obj.root, obj.path);
        const field = this.fields.get(`${c.root}:${joinPath(c.path, attr)}`);
        if (field) return field;
        if (attr === 'module' || attr === '_orig_mod') return obj; // DDP / torch.compile wrappers
        if (attr === 'training') return UNKNOWN;
        const known = st.regions(c.root).has(joinPath(c.path, attr));
        if (!known && (attr === 'weight' || attr === 'bias' || /(_weight|_bias|^weight_|token|embed$|embedding$|_scale$|^gamma$|^beta$)/.test(attr))) {
          return { t: 'paramEach', set: { root: c.root, prefixes: [joinPath(c.path, attr)] } };
        }
        if (/^(in_features|out_features|num_features|in_channels|out_channels|hidden_size|embed_dim|num_classes|embedding_dim|num_embeddings)$/.test(attr)) {
          // `model.fc.in_features`: read from the layer's tree where the structure is known.
          const tree = st.trees.get(c.root);
          const layer = tree && findNode(tree, c.path);
          const size = layer && sizeAttribute(layer, attr);
          return size === undefined ? UNKNOWN : { t: 'num', v: size };
        }
        return { t: 'module', root: c.root, path: joinPath(c.path, attr) };
      }
      case 'instance':
        return obj.fields.get(attr) ?? this.methodOf(obj.cls, attr, obj) ?? UNKNOWN;
      case 'namespace':
        return obj.vars.get(attr) ?? UNKNOWN;
      case 'class':
        return UNKNOWN;
      case 'paramEach':
        return UNKNOWN;
      case 'moduleEach':
        // `m.weight` of each module in a loop: its params, for tests like `not m.weight.requires_grad`.
        return attr === 'weight' || attr === 'bias' ? { t: 'paramEach', set: obj.set } : UNKNOWN;
      case 'tensor':
        return attr === 'data' || attr === 'T' ? { t: 'tensor', sources: [] } : UNKNOWN;
      default:
        return UNKNOWN;
    }
  }

  private methodOf(cls: ClassInfo, name: string, self: Value): Value | undefined {
    for (const c of this.classChain(cls)) {
      const fn = c.methods.get(name);
      if (fn) return { t: 'function', fn, self };
    }
    return undefined;
  }

  /** A class and its workspace base classes, in method-resolution order (single inheritance). */
  private classChain(cls: ClassInfo): ClassInfo[] {
    const out: ClassInfo[] = [];
    for (let c: ClassInfo | undefined = cls; c && !out.includes(c) && out.length < 10; ) {
      out.push(c);
      c = c.bases.map((b) => this.kinds.classOf(c!.unit, b)).find((x) => x);
    }
    return out;
  }

  // ---- calls -----------------------------------------------------------

  private evalCall(unit: number, call: SyntaxNode, env: Env, st: MachineState): Value {
    // Calls in the program itself, innermost last: what leads into an imported module's code.
    const own = unit < this.mainUnits;
    if (own) this.programCalls.push({ unit, node: call });
    try {
      return this.evalCallHere(unit, call, env, st);
    } finally {
      if (own) this.programCalls.pop();
    }
  }

  /** A site in an imported module is reported at the program's call that led there. */
  private siteAt(unit: number, node: SyntaxNode): Site {
    const site = { unit, node };
    const caller = this.programCalls[this.programCalls.length - 1];
    if (unit >= this.mainUnits && caller) this.callers.set(`${unit}:${node.from}:${node.to}`, caller);
    return site;
  }

  private evalCallHere(unit: number, call: SyntaxNode, env: Env, st: MachineState): Value {
    const callee = call.firstChild!;
    const argList = call.lastChild?.name === 'ArgList' ? call.lastChild : null;
    const text = this.binder.program.units[unit].text;
    const raw = callArgs(text, argList);
    const site: Site = this.siteAt(unit, call);
    // Evaluated once: the arguments may build modules, and a second evaluation would build them again.
    let evaluated: { positional: Value[]; keyword: Map<string, Value>; star: boolean } | undefined;
    const evalArgs = () =>
      (evaluated ??= {
        positional: raw.positional.map((a) => this.eval(unit, a, env, st)),
        keyword: new Map([...raw.keyword].map(([k, v]) => [k, this.eval(unit, v, env, st)])),
        star: raw.hasStar,
      });

    if (callee.name === 'MemberExpression' && callee.lastChild?.name === 'PropertyName') {
      const method = this.text(unit, callee.lastChild);
      const recvNode = callee.firstChild!;
      // Qualified library calls first: torch.optim.SGD, nn.Linear, models.resnet18 ...
      const q = this.kinds.qualify(unit, callee);
      if (q) {
        const r = this.libraryCall(unit, q, call, raw, evalArgs, env, st, site);
        if (r) return r;
      }
      const recv = this.eval(unit, recvNode, env, st);
      return this.methodCall(unit, recv, method, call, raw, evalArgs, env, st, site);
    }
    const f = callee.name === 'VariableName' ? this.lookup(env, this.text(unit, callee)) : undefined;
    if (!f && callee.name === 'VariableName' && /^(any|all)$/.test(this.text(unit, callee)) && argList) {
      // A bare generator argument is the ArgList itself: `any(p.requires_grad for p in ...)`.
      const flags = this.requiresGradFlags(unit, raw.positional.length === 1 ? raw.positional[0] : argList, env, st);
      if (flags) {
        // any()/all() of `p.requires_grad for p in params`, where the regions decide it.
        const want = this.text(unit, callee) === 'any';
        // any: one certain member that requires grad decides; all: one certain member that does not.
        if (flags.some((f) => f.member && f.flag === want)) return { t: 'bool', v: want };
        // Otherwise every possible member must agree the other way (nothing at all: any() is False, all() True).
        if (flags.every((f) => f.flag === !want)) return { t: 'bool', v: !want };
        return UNKNOWN;
      }
    }
    if (f?.t === 'function') {
      const out = this.callFunction(f.fn, f.self, evalArgs(), st);
      // A workspace factory asked for pretrained weights (`create_model(name, pretrained=True)`): trust the name.
      if (out.t === 'module' && out.path === '' && this.isPretrainedCall(unit, raw) && raw.keyword.has('pretrained')) {
        st.update({ root: out.root, prefixes: [''] }, (r) => (r.pretrained = true));
        const info = this.models.get(out.root);
        if (info) info.pretrained = true;
      }
      return out;
    }
    if (f?.t === 'class') return this.instantiate(f.cls, evalArgs(), st, site);
    if (f?.t === 'module') return this.forward(f, evalArgs(), st, site);
    const q = this.kinds.qualify(unit, callee) ?? (callee.name === 'VariableName' ? this.text(unit, callee) : undefined);
    if (q) {
      const r = this.libraryCall(unit, q, call, raw, evalArgs, env, st, site);
      if (r) return r;
    }
    const callable = this.eval(unit, callee, env, st);
    if (callable.t === 'module') return this.forward(callable, evalArgs(), st, site);
    if (callable.t === 'function') return this.callFunction(callable.fn, callable.self, evalArgs(), st);
    return this.unknownCall(q ?? this.text(unit, callee), evalArgs(), st);
  }

  /**
   * `p.requires_grad for p in <params>`: for each region the parameters may
   * come from, its flag (undefined where it varies) and whether it is
   * certainly in the set; undefined when the generator is not of that form.
   */
  private requiresGradFlags(unit: number, node: SyntaxNode, env: Env, st: MachineState): { flag: boolean | undefined; member: boolean }[] | undefined {
    const gen = unparen(node);
    if (gen.name !== 'ComprehensionExpression' && gen.name !== 'ArgList') return undefined;
    const kids = children(gen).filter((k) => k.name !== '(' && k.name !== ')');
    if (kids.length !== 5 || kids[1].name !== 'for' || kids[2].name !== 'VariableName' || kids[3].name !== 'in') return undefined;
    const test = kids[0];
    if (test.name !== 'MemberExpression' || this.text(unit, test) !== `${this.text(unit, kids[2])}.requires_grad`) return undefined;
    const source = this.eval(unit, kids[4], env, st);
    if (source.t !== 'params') return undefined;
    const out: { flag: boolean | undefined; member: boolean }[] = [];
    for (const set of source.sets) {
      for (const [, region, member] of st.membership(set)) {
        if (member === 'no') continue;
        out.push({ flag: region.havoc || region.rg.size !== 1 ? undefined : [...region.rg][0], member: member === 'yes' });
      }
    }
    return out;
  }

  private unknownCall(name: string, args: { positional: Value[]; keyword: Map<string, Value> }, st: MachineState): Value {
    const all = [...args.positional, ...args.keyword.values()];
    const short = name.split('.').pop() ?? name;
    if (!SAFE_FUNCTIONS.has(name) && !SAFE_FUNCTIONS.has(short) && !READ_ONLY_NAME.test(short)) {
      for (const v of all) this.havocValue(v, st, `${name}() receives a model and is not followed`);
    }
    if (all.some((v) => v.t === 'tensor')) return tensorOf(all);
    return UNKNOWN;
  }

  /** Why models became unknown, for the log: "line 12: freeze_layers(model) is not followed". */
  readonly unknowns: string[] = [];
  /** Forward pre-hooks registered on modules, run again after each train()/eval(). */
  private readonly forwardPreHooks: { target: Value; fn: Extract<Value, { t: 'function' }> }[] = [];
  private inHook = false;
  /** The script's variables used as modules, for the `freezelens.models` setting; found on first need. */
  private moduleVariables?: string[];

  private havocValue(v: Value, st: MachineState, why?: string): void {
    if (why && (v.t === 'module' || v.t === 'params')) this.unknowns.push(why);
    if (v.t === 'module') st.havoc(this.canonical(v.root, v.path).root);
    else if (v.t === 'params') for (const s of v.sets) st.update(s, (r) => ((r.havoc = true), (r.rg = new Set([true, false]))));
    else if (v.t === 'list') for (const i of v.items) this.havocValue(i, st);
    else if (v.t === 'optimizer') v.opt.movesZeroGrad = v.opt.decaysZeroGrad = 'maybe';
  }

  private libraryCall(
    unit: number,
    q: string,
    call: SyntaxNode,
    raw: ReturnType<typeof callArgs>,
    evalArgs: () => { positional: Value[]; keyword: Map<string, Value>; star: boolean },
    env: Env,
    st: MachineState,
    site: Site,
  ): Value | undefined {
    const parts = q.split('.');
    const last = parts[parts.length - 1];
    const text = this.binder.program.units[unit].text;
    if (/FrozenBatchNorm/.test(q)) {
      const args = evalArgs();
      for (const a of args.positional) if (a.t === 'module') this.frozenBatchNorm.add(this.canonical(a.root, a.path).root);
      if (args.positional[0]?.t === 'module') return args.positional[0];
      // FrozenBatchNorm2d(n): no parameters; weight, bias, running_mean and running_var are buffers of n each.
      const n = args.positional[0] ?? args.keyword.get('num_features');
      const tree: ModuleNode = { name: '', cls: 'FrozenBatchNorm2d', params: 0, buffers: n?.t === 'num' ? 4 * n.v : null, paramNames: [], paramSizes: [], children: [] };
      return this.newModel('FrozenBatchNorm2d', site, false, st, { bn: false, tree });
    }
    if (/^torch\.optim\.(lr_scheduler|swa_utils)\./.test(q)) {
      evalArgs();
      return UNKNOWN;
    }
    if (/^torch\.optim\.[A-Z]\w*$/.test(q) || /^torch\.optim\.\w+\.[A-Z]\w*$/.test(q)) return this.buildOptimizer(unit, last, call, raw, env, st, site);
    if (q === 'torch.no_grad' || q === 'torch.inference_mode') return { t: 'noGrad' };
    if (/^torch\.nn\.(parallel\.)?(DistributedDataParallel|DataParallel)$/.test(q)) {
      const args = evalArgs();
      const m = args.positional[0] ?? args.keyword.get('module');
      if (m?.t === 'module') {
        // DataParallel replicates the module at every forward, so later flag changes reach the replicas;
        // only DDP fixes the parameters it reduces when it is built.
        if (last === 'DistributedDataParallel') {
          const c = this.canonical(m.root, m.path);
          const unused = args.keyword.get('find_unused_parameters');
          st.ddpWrapped.add(c.root);
          this.events.push({ kind: 'ddp', root: c.root, site, findUnused: unused?.t === 'bool' ? unused.v : unused ? undefined : false });
        }
        return m;
      }
      return UNKNOWN;
    }
    if (/^torch\.nn\.(parameter\.)?Parameter$/.test(q)) {
      const model = this.newModel('Parameter', site, false, st);
      return { t: 'paramEach', set: { root: model.root, prefixes: [''] } };
    }
    if (/^torch\.nn\.(modules\.[a-z_]+\.)?[A-Z]\w*$/.test(q)) return this.torchModule(unit, last, call, raw, evalArgs, env, st, site);
    if (q.startsWith('torchvision.models.')) {
      if (/^[A-Z]/.test(last) && /Weights/.test(last)) return UNKNOWN;
      if (/^(get_model_weights|get_weight|list_models)$/.test(last)) return UNKNOWN;
      const arch = last === 'get_model' ? (this.stringLiteral(unit, raw.positional[0] ?? call) ?? '') : last;
      // norm_layer=FrozenBatchNorm2d (detection backbones) has no running stats to drift; another norm layer is unknown.
      const normLayer = raw.keyword.get('norm_layer');
      const normText = normLayer ? this.text(unit, unparen(normLayer)) : undefined;
      const bnFamily = BATCHNORM_FAMILIES.test(arch) ? true : arch ? false : undefined;
      const lib = this.structure ? libraryModel(q, this.layerArgs(unit, raw, evalArgs(), st)) : undefined;
      return this.newModel(`${q}()`, site, this.isPretrainedCall(unit, raw), st, {
        tree: lib?.tree,
        bn: normText === undefined ? bnFamily : /^(nn\.|torch\.nn\.)?BatchNorm2d$/.test(normText) ? bnFamily : /FrozenBatchNorm/.test(normText) ? false : undefined,
        dropout: DROPOUT_FAMILIES.test(arch) ? true : undefined,
        family: arch,
        label: text.slice(call.from, call.to),
      });
    }
    if (q === 'timm.create_model' || q === 'timm.models.create_model') {
      const arch = this.stringLiteral(unit, raw.positional[0] ?? call) ?? '';
      const lib = this.structure ? libraryModel(q, this.layerArgs(unit, raw, evalArgs(), st)) : undefined;
      return this.newModel('timm.create_model()', site, this.isPretrainedCall(unit, raw), st, {
        tree: lib?.tree,
        bn: BATCHNORM_FAMILIES.test(arch) ? true : /^(vit|deit|swin|beit|convnext|eva)/.test(arch) ? false : undefined,
        family: `timm:${arch}`,
        label: text.slice(call.from, call.to),
      });
    }
    if (last === 'from_pretrained' && /^(transformers|peft|diffusers|sentence_transformers|open_clip)\./.test(q)) {
      const lib = this.structure ? libraryModel(q, this.layerArgs(unit, raw, evalArgs(), st)) : undefined;
      return this.newModel(`${parts[parts.length - 2]}.from_pretrained()`, site, true, st, { bn: false, label: text.slice(call.from, call.to), tree: lib?.tree, family: lib?.family });
    }
    if (q === 'torch.compile' || q === 'copy.copy') return evalArgs().positional[0] ?? UNKNOWN;
    if (q === 'copy.deepcopy') {
      evalArgs();
      return UNKNOWN;
    }
    switch (q) {
      case 'range': {
        const a = evalArgs().positional.map((v) => (v.t === 'num' ? v.v : undefined));
        if (a.length === 0 || a.some((x) => x === undefined)) return UNKNOWN;
        const [start, stop, step] = a.length === 1 ? [0, a[0]!, 1] : [a[0]!, a[1]!, a[2] ?? 1];
        if (step === 0) return UNKNOWN;
        const items: Value[] = [];
        for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
          items.push({ t: 'num', v: i });
          if (items.length > 1000) return UNKNOWN;
        }
        return { t: 'list', items };
      }
      case 'filter': {
        const fnNode = raw.positional[0];
        const it = raw.positional[1] ? this.eval(unit, raw.positional[1], env, st) : UNKNOWN;
        if (it.t !== 'params') return UNKNOWN;
        if (fnNode && /^lambda\s+(\w+)\s*:\s*\1\.requires_grad$/.test(this.text(unit, unparen(fnNode)).trim())) {
          return { t: 'params', sets: it.sets.map((s) => ({ ...s, onlyTrainable: true })) };
        }
        return { t: 'params', sets: it.sets.map((s) => ({ ...s, predicate: and2(s.predicate, { op: 'unknown' }) })) };
      }
      case 'list':
      case 'tuple':
      case 'iter':
      case 'sorted':
      case 'reversed': {
        // `tuple(f"layer{i}." for i in KEEP)`: a generator as the only argument.
        const argList = call.lastChild?.name === 'ArgList' ? call.lastChild : null;
        if (argList?.getChild('for') && (q === 'list' || q === 'tuple')) return this.evalComprehension(unit, argList, env, st);
        const v = evalArgs().positional[0];
        // list(seq) of a Sequential: its children.
        if (v?.t === 'module' && (q === 'list' || q === 'iter' || q === 'tuple')) return { t: 'modules', set: { root: v.root, prefixes: [v.path] }, children: true };
        return v && (v.t === 'params' || v.t === 'modules' || v.t === 'list') ? v : UNKNOWN;
      }
      case 'itertools.chain':
      case 'chain': {
        const vs = evalArgs().positional;
        if (vs.length > 0 && vs.every((v) => v.t === 'params')) return { t: 'params', sets: vs.flatMap((v) => (v as { sets: ParamSet[] }).sets) };
        return UNKNOWN;
      }
      case 'next': {
        const v = evalArgs().positional[0];
        return v?.t === 'params' && v.sets[0] ? { t: 'paramEach', set: { ...v.sets[0], predicate: and2(v.sets[0].predicate, { op: 'unknown' }) } } : UNKNOWN;
      }
      case 'dict':
        return UNKNOWN;
      case 'super':
        return UNKNOWN;
      case 'float':
      case 'int': {
        const v = evalArgs().positional[0];
        return v?.t === 'num' ? { t: 'num', v: q === 'int' ? Math.trunc(v.v) : v.v } : UNKNOWN;
      }
    }
    if (/^torch\.(tensor|zeros|ones|randn|rand|randint|empty|full|arange|stack|cat|flatten)/.test(q) || /^torch\.nn\.functional\./.test(q)) {
      return tensorOf(evalArgs().positional);
    }
    return undefined;
  }

  private isPretrainedCall(unit: number, raw: ReturnType<typeof callArgs>): boolean {
    const w = raw.keyword.get('weights') ?? raw.keyword.get('pretrained');
    if (!w) return false;
    const t = this.text(unit, unparen(w));
    return t !== 'None' && t !== 'False';
  }

  private torchModule(
    unit: number,
    cls: string,
    call: SyntaxNode,
    raw: ReturnType<typeof callArgs>,
    evalArgs: () => { positional: Value[]; keyword: Map<string, Value>; star: boolean },
    env: Env,
    st: MachineState,
    site: Site,
  ): Value {
    const isBN = /^(BatchNorm[123]d|SyncBatchNorm|LazyBatchNorm[123]d)$/.test(cls);
    const trackOff = raw.keyword.get('track_running_stats');
    const bn = isBN && !(trackOff && this.text(unit, trackOff) === 'False');
    const isDropout = /Dropout/.test(cls);
    const args = evalArgs();
    const container = /^(Sequential|ModuleList|ModuleDict)$/.test(cls);
    let tree: ModuleNode | undefined;
    if (this.structure && container) tree = { name: '', cls, params: 0, buffers: 0, paramNames: [], children: [] };
    else if (this.structure && cls !== 'Parameter') tree = nnLayer(cls, this.layerArgs(unit, raw, args, st));
    const m = this.newModel(`nn.${cls}()`, site, false, st, { bn, dropout: isDropout, label: this.text(unit, call), tree });
    if (PARAMETERLESS.test(cls)) st.writable(m.root).get('')!.empty = true;
    if (cls === 'Sequential' || cls === 'ModuleList') {
      const items = cls === 'ModuleList' ? (args.positional[0]?.t === 'list' ? args.positional[0].items : []) : args.positional;
      items.forEach((v, i) => {
        if (v.t === 'module' && v.path === '') this.attach(v.root, m.root, String(i), st);
        else this.graftCopy(m.root, String(i), v, st);
      });
      if (raw.hasStar) this.markUnknownStructure(m.root, st);
      // The number of children, so slices (`model[:3]`) name exact children; moves with the model on attach.
      else if (items.every((v) => v.t === 'module' && v.path === '')) this.fields.set(`${m.root}:#len`, { t: 'num', v: items.length });
    } else if (cls === 'ModuleDict' && args.positional[0]?.t === 'dict') {
      for (const [k, v] of args.positional[0].entries) {
        if (v.t === 'module' && v.path === '') this.attach(v.root, m.root, k, st);
        else this.graftCopy(m.root, k, v, st);
      }
    } else if (/^Transformer(Encoder|Decoder)$/.test(cls)) {
      // The stack copies its layer: it has Dropout exactly when the layer does.
      const layer = args.positional[0] ?? args.keyword.get('encoder_layer') ?? args.keyword.get('decoder_layer');
      const layerHas = layer?.t === 'module' && layer.path === '' ? (this.dropoutPaths.get(layer.root)?.size ?? 0) > 0 : true;
      if (layerHas) this.dropoutPaths.set(m.root, new Set(['']));
    } else if (/^(Transformer|TransformerEncoderLayer|TransformerDecoderLayer|MultiheadAttention|LSTM|GRU|RNN)$/.test(cls)) {
      // Transformer parts default to dropout=0.1 (4th argument of a layer); RNNs and attention default to 0.
      const index = /Layer$/.test(cls) ? 3 : cls === 'Transformer' ? 5 : cls === 'MultiheadAttention' ? 2 : -1;
      const p = args.keyword.get('dropout') ?? (index >= 0 ? args.positional[index] : undefined);
      const defaultP = /^Transformer/.test(cls) ? 0.1 : 0;
      const rate = p === undefined ? defaultP : p.t === 'num' ? p.v : NaN;
      if (rate !== 0) this.dropoutPaths.set(m.root, new Set(['']));
    }
    return m;
  }

  /**
   * `module.register_forward_pre_hook(fn)`: fn runs before every forward of
   * the module, so after any `train()` it has run by the next forward. The
   * analysis runs it at registration and again after every train()/eval()
   * (a hook that puts frozen BatchNorm back in eval keeps it there). Hooks
   * that are not followed functions are ignored, as before.
   */
  private registerForwardPreHook(target: Value, args: { positional: Value[]; keyword: Map<string, Value> }, st: MachineState): Value {
    const fn = args.positional[0] ?? args.keyword.get('hook');
    if (fn?.t !== 'function') return UNKNOWN;
    // A loop body runs more than once in the analysis: one registration per target and function.
    if (!this.forwardPreHooks.some((h) => h.fn.fn === fn.fn && sameValue(h.target, target))) this.forwardPreHooks.push({ target, fn });
    this.runHook(target, fn, st);
    return UNKNOWN;
  }

  private runForwardPreHooks(st: MachineState): void {
    for (const h of this.forwardPreHooks) this.runHook(h.target, h.fn, st);
  }

  private runHook(target: Value, fn: Extract<Value, { t: 'function' }>, st: MachineState): void {
    // A hook that calls train() would run the hooks again from inside one.
    if (this.inHook || this.depth >= MAX_CALL_DEPTH) return;
    this.inHook = true;
    try {
      this.callFunction(fn.fn, fn.self, { positional: [target, UNKNOWN], keyword: new Map(), star: false }, st);
    } finally {
      this.inHook = false;
    }
  }

  /**
   * nn.Module.train() calls train() on every child, so a submodule's own
   * override (mmdet's norm_eval, a frozen_stages re-freeze) runs too. The
   * outermost overrides below `path` run, in registration order.
   */
  private trainOverridesBelow(root: number, path: string, arg: Value, st: MachineState): void {
    const prefix = `${root}:`;
    const found: string[] = [];
    for (const [k, v] of this.fields) {
      if (!k.startsWith(prefix) || !k.endsWith('#class') || v.t !== 'class') continue;
      const sub = k.slice(prefix.length, -'#class'.length);
      if (sub === path || !isUnder(sub, path)) continue;
      if (this.methodOf(v.cls, 'train', { t: 'module', root, path: sub })?.t === 'function') found.push(sub);
    }
    for (const sub of found) {
      if (found.some((o) => o !== sub && isUnder(sub, o))) continue;
      const cls = (this.fields.get(`${root}:${sub}#class`) as { cls: ClassInfo }).cls;
      const self: Value = { t: 'module', root, path: sub };
      const override = this.methodOf(cls, 'train', self);
      if (override?.t === 'function' && this.depth < MAX_CALL_DEPTH) this.callFunction(override.fn, self, { positional: [arg], keyword: new Map(), star: false }, st);
    }
  }

  private markUnknownStructure(root: number, st: MachineState): void {
    const info = this.models.get(root);
    if (info) {
      info.hasBatchNorm ??= undefined;
    }
    const tree = st.trees.get(root);
    if (tree) st.trees.set(root, { ...tree, partial: true });
  }

  /**
   * A container given a module that already lives in another model
   * (`nn.Sequential(model.features, head)`): the same module, now listed
   * here too. Its tree is copied; anything else makes the container partial.
   */
  private graftCopy(root: number, name: string, v: Value, st: MachineState): void {
    const tree = st.trees.get(root);
    if (!tree) return;
    const sub = v.t === 'module' ? this.treeAt(st, v.root, v.path) : undefined;
    st.trees.set(root, sub ? (withChild(tree, name, sub) ?? { ...tree, partial: true }) : { ...tree, partial: true });
  }

  /** The module tree of `root.path` in a state, following attachments; undefined when not known. */
  treeAt(st: MachineState, root: number, path: string): ModuleNode | undefined {
    const c = this.canonical(root, path);
    const tree = st.trees.get(c.root);
    return tree && findNode(tree, c.path);
  }

  /** Arguments as literals for the model catalog and the nn layer table; a module argument is its tree. */
  private layerArgs(unit: number, raw: ReturnType<typeof callArgs>, args: { positional: Value[]; keyword: Map<string, Value>; star: boolean }, st: MachineState): LayerArgs {
    const conv = (v: Value) => this.layerArg(v, st);
    const keyword = new Map<string, LayerArg>();
    for (const [k, v] of args.keyword) {
      let a = conv(v);
      // `weights=ResNet18_Weights.DEFAULT`: an enum the interpreter does not model; what matters is that it is not None.
      if (a === undefined && /^(weights|pretrained|weights_backbone|pretrained_backbone)$/.test(k)) {
        const node = raw.keyword.get(k);
        const t = node ? this.text(unit, unparen(node)) : '';
        a = t === 'None' ? null : t === 'False' ? false : /^[\w.]+$/.test(t) && /Weights|DEFAULT|IMAGENET|True/.test(t) ? `<${t}>` : undefined;
      }
      keyword.set(k, a);
    }
    return { positional: args.positional.map(conv), keyword, star: args.star };
  }

  /** A value as a literal argument of a layer, a catalog model or a workspace class; a module is its tree. */
  private layerArg(v: Value, st: MachineState): LayerArg {
    switch (v.t) {
      case 'num':
      case 'str':
      case 'bool':
        return v.v;
      case 'none':
        return null;
      case 'list':
        return v.items.map((x) => this.layerArg(x, st));
      case 'dict':
        return { entries: [...v.entries].map(([k, x]): [string, LayerArg] => [k, this.layerArg(x, st)]) };
      case 'module': {
        const tree = this.treeAt(st, v.root, v.path);
        return tree ? { tree } : undefined;
      }
      default:
        return undefined;
    }
  }

  private classEvaluator?: ClassEvaluator;
  /** requires_grad was written on parameters the interpreter could not place: trainable counts are then unknown. */
  private unattributedFlagWrites = false;

  private newModel(
    kind: string,
    site: Site,
    pretrained: boolean,
    st: MachineState,
    opts: { bn?: boolean; dropout?: boolean; family?: string; label?: string; cls?: ClassInfo; tree?: ModuleNode } = {},
  ): Extract<Value, { t: 'module' }> {
    const id = this.nextModel++;
    this.models.set(id, { id, label: opts.label ?? kind, site, pretrained, hasBatchNorm: opts.bn, hasDropout: opts.dropout, family: opts.family });
    st.addModel(id, pretrained);
    if (opts.tree) this.setTree(id, opts.tree, st);
    else {
      if (opts.bn) this.batchNormPaths.set(id, new Set([opts.family !== undefined ? '*' : '']));
      if (opts.dropout) this.dropoutPaths.set(id, new Set([opts.family !== undefined ? '*' : '']));
    }
    if (opts.cls) this.classOf.set(id, opts.cls);
    return { t: 'module', root: id, path: '' };
  }

  /**
   * A model's structure became known: where its BatchNorm and Dropout sit
   * now come from the tree, path by path, instead of a guess per family.
   */
  private setTree(id: number, tree: ModuleNode, st: MachineState): void {
    st.trees.set(id, tree);
    const bn = runningStatsPaths(tree);
    const drop = dropoutPaths(tree);
    const info = this.models.get(id)!;
    const complete = isComplete(tree);
    if (bn.length > 0) this.batchNormPaths.set(id, new Set(bn));
    else this.batchNormPaths.delete(id);
    if (drop.length > 0) this.dropoutPaths.set(id, new Set(drop));
    else this.dropoutPaths.delete(id);
    info.hasBatchNorm = bn.length > 0 ? true : complete ? false : undefined;
    info.hasDropout = drop.length > 0 ? true : complete ? false : undefined;
  }

  private instantiate(cls: ClassInfo, args: { positional: Value[]; keyword: Map<string, Value>; star: boolean }, st: MachineState, site: Site): Value {
    const isModule = this.kinds.isModuleClass(cls);
    if (isModule === 'yes') {
      const m = this.newModel(`${cls.name}()`, site, false, st, { cls, label: `${cls.name}(...)` });
      // While __init__ runs, submodules attached so far are findable (`self.net.features[-1]`);
      // the exact tree replaces this one afterwards.
      if (this.structure) st.trees.set(m.root, { name: '', cls: cls.name, params: null, buffers: null, children: [], partial: true });
      const init = this.methodOf(cls, '__init__', m);
      if (init?.t === 'function') this.callFunction(init.fn, m, args, st);
      const info = this.models.get(m.root)!;
      info.hasBatchNorm = (this.batchNormPaths.get(m.root)?.size ?? 0) > 0 ? true : info.hasBatchNorm;
      info.pretrained = [...st.regions(m.root).values()].some((r) => r.pretrained);
      // The exact structure comes from the class evaluator, which runs __init__ on the argument values.
      this.classEvaluator ??= new ClassEvaluator(this.binder, this.importTable);
      const conv = (v: Value) => this.layerArg(v, st);
      const tree = args.star || !this.structure ? undefined : this.classEvaluator.instantiate(cls, args.positional.map(conv), new Map([...args.keyword].map(([k, v]) => [k, conv(v)])));
      if (tree) this.setTree(m.root, tree, st);
      else st.trees.delete(m.root);
      return m;
    }
    if (isModule === 'unknown') return UNKNOWN;
    const inst: Value = { t: 'instance', cls, fields: new Map() };
    const init = this.methodOf(cls, '__init__', inst);
    if (init?.t === 'function') this.callFunction(init.fn, inst, args, st);
    return inst;
  }

  private forward(m: Extract<Value, { t: 'module' }>, args: { positional: Value[]; keyword: Map<string, Value> }, st: MachineState, site: Site): Value {
    const c = this.canonical(m.root, m.path);
    const cls = c.path === '' ? this.classOf.get(c.root) : (this.fields.get(`${c.root}:${c.path}#class`) as { cls: ClassInfo } | undefined)?.cls;
    const fwd = cls ? this.methodOf(cls, 'forward', m) : undefined;
    const noGrad = st.noGradDepth > 0;
    // Recorded before the user's forward runs, so the outermost call site comes first (FRZ014 points at it).
    const event: Extract<TimelineEvent, { kind: 'forward' }> = { kind: 'forward', root: c.root, path: c.path, noGrad, site, followed: false };
    this.events.push(event);
    if (fwd?.t === 'function' && this.depth < MAX_CALL_DEPTH) {
      const out = this.callFunction(fwd.fn, m, { ...args, star: false }, st);
      if (out.t === 'tensor') {
        event.followed = true;
        return out;
      }
    }
    if (noGrad) return { t: 'tensor', sources: [] };
    this.trained.add(c.root);
    const input = tensorOf(args.positional);
    return { t: 'tensor', sources: [...(input.t === 'tensor' ? input.sources : []), { root: c.root, path: c.path, site: site.node }] };
  }

  private methodCall(
    unit: number,
    recv: Value,
    method: string,
    call: SyntaxNode,
    raw: ReturnType<typeof callArgs>,
    evalArgs: () => { positional: Value[]; keyword: Map<string, Value>; star: boolean },
    env: Env,
    st: MachineState,
    site: Site,
  ): Value {
    switch (recv.t) {
      case 'module': {
        const c = this.canonical(recv.root, recv.path);
        const whole: ParamSet = { root: c.root, prefixes: [c.path] };
        const cls = c.path === '' ? this.classOf.get(c.root) : (this.fields.get(`${c.root}:${c.path}#class`) as { cls: ClassInfo } | undefined)?.cls;
        const user = cls ? this.methodOf(cls, method, recv) : undefined;
        if (user?.t === 'function' && method !== 'parameters' && method !== 'named_parameters') return this.callFunction(user.fn, recv, evalArgs(), st);
        switch (method) {
          case 'parameters':
            return { t: 'params', sets: [whole] };
          case 'named_parameters':
            return { t: 'params', sets: [whole], named: true };
          case 'modules':
          case 'children':
            return { t: 'modules', set: whole, children: method === 'children' };
          case 'named_modules':
          case 'named_children':
            return { t: 'modules', set: whole, named: true, children: method === 'named_children' };
          case 'requires_grad_': {
            const v = evalArgs().positional[0] ?? evalArgs().keyword.get('requires_grad') ?? { t: 'bool', v: true };
            this.writeFlag(whole, v.t === 'bool' ? v.v : undefined, st, site);
            return recv;
          }
          case 'train':
          case 'eval': {
            const arg = method === 'train' ? (evalArgs().positional[0] ?? { t: 'bool', v: true }) : { t: 'bool' as const, v: false };
            const mode = arg.t === 'bool' ? (arg.v ? 'train' : 'eval') : undefined;
            // eval() is train(False): an override of train() runs for both.
            const override = cls ? this.methodOf(cls, 'train', recv) : undefined;
            if (override?.t === 'function') {
              this.callFunction(override.fn, recv, { positional: [arg], keyword: new Map(), star: false }, st);
              this.runForwardPreHooks(st);
              return recv;
            }
            this.setMode(whole, mode, false, st, site, c.path !== '');
            this.trainOverridesBelow(c.root, c.path, arg, st);
            this.runForwardPreHooks(st);
            return recv;
          }
          case 'register_forward_pre_hook':
            return this.registerForwardPreHook(recv, evalArgs(), st);
          case 'zero_grad': {
            const stn = this.setToNone(unit, raw, env, st);
            st.update(whole, (r) => (r.grad = stn === 'yes' ? new Set(['none']) : stn === 'no' ? (r.grad.has('held') ? new Set(['held']) : r.grad) : new Set([...r.grad, 'none'])));
            this.events.push({ kind: 'zeroGrad', setToNone: stn, defaulted: !hasSetToNone(raw), site });
            return { t: 'none' };
          }
          case 'apply': {
            const fn = evalArgs().positional[0];
            if (fn?.t === 'function') this.callFunction(fn.fn, undefined, { positional: [{ t: 'moduleEach', set: whole }], keyword: new Map(), star: false }, st);
            else {
              this.unknowns.push('apply() with a function that is not followed');
              st.havoc(c.root);
            }
            return recv;
          }
          case 'add_module':
          case 'register_module': {
            const args = evalArgs();
            const name = args.positional[0];
            const child = args.positional[1];
            if (name?.t === 'str' && child?.t === 'module') this.setAttribute({ t: 'module', root: c.root, path: c.path }, name.v, child, st, site);
            return { t: 'none' };
          }
          case 'get_submodule': {
            const name = evalArgs().positional[0];
            return name?.t === 'str' ? { t: 'module', root: c.root, path: joinPath(c.path, name.v) } : UNKNOWN;
          }
          case 'forward':
          case '__call__':
            return this.forward(recv, evalArgs(), st, site);
          case 'load_state_dict': {
            // Loading a checkpoint makes what exists now pretrained; a head attached later is still new.
            evalArgs();
            st.update(whole, (r) => (r.pretrained = true));
            const info = this.models.get(c.root);
            if (info) info.pretrained = true;
            return UNKNOWN;
          }
        }
        if (MODULE_CHAINING.has(method)) {
          evalArgs();
          return recv;
        }
        if (SAFE_MODULE_METHODS.has(method)) {
          evalArgs();
          return UNKNOWN;
        }
        if (MUTATING_LIBRARY_METHODS.test(method)) {
          // timm's reset_classifier, HF's resize_token_embeddings, ...: they replace or freeze parts we cannot see.
          evalArgs();
          this.unknowns.push(`${method}() changes the model in ways that are not followed`);
          st.havoc(c.root);
          return UNKNOWN;
        }
        // `model.backbone(x)`: calling a submodule runs its forward.
        return this.forward({ t: 'module', root: c.root, path: joinPath(c.path, method) }, evalArgs(), st, site);
      }
      case 'moduleEach': {
        switch (method) {
          case 'requires_grad_': {
            const v = evalArgs().positional[0] ?? { t: 'bool', v: true };
            this.writeFlag(recv.only ? { ...recv.set, predicate: and2(recv.set.predicate, { op: 'unknown' }) } : recv.set, v.t === 'bool' ? v.v : undefined, st, site);
            return recv;
          }
          case 'train':
          case 'eval': {
            const arg = method === 'train' ? (evalArgs().positional[0] ?? { t: 'bool', v: true }) : { t: 'bool' as const, v: false };
            const mode = arg.t === 'bool' ? (arg.v ? 'train' : 'eval') : undefined;
            if (recv.only === 'dropout') return recv;
            this.setMode(recv.set, mode, recv.only === 'batchnorm', st, site, true);
            return recv;
          }
          case 'register_forward_pre_hook':
            return this.registerForwardPreHook(recv, evalArgs(), st);
          case 'parameters':
            return { t: 'params', sets: [recv.only ? { ...recv.set, predicate: and2(recv.set.predicate, { op: 'unknown' }) } : recv.set] };
          case 'named_parameters':
            return { t: 'params', sets: [recv.only ? { ...recv.set, predicate: and2(recv.set.predicate, { op: 'unknown' }) } : recv.set], named: true };
          case 'reset_running_stats':
          case 'reset_parameters':
            return UNKNOWN;
        }
        evalArgs();
        return UNKNOWN;
      }
      case 'paramEach':
        if (method === 'requires_grad_') {
          const v = evalArgs().positional[0] ?? { t: 'bool', v: true };
          this.writeFlag(recv.set, v.t === 'bool' ? v.v : undefined, st, site);
          return recv;
        }
        evalArgs();
        return UNKNOWN;
      case 'optimizer':
        return this.optimizerMethod(unit, recv.opt, method, raw, evalArgs, env, st, site);
      case 'tensor': {
        if (method === 'backward') {
          evalArgs();
          this.backward(recv.sources.length > 0 ? recv.sources : undefined, st, site);
          return { t: 'none' };
        }
        if (method === 'detach' || method === 'item' || method === 'numpy' || method === 'tolist') {
          // `encoder(x).detach()` straight on the call: that call's output never carries a gradient back.
          const receiver = call.firstChild?.firstChild;
          if (method === 'detach' && receiver?.name === 'CallExpression') {
            for (const e of this.events) if (e.kind === 'forward' && e.site.unit === unit && e.site.node.from === receiver.from && e.site.node.to === receiver.to) e.detached = true;
          }
          return { t: 'tensor', sources: [] };
        }
        evalArgs();
        return recv;
      }
      case 'class': {
        // `Model.from_pretrained(...)` on a workspace class: a classmethod gets the class, a staticmethod nothing.
        const m = this.methodOf(recv.cls, method, recv);
        if (m?.t !== 'function') {
          evalArgs();
          return UNKNOWN;
        }
        const decorators = m.fn.node.parent?.name === 'DecoratedStatement' ? this.text(unit === m.fn.unit ? unit : m.fn.unit, m.fn.node.parent) : '';
        const out = this.callFunction(m.fn, /@staticmethod\b/.test(decorators) ? undefined : recv, evalArgs(), st);
        if (method === 'from_pretrained' && out.t === 'module' && out.path === '') {
          // A checkpoint fills the body; a task head that the checkpoint lacks (classifier, score) starts random.
          st.update({ root: out.root, prefixes: [''] }, (r) => (r.pretrained = true));
          for (const [path, r] of st.writable(out.root)) if (TASK_HEAD.test(path)) r.pretrained = false;
          const info = this.models.get(out.root);
          if (info) info.pretrained = true;
        }
        return out;
      }
      case 'instance': {
        const m = this.methodOf(recv.cls, method, recv);
        if (m?.t === 'function') return this.callFunction(m.fn, recv, evalArgs(), st);
        evalArgs();
        return UNKNOWN;
      }
      case 'params':
        evalArgs();
        return UNKNOWN;
      case 'modules':
        // A slice of a Sequential is a Sequential: `model[:3].requires_grad_(False)` acts on those children.
        if (!recv.named && ['requires_grad_', 'train', 'eval', 'parameters', 'named_parameters'].includes(method)) {
          const r = this.methodCall(unit, { t: 'moduleEach', set: recv.set }, method, call, raw, evalArgs, env, st, site);
          return r.t === 'moduleEach' ? recv : r;
        }
        evalArgs();
        return UNKNOWN;
      case 'list':
        if (method === 'append' || method === 'extend') {
          const v = evalArgs().positional[0];
          if (v) recv.items.push(...(method === 'extend' && v.t === 'list' ? v.items : [v]));
          return { t: 'none' };
        }
        evalArgs();
        return UNKNOWN;
      case 'unknown': {
        const args = evalArgs();
        if (method === 'fit' || method === 'validate' || method === 'test') {
          const m = [...args.positional, ...args.keyword.values()].find((v) => v.t === 'module');
          if (m?.t === 'module' && method === 'fit') return this.simulateLightningFit(m, st, site);
        }
        if (method === 'backward') {
          this.backward(undefined, st, site);
          return { t: 'none' };
        }
        if (method === 'step' || method === 'zero_grad') {
          // A scheduler or an optimizer we do not know: stepping a known one would have been resolved.
          return UNKNOWN;
        }
        return this.unknownCall(method, args, st);
      }
      case 'namespace': {
        // `helpers.freeze(model)` through an imported workspace module (the way a cycle imports,
        // since `from a import f` fails while a is half-run): its function, as if imported by name.
        const f = recv.vars.get(method);
        if (f?.t === 'function') return this.callFunction(f.fn, f.self, evalArgs(), st);
        if (f?.t === 'class') return this.instantiate(f.cls, evalArgs(), st, site);
        return this.unknownCall(method, evalArgs(), st);
      }
      default:
        evalArgs();
        return UNKNOWN;
    }
  }

  private setMode(set: ParamSet, mode: 'train' | 'eval' | undefined, batchNormOnly: boolean, st: MachineState, site: Site, explicitPath: boolean): void {
    st.update(set, (r) => {
      if (batchNormOnly) r.bnEval = mode === undefined ? new Set([true, false]) : new Set([mode === 'eval']);
      else {
        r.mode = mode === undefined ? new Set(['train', 'eval']) : new Set([mode]);
        r.bnEval = new Set([mode === 'eval' ? true : false]);
        if (mode === undefined) r.bnEval = new Set([true, false]);
      }
      r.modeSite = site;
    });
    if (mode) this.events.push({ kind: 'mode', set, mode, batchNormOnly, site, explicitPath });
  }

  private setToNone(unit: number, raw: ReturnType<typeof callArgs>, env: Env, st: MachineState): Tri {
    const arg = raw.keyword.get('set_to_none') ?? raw.positional[0];
    if (!arg) return this.torchVersion.major >= 2 ? 'yes' : 'no';
    const v = this.eval(unit, arg, env, st);
    return v.t === 'bool' ? (v.v ? 'yes' : 'no') : 'maybe';
  }

  private optimizerMethod(
    unit: number,
    opt: OptimizerInfo,
    method: string,
    raw: ReturnType<typeof callArgs>,
    evalArgs: () => { positional: Value[]; keyword: Map<string, Value>; star: boolean },
    env: Env,
    st: MachineState,
    site: Site,
  ): Value {
    switch (method) {
      case 'zero_grad': {
        const stn = this.setToNone(unit, raw, env, st);
        for (const g of opt.groups) {
          st.update({ ...g.set, onlyTrainable: false }, (r) => {
            // Only what this group really holds (same tensors) is touched.
            if (stn === 'yes') r.grad = new Set(['none']);
            else if (stn === 'maybe') r.grad = new Set([...r.grad, 'none']);
          });
        }
        this.events.push({ kind: 'zeroGrad', opt, setToNone: stn, defaulted: !hasSetToNone(raw), site });
        return { t: 'none' };
      }
      case 'step':
        evalArgs();
        this.steps++;
        this.events.push({ kind: 'step', opt, site, state: st.clone() });
        return UNKNOWN;
      case 'add_param_group': {
        const g = evalArgs().positional[0];
        const groups = g ? this.groupsOf(g, opt.lr, site, st) : undefined;
        if (groups) opt.groups.push(...groups);
        else opt.groups.push({ set: { root: -1, prefixes: [] }, site, covered: new Map([['', { member: 'maybe', gen: -1 }]]) });
        this.events.push({ kind: 'addGroup', opt, site });
        return { t: 'none' };
      }
      default:
        evalArgs();
        return UNKNOWN;
    }
  }

  private buildOptimizer(unit: number, kind: string, call: SyntaxNode, raw: ReturnType<typeof callArgs>, env: Env, st: MachineState, site: Site): Value {
    const paramsNode = raw.keyword.get('params') ?? raw.positional[0];
    const num = (name: string, index: number) => {
      const n = raw.keyword.get(name) ?? raw.positional[index];
      const v = n ? this.eval(unit, n, env, st) : undefined;
      return v?.t === 'num' ? v.v : v ? NaN : undefined;
    };
    const lr = num('lr', 1);
    const { movesZeroGrad, decaysZeroGrad } = zeroGradMotion(kind, num);
    const opt: OptimizerInfo = {
      id: this.nextOptimizer++,
      kind,
      site,
      groups: [],
      movesZeroGrad,
      decaysZeroGrad,
      lr: lr !== undefined && !Number.isNaN(lr) ? lr : undefined,
      filtered: false,
    };
    const paramsValue = paramsNode ? this.eval(unit, paramsNode, env, st) : UNKNOWN;
    const groups = this.groupsOf(paramsValue, opt.lr, site, st);
    if (groups) opt.groups = groups;
    else opt.groups = [{ set: { root: -1, prefixes: [] }, site, covered: new Map([['', { member: 'maybe', gen: -1 }]]) }];
    opt.filtered = (paramsValue.t === 'params' && paramsValue.sets.every((s) => s.onlyTrainable)) || (groups ?? []).every((g) => g.set.onlyTrainable);
    for (const g of opt.groups) if (g.lr === undefined) g.lr = opt.lr;
    this.events.push({ kind: 'optimizer', opt, site, state: st.clone() });
    // PyTorch raises "optimizer got an empty parameter list" (FRZ010); nothing after it runs. Param-group
    // dicts with empty lists are accepted, so only a plain parameter list raises.
    opt.fromGroupDicts = paramsValue.t === 'dict' || (paramsValue.t === 'list' && paramsValue.items.some((i) => i.t === 'dict'));
    const roots = new Set(opt.groups.map((g) => g.set.root));
    const empty = opt.filtered && !opt.fromGroupDicts && opt.groups.length > 0 && opt.groups.every((g) => g.set.root >= 0 && [...g.covered.values()].every((c) => c.member === 'no'));
    if (empty && ![...roots].some((r) => [...st.regions(r).values()].some((x) => x.havoc))) this.raised = true;
    return { t: 'optimizer', opt };
  }

  /** Parameter groups from the first argument of an optimizer or of add_param_group. */
  private groupsOf(v: Value, defaultLr: number | undefined, site: Site, st: MachineState): OptimizerInfo['groups'] | undefined {
    const group = (params: Value, lr: number | undefined): OptimizerInfo['groups'] | undefined => {
      if (params.t === 'params') return params.sets.map((set) => ({ set, lr, site, covered: snapshotCoverage(st, set) }));
      if (params.t === 'paramEach') return [{ set: params.set, lr, site, covered: snapshotCoverage(st, params.set) }];
      if (params.t === 'list' && params.items.every((i) => i.t === 'paramEach' || i.t === 'params')) {
        return params.items.flatMap((i) => group(i, lr) ?? []);
      }
      return undefined;
    };
    if (v.t === 'dict') {
      const p = v.entries.get('params');
      const lr = v.entries.get('lr');
      return p ? group(p, lr?.t === 'num' ? lr.v : lr ? undefined : defaultLr) : undefined;
    }
    if (v.t === 'list' && v.items.length > 0 && v.items.every((i) => i.t === 'dict')) {
      const all = v.items.map((i) => this.groupsOf(i, defaultLr, site, st));
      return all.every((g) => g) ? all.flatMap((g) => g!) : undefined;
    }
    return group(v, defaultLr);
  }

  private backward(sources: { root: number; path: string }[] | undefined, st: MachineState, site: Site): void {
    const targets = sources ?? [...this.trained].map((root) => ({ root, path: '' }));
    for (const s of targets) {
      st.update({ root: s.root, prefixes: [s.path] }, (r: Region) => {
        if (r.rg.has(true)) r.grad = r.rg.size === 1 ? new Set(['held']) : new Set([...r.grad, 'held']);
      });
    }
    this.events.push({ kind: 'backward', site, state: st.clone() });
  }

  /**
   * `trainer.fit(model)` for a Lightning-style module whose hooks the file
   * never calls itself: run them in the framework's documented order.
   */
  private simulateLightningFit(m: Extract<Value, { t: 'module' }>, st: MachineState, site: Site): Value {
    const cls = this.classOf.get(this.canonical(m.root, m.path).root);
    if (!cls || this.explicitHookCalls) {
      this.unknowns.push('fit() on a model whose hooks are not known');
      st.havoc(this.canonical(m.root, m.path).root);
      return UNKNOWN;
    }
    const hook = (name: string, args: Value[] = []) => {
      const f = this.methodOf(cls, name, m);
      return f?.t === 'function' ? this.callFunction(f.fn, m, { positional: args, keyword: new Map(), star: false }, st) : undefined;
    };
    hook('setup', [{ t: 'str', v: 'fit' }]);
    let optValue = hook('configure_optimizers');
    if (optValue?.t === 'list') optValue = optValue.items[0];
    if (optValue?.t === 'dict') optValue = optValue.entries.get('optimizer');
    const opt = optValue?.t === 'optimizer' ? optValue.opt : undefined;
    for (let epoch = 0; epoch < 3; epoch++) {
      this.methodCall(site.unit, m, 'train', site.node, { positional: [], keyword: new Map(), hasStar: false }, () => ({ positional: [], keyword: new Map(), star: false }), this.moduleEnv, st, site);
      hook('on_train_epoch_start');
      const loss = hook('training_step', [UNKNOWN, { t: 'num', v: 0 }]);
      if (opt) {
        st.update({ root: m.root, prefixes: [''] }, (r) => (r.grad = new Set(['none'])));
        this.backward(loss?.t === 'tensor' && loss.sources.length > 0 ? loss.sources : [{ root: this.canonical(m.root, m.path).root, path: '' }], st, site);
        this.steps++;
        this.events.push({ kind: 'step', opt, site, state: st.clone() });
      }
      hook('on_train_epoch_end');
    }
    return UNKNOWN;
  }

  private callFunction(fn: FunctionInfo, self: Value | undefined, args: { positional: Value[]; keyword: Map<string, Value>; star: boolean }, st: MachineState): Value {
    if (this.depth >= MAX_CALL_DEPTH || this.callStack.includes(fn)) {
      this.incomplete = true;
      const why = `${fn.name}() is not followed (${this.depth >= MAX_CALL_DEPTH ? 'calls nested too deeply' : 'recursion'})`;
      for (const v of [...args.positional, ...args.keyword.values(), ...(self ? [self] : [])]) this.havocValue(v, st, why);
      return UNKNOWN;
    }
    const env: Env = { vars: new Map(), parent: this.envOfUnit(fn.unit) };
    const params = fn.params;
    let pi = 0;
    if (self && params[0]) {
      env.vars.set(params[0].name, self);
      pi = 1;
    }
    let ai = 0;
    for (; pi < params.length; pi++) {
      const p = params[pi];
      if (p.star) {
        env.vars.set(p.name, UNKNOWN);
        continue;
      }
      const v = args.positional[ai++] ?? args.keyword.get(p.name) ?? (p.default ? this.eval(fn.unit, p.default, this.envOfUnit(fn.unit), st) : UNKNOWN);
      env.vars.set(p.name, v);
    }
    const body = children(fn.node).find((k) => k.name === 'Body');
    if (!body) return UNKNOWN;
    this.depth++;
    this.callStack.push(fn);
    const frame: Frame = { returns: [], exits: [] };
    let end: MachineState | null;
    try {
      end = this.execBlock(fn.unit, body, env, st, frame);
    } finally {
      this.depth--;
      this.callStack.pop();
    }
    // Paths that returned early rejoin here; the caller continues with all of them.
    let merged = end;
    for (const e of frame.exits) merged = joinStates(merged, e === st ? null : e);
    if (merged && merged !== st) st.assign(merged);
    if (frame.returns.length === 0) return { t: 'none' };
    const first = frame.returns[0];
    return frame.returns.every((r) => sameValue(r, first)) ? first : frame.returns.every((r) => r.t === 'tensor') ? tensorOf(frame.returns) : UNKNOWN;
  }

  private functionAt(unit: number, def: SyntaxNode): FunctionInfo | undefined {
    const name = children(def).find((k) => k.name === 'VariableName');
    return name ? this.binder.functions.get(this.text(unit, name))?.find((f) => f.node.from === def.from && f.unit === unit) : undefined;
  }

  private lookup(env: Env, name: string): Value | undefined {
    for (let e: Env | undefined = env; e; e = e.parent) {
      const v = e.vars.get(name);
      if (v) return v;
    }
    return undefined;
  }

  private setVar(env: Env, name: string, value: Value): void {
    env.vars.set(name, value);
  }
}

function hasSetToNone(raw: ReturnType<typeof callArgs>): boolean {
  return raw.keyword.has('set_to_none') || raw.positional.length > 0;
}

/** The value expression of an assignment statement (after its last `=`). */
function lastValueNode(stmt: SyntaxNode): SyntaxNode | undefined {
  let afterOp = false;
  let value: SyntaxNode | undefined;
  for (let c = stmt.firstChild; c; c = c.nextSibling) {
    if (c.name === 'AssignOp') {
      afterOp = true;
      value = undefined;
    } else if (afterOp && c.name !== 'Comment' && !value) value = c;
  }
  return value;
}

function joinPath(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a}.${b}`;
}

function childPath(set: ParamSet, child: string): string {
  return joinPath(set.prefixes[0] ?? '', child);
}

function and2(a: NamePredicate | undefined, b: NamePredicate): NamePredicate {
  return a ? { op: 'and', args: [a, b] } : b;
}

/** Methods that only an nn.Module has among what scripts commonly hold (an optimizer has state_dict too). */
const MODULE_USE = /(?<![\w.])([A-Za-z_]\w*)(?:\s*\.\s*[A-Za-z_]\w*)*\s*\.\s*(?:parameters|named_parameters|modules|named_modules|children|named_children|requires_grad_|train|eval)\s*\(/g;

/** Variables assigned in these texts and used as modules (`model.parameters()`, `model.backbone.eval()`); never `self`. */
function moduleVariablesOf(texts: string[]): string[] {
  const used = new Set<string>();
  for (const text of texts) for (const m of text.matchAll(MODULE_USE)) if (m[1] !== 'self') used.add(m[1]);
  return [...used].filter((name) => texts.some((t) => new RegExp(`^[ \\t]*${name}\\s*=[^=]`, 'm').test(t))).sort();
}

function narrowValue(v: Value, predicate: NamePredicate | undefined, only: 'batchnorm' | 'dropout' | undefined, trainable: boolean | undefined, positive: boolean): Value {
  if (v.t !== 'paramEach' && v.t !== 'moduleEach' && v.t !== 'nameEach') return v;
  let set = v.set;
  const parts = (predicate ? 1 : 0) + (only ? 1 : 0) + (trainable !== undefined ? 1 : 0);
  if (!positive && parts > 1) {
    // not (A and B) is no single narrowing: the else branch sees an unknown subset.
    return { ...v, set: { ...set, predicate: and2(set.predicate, { op: 'unknown' }) } } as Value;
  }
  if (predicate) set = { ...set, predicate: and2(set.predicate, positive ? predicate : { op: 'not', arg: predicate }) };
  if (trainable !== undefined) {
    // `if p.requires_grad:` — the flag itself, read now: narrows to the trainable (or frozen) params.
    set = positive === trainable ? { ...set, onlyTrainable: true } : { ...set, onlyFrozen: true };
  }
  if (v.t === 'moduleEach') {
    if (only) return positive ? { t: 'moduleEach', set, only } : { t: 'moduleEach', set, only: 'other' };
    return { ...v, set };
  }
  return { ...v, set } as Value;
}

function tensorOf(values: Value[]): Value {
  const sources = values.flatMap((v): Extract<Value, { t: 'tensor' }>['sources'] => {
    if (v.t === 'tensor') return v.sources;
    if (v.t === 'list') {
      const inner = tensorOf(v.items);
      return inner.t === 'tensor' ? inner.sources : [];
    }
    return [];
  });
  return { t: 'tensor', sources };
}

function sameValue(a: Value, b: Value): boolean {
  if (a.t !== b.t) return false;
  if (a.t === 'module' && b.t === 'module') return a.root === b.root && a.path === b.path;
  if (a.t === 'optimizer' && b.t === 'optimizer') return a.opt === b.opt;
  if (a.t === 'num' && b.t === 'num') return a.v === b.v;
  if (a.t === 'bool' && b.t === 'bool') return a.v === b.v;
  if (a.t === 'str' && b.t === 'str') return a.v === b.v;
  return a.t === 'none' || a === b;
}

function joinStates(a: MachineState | null, b: MachineState | null): MachineState | null {
  if (!a) return b;
  if (!b) return a;
  if (a === b) return a;
  return a.join(b);
}

function freshRegion(pretrained: boolean): Region {
  return { rg: new Set([true]), grad: new Set(['none']), mode: new Set(['train']), bnEval: new Set([false]), gen: freshGen(), pretrained, havoc: false };
}

export { triOf };
