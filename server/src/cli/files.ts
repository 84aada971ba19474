import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Span } from '../analysis/facts';
import { readNotebook, type NotebookCell } from '../python/notebook';
import type { Program } from '../python/program';
import { SourceUnit } from '../python/sourceUnit';

/** Folder names never descended into: environments, caches, VCS metadata. */
const SKIPPED_DIRS = new Set([
  '.git', '.hg', '.svn', 'node_modules', '__pycache__', '.venv', 'venv', '.env', 'env', '.tox', '.nox',
  '.mypy_cache', '.pytest_cache', '.ruff_cache', 'site-packages', '.ipynb_checkpoints', 'build', 'dist', '.eggs',
]);

export interface Discovered {
  path: string;
  /** Named on the command line: checked even where configuration excludes it, as Ruff does. */
  explicit: boolean;
}

/** Expands the paths given on the command line into .py, .ipynb and .onnx files, in a stable order. */
export function discover(paths: string[], onError: (p: string, message: string) => void): Discovered[] {
  const out: Discovered[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      onError(dir, `cannot read folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return;
    }
    // A folder with pyvenv.cfg is a virtualenv, whatever its name.
    if (entries.some((e) => e.name === 'pyvenv.cfg')) return;
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(e.name) && !e.name.endsWith('.egg-info')) walk(full);
      } else if ((isPythonFile(e.name) || e.name.endsWith('.onnx')) && (e.isFile() || (e.isSymbolicLink() && isFileTarget(full, onError)))) {
        // Symlinked files are followed; symlinked folders are not, so a link cycle cannot trap the walk.
        out.push({ path: full, explicit: false });
      }
    }
  };
  for (const p of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch (e) {
      onError(p, describeFsError(e as NodeJS.ErrnoException));
      continue;
    }
    if (stat.isDirectory()) walk(p);
    else out.push({ path: p, explicit: true });
  }
  return out;
}

function isFileTarget(link: string, onError: (p: string, message: string) => void): boolean {
  try {
    return fs.statSync(link).isFile();
  } catch (e) {
    onError(link, describeFsError(e as NodeJS.ErrnoException));
    return false;
  }
}

/** A file-system error in words, with the code for searching. */
export function describeFsError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'no such file or folder (ENOENT)';
    case 'ELOOP':
      return 'too many levels of symbolic links (ELOOP)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${e.code})`;
    case 'EISDIR':
      return 'is a folder, not a file (EISDIR)';
    default:
      return e.code ? `cannot read (${e.code})` : e.message;
  }
}

export function isPythonFile(name: string): boolean {
  return name.endsWith('.py') || name.endsWith('.pyi') || name.endsWith('.ipynb');
}

/** A location as the CLI prints it: 1-based, in the file on disk. */
export interface FileLocation {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** For notebooks: the cell (0-based index among all cells) and 1-based line/column inside it. */
  cell?: { index: number; line: number; column: number };
}

/** A file read from disk, ready to check, that can map findings back to itself. */
export interface LoadedFile {
  path: string;
  program: Program;
  lineCount: number;
  locate(span: Span): FileLocation;
}

/**
 * An ONNX export as a checked file: its findings are about the whole file
 * (a byte offset, where one is known, is in the message), so they sit at
 * line 1.
 */
export function onnxFile(file: string): LoadedFile {
  return {
    path: file,
    program: { id: file, units: [] },
    lineCount: 0,
    locate: () => ({ line: 1, column: 1, endLine: 1, endColumn: 1 }),
  };
}

export function loadFile(file: string): LoadedFile {
  const text = fs.readFileSync(file, 'utf8');
  if (file.endsWith('.ipynb')) return loadNotebook(file, text);
  const unit = new SourceUnit(file, text);
  return {
    path: file,
    program: { id: file, units: [unit] },
    lineCount: unit.lines.lineCount,
    locate(span) {
      const s = unit.lines.positionAt(span.from);
      const e = unit.lines.positionAt(span.to);
      return { line: s.line + 1, column: s.character + 1, endLine: e.line + 1, endColumn: e.character + 1 };
    },
  };
}

function loadNotebook(file: string, text: string): LoadedFile {
  const cells: NotebookCell[] = readNotebook(text);
  const units = cells.map((c) => new SourceUnit(`${file}#cell${c.index}`, c.source));
  return {
    path: file,
    program: { id: file, units },
    lineCount: units.reduce((n, u) => n + u.lines.lineCount, 0),
    locate(span) {
      const cell = cells[span.unit];
      const lines = units[span.unit].lines;
      const s = lines.positionAt(span.from);
      const e = lines.positionAt(span.to);
      // Columns inside a JSON string are not the user's columns; report the cell's instead.
      return {
        line: cell.fileLines[s.line] + 1,
        column: 1,
        endLine: cell.fileLines[e.line] + 1,
        endColumn: 1,
        cell: { index: cell.index, line: s.line + 1, column: s.character + 1 },
      };
    },
  };
}
