import type { SyntaxNode } from '@lezer/common';
import type { Program } from '../python/program';
import type { SourceUnit } from '../python/sourceUnit';
import { forEachStatement, nodeText } from '../python/syntax';
import type { AnalysisBudget } from './budget';

const IMPORT_STATEMENT = new Set(['ImportStatement']);

/** At most this many workspace modules are followed from one program, and this deep. */
const MAX_MODULES = 16;
const MAX_DEPTH = 3;

/** Libraries that are never workspace modules, so the resolver is not even asked. */
const LIBRARY = /^(torch|torchvision|torchaudio|timm|transformers|peft|lightning|pytorch_lightning|numpy|scipy|pandas|sklearn|os|sys|re|math|json|time|random|copy|itertools|functools|collections|typing|dataclasses|pathlib|argparse|logging|tqdm|wandb|PIL|cv2|matplotlib|accelerate|datasets|einops|omegaconf|hydra)(\.|$)/;

export interface ImportedModules {
  /** The imported modules' units, in the order they were found. */
  units: SourceUnit[];
  /**
   * Where each import statement's module went: key `${unit}:${from}` of the
   * ImportStatement and the module's dotted name, value the unit index in
   * the full program (main units first), or -1 when it was not followed.
   */
  modules: Map<string, number>;
}

/**
 * Finds the workspace modules a program imports, and the modules those
 * import, breadth first. A cycle (a imports b imports a) is followed once:
 * each file becomes one unit however often it is imported. Past the caps
 * the rest stay unknown calls, with a note for the log.
 */
export function loadImports(program: Program, budget: AnalysisBudget): ImportedModules {
  const result: ImportedModules = { units: [], modules: new Map() };
  const resolve = program.resolveImport;
  if (!resolve) return result;
  const byId = new Map<string, number>();
  program.units.forEach((u, i) => byId.set(u.id, i));
  const queue: { unit: SourceUnit; index: number; depth: number }[] = program.units.map((unit, index) => ({ unit, index, depth: 0 }));
  for (let q = 0; q < queue.length; q++) {
    const { unit, index, depth } = queue[q];
    for (const imp of importStatements(unit)) {
      budget.tick();
      if (imp.level === 0 && LIBRARY.test(imp.module)) continue;
      const key = `${index}:${imp.node.from}:${imp.module}`;
      let found: SourceUnit | undefined;
      try {
        found = resolve(imp.module, imp.level, unit.id);
      } catch {
        found = undefined; // an unreadable file is an unknown module, not a failed analysis
      }
      if (!found) continue;
      let target = byId.get(found.id);
      if (target === undefined) {
        // Only new modules count against the depth cap: an import back into a module
        // already loaded (a cycle) costs nothing, and closing it lets recursion across
        // the modules be seen as recursion.
        if (depth >= MAX_DEPTH) {
          budget.exceeded(`imports nested deeper than ${MAX_DEPTH} modules are not followed`);
          result.modules.set(key, -1);
          continue;
        }
        if (result.units.length >= MAX_MODULES) {
          budget.exceeded(`more than ${MAX_MODULES} imported workspace modules; the rest are not followed`);
          result.modules.set(key, -1);
          continue;
        }
        target = program.units.length + result.units.length;
        result.units.push(found);
        byId.set(found.id, target);
        queue.push({ unit: found, index: target, depth: depth + 1 });
      }
      result.modules.set(key, target);
    }
  }
  return result;
}

interface ImportSite {
  node: SyntaxNode;
  module: string;
  level: number;
}

/**
 * The modules named by a unit's import statements, at any depth (imports in
 * functions count). `from . import x` names the package itself ('').
 */
export function importStatements(unit: SourceUnit): ImportSite[] {
  const out: ImportSite[] = [];
  const text = unit.text;
  // Imports are statements: only statement positions are searched, never expressions.
  if (!text.includes('import')) return out;
  forEachStatement(unit.tree.topNode, IMPORT_STATEMENT, (node) => {
    const parsed = parseImport(text, node);
    for (const m of parsed.modules) {
      out.push({ node, module: m.module, level: m.level });
      // `from models import heads` may name a submodule rather than something defined in the package.
      if (parsed.from) for (const n of parsed.names) out.push({ node, module: m.module ? `${m.module}.${n.name}` : n.name, level: m.level });
    }
  });
  return out;
}

/** `import a.b as c, d` / `from ..a import x as y, z`, read from the tokens. */
export function parseImport(text: string, node: SyntaxNode): { modules: { module: string; level: number }[]; names: { name: string; alias: string }[]; from: boolean } {
  const kids: SyntaxNode[] = [];
  for (let k = node.firstChild; k; k = k.nextSibling) kids.push(k);
  const tokens = kids.map((k) => ({ name: k.name, text: nodeText(text, k) }));
  if (tokens[0]?.name !== 'from') {
    // import a.b, c as d
    const modules: { module: string; level: number }[] = [];
    const names: { name: string; alias: string }[] = [];
    let dotted: string[] = [];
    const flush = (alias?: string) => {
      if (dotted.length === 0) return;
      modules.push({ module: dotted.join('.'), level: 0 });
      names.push({ name: dotted.join('.'), alias: alias ?? dotted[0] });
      dotted = [];
    };
    for (let i = 1; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.name === 'VariableName') dotted.push(t.text);
      else if (t.name === 'as') {
        flush(tokens[i + 1]?.text);
        i++;
      } else if (t.name === ',') flush();
    }
    flush();
    return { modules, names, from: false };
  }
  // from ..pkg.mod import a as b, c
  const importAt = tokens.findIndex((t) => t.name === 'import');
  let level = 0;
  const parts: string[] = [];
  for (const t of tokens.slice(1, importAt)) {
    // Leading dots are the level; dots after the first name only separate.
    if (/^\.+$/.test(t.text) && parts.length === 0) level += t.text.length;
    else if (t.name === 'VariableName') parts.push(t.text);
  }
  const names: { name: string; alias: string }[] = [];
  const rest = tokens.slice(importAt + 1).filter((t) => t.name !== '(' && t.name !== ')');
  for (let i = 0; i < rest.length; i++) {
    const t = rest[i];
    if (t.name !== 'VariableName') continue;
    if (rest[i + 1]?.name === 'as' && rest[i + 2]) {
      names.push({ name: t.text, alias: rest[i + 2].text });
      i += 2;
    } else names.push({ name: t.text, alias: t.text });
  }
  return { modules: [{ module: parts.join('.'), level }], names, from: true };
}
