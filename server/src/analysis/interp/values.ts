import type { SyntaxNode } from '@lezer/common';
import type { ClassInfo, FunctionInfo } from '../binder';
import type { NamePredicate, ParamSet } from './paramSet';
import type { OptimizerInfo } from './state';

/**
 * Abstract values of the freeze-state interpreter. Anything the interpreter
 * does not model is `unknown`, and rules stay silent about what it touches.
 */
export type Value =
  /** A module: a model object and a dotted path inside it ('' for the model itself). */
  | { t: 'module'; root: number; path: string }
  /**
   * The modules of a subtree, one at a time: the loop variable of
   * `for m in model.modules()`. `only` narrows it by isinstance tests.
   */
  | { t: 'moduleEach'; set: ParamSet; only?: 'batchnorm' | 'dropout' | 'other' }
  /** Iterables of parameters: `.parameters()`, lists of them, chains. `named` yields (name, param) pairs. */
  | { t: 'params'; sets: ParamSet[]; named?: boolean }
  /** Iterable of modules: `.modules()`, `.children()`; `named` yields (name, module). */
  | { t: 'modules'; set: ParamSet; named?: boolean; children?: boolean }
  /** One parameter at a time (a loop variable over a params iterable). */
  | { t: 'paramEach'; set: ParamSet }
  /** The name that goes with `paramEach`/`moduleEach` of the same set (tests on it narrow the set). */
  | { t: 'nameEach'; set: ParamSet; of: 'param' | 'child' }
  | { t: 'optimizer'; opt: OptimizerInfo }
  | { t: 'num'; v: number }
  | { t: 'str'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'none' }
  | { t: 'list'; items: Value[] }
  | { t: 'dict'; entries: Map<string, Value> }
  | { t: 'function'; fn: FunctionInfo; self?: Value }
  | { t: 'class'; cls: ClassInfo }
  /** An instance of a workspace class that is not an nn.Module (a trainer, a config). */
  | { t: 'instance'; cls: ClassInfo; fields: Map<string, Value> }
  /** A tensor computed from modules; `sources` are the modules gradients would flow back into. */
  | { t: 'tensor'; sources: { root: number; path: string; site: SyntaxNode }[] }
  /** An imported workspace module: its globals, filled as it runs. */
  | { t: 'namespace'; vars: Map<string, Value> }
  /** A context manager that disables gradients: torch.no_grad(), torch.inference_mode(). */
  | { t: 'noGrad' }
  | { t: 'unknown' };

export const UNKNOWN: Value = { t: 'unknown' };

export function isModuleLike(v: Value): v is Extract<Value, { t: 'module' | 'moduleEach' }> {
  return v.t === 'module' || v.t === 'moduleEach';
}

export type { NamePredicate };
