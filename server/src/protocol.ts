/**
 * Names shared by the extension client, the language server and the webview.
 * Everything that crosses a process boundary is named here once, so that a
 * renamed request or setting cannot drift between the two sides.
 */

import type { ModelReport, ModelTreeNode } from './engine/models';
import type { OnnxSummary } from './onnx/inspect';
import type { CodeStyle } from './plan/codegen';

/** Display name of the server and of its output channel. */
export const SERVER_NAME = 'FreezeLens';
/** The `source` field of every diagnostic. */
export const DIAGNOSTIC_SOURCE = 'freezelens';
/** VS Code settings section; each key mirrors `[tool.freezelens]` in pyproject.toml. */
export const SETTINGS_SECTION = 'freezelens';
/** The notebook type whose Python cells are analysed. */
export const NOTEBOOK_TYPE = 'jupyter-notebook';

/** Settings as the server reads them from `workspace/configuration`. */
export interface FreezeLensSettings {
  select?: string[] | null;
  ignore?: string[] | null;
  severity?: Record<string, string> | null;
  exclude?: string[] | null;
}

/** Sent by the client when it starts the server. */
export interface InitializationOptions {
  /** Delay between the last keystroke and the diagnostics, in ms. */
  debounceMs?: number;
}

/**
 * `freezelens/modelTree` (params `{ uri }`, a file or notebook URI): the
 * models the analysis knows in that document, each with its module tree,
 * exact parameter counts, and every module's freeze flag and mode at the end
 * of the script. `analysed` is false until the document has been analysed.
 */
export const MODEL_TREE_REQUEST = 'freezelens/modelTree';

export interface ModelTreeParams {
  uri: string;
}

export interface ModelTreeResult {
  uri: string;
  analysed: boolean;
  models: (Omit<ModelReport, 'site'> & {
    /** Where the model is built, and in which document (a notebook's cell). */
    range?: { start: { line: number; character: number }; end: { line: number; character: number } };
    unitUri?: string;
  })[];
}

/** `freezelens/workspaceModels` (no params): the nn.Module classes defined in the workspace's Python files. */
export const WORKSPACE_MODELS_REQUEST = 'freezelens/workspaceModels';

export interface WorkspaceModelsResult {
  /** Python files indexed. */
  files: number;
  classes: { name: string; uri: string; line: number; bases: string[] }[];
}

/**
 * `freezelens/onnxReport` (params `{ uri }` of a .onnx file): what the ONNX
 * viewer shows. `models` holds the module tree in the `freezelens/modelTree`
 * format, with source `onnx`.
 */
export const ONNX_REPORT_REQUEST = 'freezelens/onnxReport';

/** A module of the ONNX viewer's tree: the `freezelens/modelTree` node format. */
export type OnnxTreeNode = ModelTreeNode;

export interface OnnxReportResult {
  file: string;
  summary?: OnnxSummary;
  naming?: 'initializers' | 'scopes' | 'mixed';
  models: { name: string; source: string; totalParams: number | null; root: OnnxTreeNode }[];
  diagnostics: { ruleId: string; severity: string; message: string; where?: string }[];
}

/**
 * `freezelens/planModels` (params `{ uri }`: a script, a notebook, or a
 * .onnx file): the models the freeze planner can plan there.
 */
export const PLAN_MODELS_REQUEST = 'freezelens/planModels';
/** `freezelens/catalogNames` (no params): the architectures of the catalog, for "Plan a catalog model…". */
export const CATALOG_NAMES_REQUEST = 'freezelens/catalogNames';
/** `freezelens/catalogModel` (params `{ name }`): one architecture as a plan model, pretrained; null when unknown. */
export const CATALOG_MODEL_REQUEST = 'freezelens/catalogModel';

type Range = { start: { line: number; character: number }; end: { line: number; character: number } };

export interface PlanModel {
  /** Identifies the model across sessions, for its saved plan: `uri#name`, `catalog:resnet18`, a .onnx URI. */
  key: string;
  name: string;
  source: string;
  totalParams: number | null;
  root: ModelTreeNode;
  /** Whether the weights are pretrained: then the backbone gets a lower learning rate. */
  pretrained: boolean;
  /** The module the script put in as the new head. */
  headPath?: string;
  /** How the script spells the model, the optimizer and torch.nn. */
  style: CodeStyle;
  /** What the planner cannot see. */
  notes: string[];
  /** Where the model is built, in `uri`. */
  uri?: string;
  range?: Range;
  /** Where its plan's code goes: replacing the optimizer's construction, or inserted at a position. */
  edit?: { uri: string; replace?: Range; insert?: Range['start'] };
}

export interface PlanModelsResult {
  uri: string;
  analysed: boolean;
  models: PlanModel[];
}
