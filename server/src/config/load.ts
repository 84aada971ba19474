import * as fs from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import { parsePyproject, type ConfigProblem, type ConfigValues, type EffectiveConfig } from './config';

/** The nearest pyproject.toml at or above `startDir` that has a `[tool.freezelens]` table, or the nearest at all. */
export function findPyproject(startDir: string): string | undefined {
  let nearest: string | undefined;
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'pyproject.toml');
    if (isFile(candidate)) {
      nearest ??= candidate;
      if (/^\s*\[tool\.freezelens[\].]/m.test(readSafe(candidate) ?? '')) return candidate;
    }
    if (path.dirname(dir) === dir) return nearest;
  }
}

export interface LoadedPyproject {
  file: string;
  values: ConfigValues;
  problems: ConfigProblem[];
}

export function loadPyproject(file: string): LoadedPyproject {
  const text = readSafe(file);
  if (text === undefined) return { file, values: {}, problems: [{ source: file, key: 'tool.freezelens', message: 'cannot read pyproject.toml; using the defaults' }] };
  return { file, ...parsePyproject(text, file) };
}

/** Whether a file is excluded by glob patterns relative to `root`. Directory patterns exclude everything below. */
export function isExcluded(patterns: string[], root: string | undefined, file: string): boolean {
  if (patterns.length === 0 || !root) return false;
  const rel = path.relative(root, file).split(path.sep).join('/');
  if (rel.startsWith('..')) return false;
  const match = picomatch(patterns, { dot: true });
  const segments = rel.split('/');
  for (let i = 1; i <= segments.length; i++) {
    if (match(segments.slice(0, i).join('/'))) return true;
  }
  return false;
}

/** The ONNX export that `models` maps this script to (absolute), by the first glob that matches it. */
export function configuredModelFor(config: EffectiveConfig, file: string): string | undefined {
  const root = config.root;
  if (!root) return undefined;
  const rel = path.relative(root, file).split(path.sep).join('/');
  if (rel.startsWith('..')) return undefined;
  for (const [pattern, model] of Object.entries(config.models)) {
    if (picomatch(pattern, { dot: true })(rel)) return path.resolve(root, model);
  }
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function readSafe(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}
