import type { ModuleNode } from '../models/tree';
import type { SourceUnit } from './sourceUnit';

/**
 * What the analysis runs over: one script, or the code cells of one notebook
 * in order. Cells share one module scope, exactly as they do in a kernel that
 * ran them top to bottom.
 */
export interface Program {
  /** Identifies the document (URI or path); used in logs. */
  id: string;
  units: SourceUnit[];
  /**
   * Finds the source of a workspace module the program imports, so helpers
   * defined there (`from utils import freeze_backbone`) are followed. Absent:
   * imports stay unknown calls.
   */
  resolveImport?: ImportResolver;
  /**
   * Reads the module tree of a model file a script names
   * (`# freezelens: model=exports/model.onnx`), relative to the unit that
   * names it. Absent, or undefined for a file it cannot read: the comment
   * is ignored.
   */
  loadModelTree?: (location: string, fromUnit: string) => ModuleNode | undefined;
  /**
   * The export that the `freezelens.models` setting maps this script to (an
   * absolute path): it describes the one model the script builds and cannot
   * otherwise see into.
   */
  configuredModel?: string;
  /**
   * The exports made elsewhere in the workspace from models built by a
   * function or class of this name (`build_model`): absolute paths of the
   * .onnx files that exist. Absent: only exports in the program bind.
   */
  exportsOf?: (builder: string) => string[];
}

/**
 * `module` is the dotted name as written (`utils`, `models.heads`), `level`
 * the number of leading dots of a relative import, `from` the id of the
 * importing unit. Undefined when it is not a workspace file (torch, numpy).
 */
export type ImportResolver = (module: string, level: number, from: string) => SourceUnit | undefined;
