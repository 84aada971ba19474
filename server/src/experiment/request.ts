import type { ModelTreeNode } from '../engine/models';
import { readOnnx } from '../onnx/reader';
import { PlanError, presetPlan, type FreezePlan } from '../plan/plan';
import { isParamPath, nodeAt } from '../plan/stages';
import { DatasetError, loadCsv, loadImageFolder, loadNumpy, type Dataset } from './datasets';

/** tfjs's backends in the order they are tried: CUDA, native CPU, wasm, pure JS (see backend.ts). */
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * The demo (examples/experiment/, paths from the package root) that
 * `freezelens experiment` runs without arguments and the PyTorch command
 * offers: a CNN pretrained on synthetic shapes, as ONNX and as TorchScript.
 */
export const DEMO = { model: 'examples/experiment/shapes_cnn.onnx', torchscript: 'examples/experiment/shapes_cnn.pt', data: 'examples/experiment/data', imageSize: 32, strategies: 'linear-probe,freeze-to:layer2,gradual:1,full', epochs: 4, lr: 3e-3 };

/** What every run is given, whichever backend runs it. */
export interface RunSettings {
  /** Planner presets with optional +bn-train / +lr-split:F suffixes. */
  strategies: string[];
  epochs: number;
  batch: number;
  seed: number;
  /** Fraction of the samples held out for validation. */
  valSplit: number;
  /** The head's learning rate. */
  lr: number;
  optimizer: 'sgd' | 'adamw';
  /**
   * Plans given whole rather than as a preset (the Freeze Planner's current
   * plan, a `freezelens plan --format json` file), by the strategy name that
   * runs them: a strategy found here is this plan, not a preset.
   */
  plans?: Record<string, FreezePlan>;
  /**
   * A budget in optimizer steps: each strategy stops after this many (its
   * last epoch may be partial, and is evaluated where it stops); `epochs`
   * is then ignored. See plannedEpochs.
   */
  steps?: number;
}

/**
 * What a caller (the CLI, the language server, the panel) asks the
 * experiment process to run: files and settings only, so that it crosses
 * the process boundary as JSON and the data is loaded in the child.
 */
export interface ExperimentRequest extends RunSettings {
  /** The ONNX model file. */
  model: string;
  /** An ImageFolder directory, a CSV, or .npz / .npy arrays. */
  data: string;
  /** The labels' .npy file, where `data` is the samples' .npy. */
  labels?: string;
  /** Image normalisation (ImageNet's by default). */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Forces a backend; otherwise the first that loads (see backend.ts). */
  backend?: BackendName;
  budgetMs?: number;
  memoryCapMB?: number;
}

/** Loads the request's data: an image folder is resized to the model's input size. */
export function loadRequestData(request: Pick<ExperimentRequest, 'model' | 'data' | 'labels' | 'mean' | 'std'>): Dataset {
  const file = request.data;
  if (file.endsWith('.csv')) return loadCsv(file);
  if (file.endsWith('.npz') || file.endsWith('.npy')) return loadNumpy(file, request.labels);
  const input = readOnnx(request.model).graph.inputs[0];
  const dims = input?.dims ?? [];
  const [h, w] = dims.slice(2);
  if (dims.length !== 4 || typeof h !== 'number' || typeof w !== 'number') throw new DatasetError(request.model, `the model's input ${input?.name ?? ''} has no fixed image size (dims ${JSON.stringify(dims)}); images cannot be resized to it`);
  return loadImageFolder(file, { size: [h, w], ...(request.mean ? { mean: request.mean } : {}), ...(request.std ? { std: request.std } : {}) });
}

/** A strategy string: the preset, the BN policy for frozen parts, and the backbone LR divisor. */
export function parseStrategy(s: string): { preset: string; bnTrain: boolean; lrSplit: number | null | undefined } {
  const [preset, ...suffixes] = s.split('+');
  let bnTrain = false;
  let lrSplit: number | null | undefined;
  for (const suffix of suffixes) {
    if (suffix === 'bn-train') bnTrain = true;
    else if (suffix.startsWith('lr-split:')) lrSplit = Number(suffix.slice('lr-split:'.length));
    else throw new Error(`unknown strategy suffix '+${suffix}' in ${s}; expected +bn-train or +lr-split:FACTOR`);
  }
  return { preset, bnTrain, lrSplit };
}

/**
 * A strategy's plan on the model being trained: a preset with its suffixes,
 * or a plan given whole (settings.plans). A given plan keeps what it
 * freezes, its BatchNorm policy, its LR split, discriminative decay and
 * gradual unfreezing; its stages are taken again from this model, and the
 * learning rate and optimizer are the run's, so that every strategy of a
 * run is compared under the same ones. A given plan that names a module or
 * parameter this model lacks is an error: it was made for another model.
 */
export function strategyPlan(root: ModelTreeNode, name: string, settings: Pick<RunSettings, 'lr' | 'optimizer' | 'plans'>, headPath?: string): { plan: FreezePlan; bnTrain: boolean } {
  const given = settings.plans?.[name];
  if (given) {
    const missing = given.frozen.filter((p) => !nodeAt(root, p) && !isParamPath(root, p));
    if (missing.length > 0) throw new PlanError(`the plan freezes ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}, which this model does not have: it was made for another model`);
    const base = presetPlan(root, 'full', { lr: settings.lr, optimizer: settings.optimizer, ...(headPath ? { headPath } : {}), pretrained: true });
    const bn = given.bn === 'train' ? 'train' : 'eval'; // FrozenBatchNorm2d trains like a frozen BatchNorm in eval mode
    return { plan: { ...base, preset: name, frozen: [...given.frozen], bn, lrSplit: given.lrSplit, decay: given.decay, gradualEvery: given.gradualEvery }, bnTrain: bn === 'train' };
  }
  const { preset, bnTrain, lrSplit } = parseStrategy(name);
  const plan = presetPlan(root, preset, { lr: settings.lr, optimizer: settings.optimizer, ...(headPath ? { headPath } : {}), pretrained: true, ...(lrSplit !== undefined ? { lrSplit } : {}), bn: bnTrain ? 'train' : 'eval' });
  return { plan, bnTrain };
}

/** Optimizer steps in an epoch of `samples` training samples: batches, less a last batch of one (BatchNorm needs two samples, so it is skipped). */
export function stepsPerEpoch(samples: number, batch: number): number {
  if (samples < 2) return samples;
  return Math.floor(samples / batch) + (samples % batch >= 2 ? 1 : 0);
}

/** The epochs a run's strategies start: its epochs, or with a budget in steps, as many as the steps need (the last may be partial). */
export function plannedEpochs(settings: Pick<RunSettings, 'epochs' | 'steps' | 'batch'>, trainSamples: number): number {
  if (settings.steps === undefined) return settings.epochs;
  return Math.max(1, Math.ceil(settings.steps / Math.max(1, stepsPerEpoch(trainSamples, settings.batch))));
}
