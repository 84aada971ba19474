import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * An index of the classes defined across a workspace's Python files: which
 * are nn.Modules (directly or through other workspace classes), where they
 * are, and what each file imports. It answers "which models could be
 * planned here" and "which files import this one" without parsing every
 * file: a file is read line by line for top-level `class` and `import`
 * statements, which keeps a 1,000-file workspace well under a second (see
 * bench/). It updates one file at a time as files change.
 *
 * The full analysis still parses what it analyses; this index only finds
 * candidates, so a rare miss (a class built by exec, a `class` line inside
 * a string) costs a missing entry, never a wrong diagnostic.
 */

export interface IndexedClass {
  name: string;
  file: string;
  /** 0-based line of the `class` statement. */
  line: number;
  /** The base-class expressions as written: `nn.Module`, `Backbone`. */
  bases: string[];
}

export interface IndexedFile {
  classes: IndexedClass[];
  /** Dotted module names imported at top level, with the relative level. */
  imports: { module: string; level: number }[];
  /** `torch.onnx.export(model, x, "model.onnx")` calls, with what built `model`. */
  exports: IndexedExport[];
}

export interface IndexedExport {
  /** The function or class whose call built the exported model (`build_model`, `ResNetClassifier`), last dotted part. */
  builder: string;
  /** The .onnx path as written in the call. */
  location: string;
  file: string;
}

/** Bases that make a class an nn.Module without looking further. */
const MODULE_BASES = /^(torch\.)?(nn\.)?(Module|Sequential|ModuleList|ModuleDict)$|^(pl\.|lightning\.|L\.|pytorch_lightning\.)?LightningModule$/;
/** Directories that hold installed packages or tooling, not the user's code. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.hg', '.svn', '__pycache__', '.venv', 'venv', 'env', '.env', 'site-packages', '.tox', '.mypy_cache', '.pytest_cache', 'build', 'dist', '.ipynb_checkpoints']);

export class WorkspaceIndex {
  private readonly files = new Map<string, IndexedFile>();
  /** Classes by name across files, kept in step with `files`. */
  private readonly byName = new Map<string, IndexedClass[]>();
  /** Memo of isModule per class name; cleared on every update (cheap to rebuild). */
  private moduleMemo = new Map<string, boolean>();
  /** The folders given to addFolder: an export's relative path may be relative to one of them. */
  private readonly roots: string[] = [];

  /** Indexes every .py file under `root`, skipping virtual environments and caches; returns the number of files. */
  addFolder(root: string, limit = 20_000, onOther?: (file: string) => void): number {
    let count = 0;
    this.roots.push(root);
    const stack = [root];
    while (stack.length > 0 && count < limit) {
      const dir = stack.pop()!;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        continue; // unreadable directory: skipped, as a missing one would be
      }
      for (const e of entries) {
        if (e.isDirectory()) {
          if (!SKIPPED_DIRS.has(e.name) && !e.name.startsWith('.')) stack.push(path.join(dir, e.name));
        } else if (e.isFile() && e.name.endsWith('.onnx')) {
          onOther?.(path.join(dir, e.name));
        } else if (e.isFile() && e.name.endsWith('.py')) {
          const file = path.join(dir, e.name);
          try {
            this.update(file, fs.readFileSync(file, 'utf8'));
            count++;
          } catch {
            // unreadable file: not indexed
          }
        }
      }
    }
    return count;
  }

  update(file: string, text: string): void {
    this.remove(file);
    const scanned = scan(file, text);
    this.files.set(file, scanned);
    for (const c of scanned.classes) {
      const list = this.byName.get(c.name);
      if (list) list.push(c);
      else this.byName.set(c.name, [c]);
    }
  }

  remove(file: string): void {
    const old = this.files.get(file);
    this.files.delete(file);
    this.moduleMemo = new Map();
    for (const c of old?.classes ?? []) {
      const list = this.byName.get(c.name)!.filter((x) => x !== c);
      if (list.length > 0) this.byName.set(c.name, list);
      else this.byName.delete(c.name);
    }
  }

  get size(): number {
    return this.files.size;
  }

  file(file: string): IndexedFile | undefined {
    return this.files.get(file);
  }

  /** Classes of that name anywhere in the workspace. */
  find(name: string): IndexedClass[] {
    return this.byName.get(name) ?? [];
  }

  /** Every class that is an nn.Module, directly or through workspace base classes. */
  moduleClasses(): IndexedClass[] {
    const out: IndexedClass[] = [];
    for (const f of this.files.values()) for (const c of f.classes) if (this.isModule(c.name)) out.push(c);
    return out;
  }

  /** Whether a class of this name is an nn.Module: some definition's bases reach torch.nn.Module. */
  isModule(name: string, seen = new Set<string>()): boolean {
    const memo = this.moduleMemo.get(name);
    if (memo !== undefined) return memo;
    if (seen.has(name)) return false;
    seen.add(name);
    const result = this.find(name).some((c) => c.bases.some((b) => MODULE_BASES.test(b) || this.isModule(b.split('.').pop()!, seen)));
    this.moduleMemo.set(name, result);
    return result;
  }

  /**
   * The ONNX files that the workspace exports from models built by
   * `builder`, and that exist: each path as written in its export call,
   * relative to the exporting file's folder if it is there, else to the
   * workspace root it was indexed under.
   */
  exportsOf(builder: string): string[] {
    const out = new Set<string>();
    for (const f of this.files.values()) {
      for (const e of f.exports) {
        if (e.builder !== builder) continue;
        // The path is relative to wherever the export ran: most often the script's folder or the project root.
        const bases = [path.dirname(e.file), ...this.roots.filter((r) => !path.relative(r, e.file).startsWith('..'))];
        const found = bases.map((b) => path.resolve(b, e.location)).find((f) => fs.existsSync(f));
        if (found) out.add(found);
      }
    }
    return [...out];
  }

  /** Files that import `module` (a dotted name such as `models.heads`) at top level, absolutely. */
  importersOf(module: string): string[] {
    const out: string[] = [];
    for (const [file, f] of this.files) if (f.imports.some((i) => i.level === 0 && (i.module === module || i.module.startsWith(`${module}.`)))) out.push(file);
    return out;
  }
}

