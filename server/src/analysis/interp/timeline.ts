import type { ParamSet, Tri } from './paramSet';
import type { MachineState, ModelInfo, OptimizerInfo, Site } from './state';
import type { Observation } from './interpreter';

/**
 * What happened, in program order. Rules are queries over this list: they
 * read the state snapshots attached to events and never walk the syntax tree.
 */
export type TimelineEvent =
  | { kind: 'optimizer'; opt: OptimizerInfo; site: Site; state: MachineState }
  | { kind: 'addGroup'; opt: OptimizerInfo; site: Site }
  | { kind: 'step'; opt: OptimizerInfo; site: Site; state: MachineState }
  | { kind: 'backward'; site: Site; state: MachineState }
  /** `defaulted`: no set_to_none argument, so the torch version decided. */
  | { kind: 'zeroGrad'; opt?: OptimizerInfo; setToNone: Tri; defaulted: boolean; site: Site }
  /** requires_grad written on a set of params, with the states just before and after. */
  | { kind: 'setFlag'; set: ParamSet; value: boolean | undefined; site: Site; before: MachineState; after: MachineState; stepsBefore: number }
  | { kind: 'replace'; root: number; path: string; site: Site; stepsBefore: number }
  | { kind: 'mode'; set: ParamSet; mode: 'train' | 'eval'; batchNormOnly: boolean; site: Site; explicitPath: boolean }
  /** `followed`: the user's forward() ran, so the submodule calls inside it are events of their own. */
  | { kind: 'forward'; root: number; path: string; noGrad: boolean; site: Site; followed: boolean; detached?: boolean }
  | { kind: 'trackRunningStats'; set: ParamSet; site: Site }
  | { kind: 'bnMomentumZero'; set: ParamSet; site: Site }
  /** `findUnused`: find_unused_parameters=True (undefined when not a literal). */
  | { kind: 'ddp'; root: number; site: Site; findUnused: boolean | undefined };

export interface Timeline {
  events: TimelineEvent[];
  models: Map<number, ModelInfo>;
  /** Module paths known to be BatchNorm with running stats / Dropout, per model. */
  batchNormPaths: Map<number, Set<string>>;
  dropoutPaths: Map<number, Set<string>>;
  /** Models whose BatchNorm was converted to FrozenBatchNorm2d. */
  frozenBatchNorm: Set<number>;
  /** Module expressions and what they held there, keyed by `unit:from:to`; for hover. */
  observations: Map<string, Observation>;
  /** Why some models' state became unknown (calls that are not followed); for the log. */
  unknowns: string[];
  /** The program reached code the interpreter cannot follow (depth or time caps). */
  incomplete: boolean;
  /** torch major.minor that decides zero_grad's default, and where it was read from. */
  torchVersion: { major: number; minor: number; source: string };
  /** The state where the program ends (the last reachable one): module trees and flags at the end of the script. */
  finalState: MachineState;
  /** Some `x.requires_grad = ...` wrote to parameters the interpreter could not place: what trains is not known exactly. */
  unattributedFlagWrites: boolean;
    /** For a site in an imported module (`unit:from:to`), the program's call that led there. */
  callers: Map<string, Site>;
}
