import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ImportResolver } from '../python/program';
import { SourceUnit } from '../python/sourceUnit';

/** Larger files are not followed: a generated module is not where freezing helpers live. */
const MAX_MODULE_BYTES = 1_000_000;
/** How many folders above the importing file an absolute import is looked up in. */
const MAX_PARENT_FOLDERS = 4;

export interface ResolverOptions {
  /** Unit ids as `file://` URIs (the language server) instead of paths (the CLI). */
  uris?: boolean;
  /** The text of a file open in the editor, which wins over the disk. */
  openText?: (file: string) => string | undefined;
}

/**
 * A resolver that can remember what it read from the disk (which files
 * exist, their text, the project-root markers) instead of asking again at
 * every keystroke. It starts without that memory; `cacheDisk(true)` turns it
 * on once something reports file changes, and `invalidate()` must then be
 * called on each change. Open editors are always asked afresh.
 */
export type WorkspaceImportResolver = ImportResolver & {
  cacheDisk(on: boolean): void;
  invalidate(): void;
};

/**
 * Resolves imports to `.py` files next to the importing file, or in the
 * folders above it up to the project root (a folder with pyproject.toml,
 * setup.py or .git), the way running the script from its project would.
 * Parsed modules are cached by path and content, so a keystroke in the main
 * file does not reparse its imports.
 */
export function createImportResolver(options: ResolverOptions = {}): WorkspaceImportResolver {
  const cache = new Map<string, { text: string; unit: SourceUnit }>();
  /** What the disk held, while `cacheDisk` is on: a file's text (undefined: no readable file) and whether a path exists. */
  let diskText: Map<string, string | undefined> | undefined;
  let diskExists: Map<string, boolean> | undefined;
  const exists = (p: string) => {
    let e = diskExists?.get(p);
    if (e === undefined) {
      e = fs.existsSync(p);
      diskExists?.set(p, e);
    }
    return e;
  };
  const readDisk = (file: string): string | undefined => {
    if (diskText?.has(file)) return diskText.get(file);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      diskText?.set(file, undefined);
      return undefined;
    }
    if (!stat.isFile() || stat.size > MAX_MODULE_BYTES) {
      diskText?.set(file, undefined);
      return undefined;
    }
    // A file that cannot be read throws, as it always did: loadImports treats the module as unknown.
    const text = fs.readFileSync(file, 'utf8');
    diskText?.set(file, text);
    return text;
  };
  const idOf = (file: string) => (options.uris ? pathToFileURL(file).href : file);
  const fileOf = (id: string) => {
    // A notebook cell's URI names the notebook file; its fragment names the cell.
    if (/^(file|vscode-notebook-cell):/.test(id)) return fileURLToPath(id.replace(/^vscode-notebook-cell:/, 'file:').replace(/#.*$/, ''));
    return path.resolve(id.replace(/#[\w-]*$/, ''));
  };

  const load = (file: string): SourceUnit | undefined => {
    const text = options.openText?.(file) ?? readDisk(file);
    if (text === undefined) return undefined;
    if (text.length > MAX_MODULE_BYTES) return undefined;
    const cached = cache.get(file);
    if (cached && cached.text === text) return cached.unit;
    const unit = new SourceUnit(idOf(file), text);
    cache.set(file, { text, unit });
    return unit;
  };

  const candidates = (base: string, module: string) => {
    const parts = module ? module.split('.') : [];
    const stem = path.join(base, ...parts);
    return parts.length === 0 ? [path.join(base, '__init__.py')] : [`${stem}.py`, path.join(stem, '__init__.py')];
  };

  const resolve: ImportResolver = (module, level, from) => {
    const dir = path.dirname(fileOf(from));
    if (level > 0) {
      const base = path.resolve(dir, ...Array(level - 1).fill('..'));
      for (const c of candidates(base, module)) {
        const u = load(c);
        if (u) return u;
      }
      return undefined;
    }
    let d = dir;
    for (let i = 0; i <= MAX_PARENT_FOLDERS; i++) {
      for (const c of candidates(d, module)) {
        const u = load(c);
        if (u) return u;
      }
      if (['pyproject.toml', 'setup.py', '.git'].some((m) => exists(path.join(d, m)))) break;
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
    return undefined;
  };
  return Object.assign(resolve, {
    cacheDisk(on: boolean) {
      diskText = on ? new Map() : undefined;
      diskExists = on ? new Map() : undefined;
    },
    invalidate() {
      diskText?.clear();
      diskExists?.clear();
    },
  });
}
