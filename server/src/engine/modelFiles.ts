import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModuleNode } from '../models/tree';
import { onnxModuleTree } from '../onnx/moduleTree';
import { readOnnx } from '../onnx/reader';

/**
 * Reads the module trees of model files that scripts name
 * (`# freezelens: model=exports/model.onnx`), relative to the naming file.
 * A tree is kept while the file's size and modification time stay the same,
 * so a keystroke does not read the model again.
 */
export function createModelFileLoader(): (location: string, fromUnit: string) => ModuleNode | undefined {
  const cache = new Map<string, { stamp: string; tree: ModuleNode | undefined }>();
  return (location, fromUnit) => {
    const from = /^(file|vscode-notebook-cell):/.test(fromUnit) ? fileURLToPath(fromUnit.replace(/^vscode-notebook-cell:/, 'file:').replace(/#.*$/, '')) : fromUnit.replace(/#[\w-]*$/, '');
    const file = path.resolve(path.dirname(from), location);
    if (!file.endsWith('.onnx')) return undefined;
    let stamp: string;
    try {
      const st = fs.statSync(file);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      return undefined;
    }
    const hit = cache.get(file);
    if (hit && hit.stamp === stamp) return hit.tree;
    let tree: ModuleNode | undefined;
    try {
      tree = onnxModuleTree(readOnnx(file)).tree;
    } catch {
      tree = undefined; // an unreadable export: the comment is ignored, and the file gets its own FRZ105
    }
    cache.set(file, { stamp, tree });
    return tree;
  };
}