const CLASS_LINE = /^class\s+([A-Za-z_]\w*)\s*(?:\(([^)]*)\)?)?\s*:?/;
const IMPORT_LINE = /^import\s+(.+)$/;
const FROM_LINE = /^from\s+(\.*)([\w.]*)\s+import\b/;

/** Top-level classes and imports, line by line, skipping the insides of triple-quoted strings. */
function scan(file: string, text: string): IndexedFile {
  const classes: IndexedClass[] = [];
  const imports: { module: string; level: number }[] = [];
  let quote: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (quote) {
      if (line.includes(quote)) quote = undefined;
      continue;
    }
    const c0 = line.charCodeAt(0);
    // Only column-0 statements are top level; an indented line can still open a docstring.
    if (c0 === 99 /* c */) {
      const m = CLASS_LINE.exec(line);
      if (m) {
        const bases = (m[2] ?? '')
          .split(',')
          .map((b) => b.trim())
          .filter((b) => b && !b.includes('='));
        classes.push({ name: m[1], file, line: i, bases });
      }
    } else if (c0 === 105 /* i */) {
      const m = IMPORT_LINE.exec(line);
      if (m) for (const part of m[1].split(',')) imports.push({ module: part.trim().split(/\s+/)[0], level: 0 });
    } else if (c0 === 102 /* f */) {
      const m = FROM_LINE.exec(line);
      if (m) imports.push({ module: m[2], level: m[1].length });
    }
    const opens = /("""|''')/.exec(line);
    if (opens) {
      const q = opens[1];
      // Opened and not closed on the same line.
      if (line.indexOf(q, opens.index + 3) < 0) quote = q;
    }
  }
  return { classes, imports, exports: text.includes('onnx.export') ? scanExports(file, text) : [] };
}

/**
 * Calls that build a model and then export it. Calls that load or copy a
 * model (`torch.load`, `deepcopy`) say nothing about which model it is, so
 * they bind nothing.
 */
const EXPORT_CALL = /onnx\.export\(\s*([A-Za-z_]\w*)\s*,[\s\S]{0,400}?["']([^"'\n]+\.onnx)["']/g;
const NOT_BUILDERS = new Set(['load', 'deepcopy', 'copy', 'to', 'cuda', 'cpu', 'eval', 'train', 'float', 'half', 'double']);

function scanExports(file: string, text: string): IndexedExport[] {
  const out: IndexedExport[] = [];
  for (const m of text.matchAll(EXPORT_CALL)) {
    const before = text.slice(0, m.index);
    // The last assignment to the exported name before the export.
    const assigns = [...before.matchAll(new RegExp(`^[ \\t]*${m[1]}\\s*=\\s*([A-Za-z_][\\w.]*)\\s*\\(`, 'gm'))];
    const builder = assigns.pop()?.[1].split('.').pop();
    if (builder && !NOT_BUILDERS.has(builder)) out.push({ builder, location: m[2], file });
  }
  return out;
}

/**
 * Exports in a project (pyproject.toml's folder, else the working
 * directory) bind the models that other files build the same way. A project
 * is indexed only when an analysis first asks; the CLI and the planner's
 * script targets use this, the language server its own live index.
 */
export function createExportsLookup(): (root: string) => (builder: string) => string[] {
  const indexes = new Map<string, WorkspaceIndex>();
  return (root) => (builder) => {
    let index = indexes.get(root);
    if (!index) {
      index = new WorkspaceIndex();
      index.addFolder(root);
      indexes.set(root, index);
    }
    return index.exportsOf(builder);
  };
}
