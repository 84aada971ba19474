import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The torch version a project pins, read from the nearest requirements file
 * or pyproject.toml. It matters for one default: zero_grad() keeps zeroed
 * gradients before torch 2.0 and sets them to None from 2.0 on.
 */
export interface TorchVersion {
  major: number;
  minor: number;
  /** Where it was read, for messages: "requirements.txt: torch==1.13.1". */
  source: string;
}

const FILES = ['requirements.txt', 'requirements-dev.txt', 'requirements/base.txt', 'pyproject.toml', 'setup.cfg', 'environment.yml'];
/** `torch==1.13.1`, `torch>=2.1`, `torch~=1.12`, `"torch (>=2.0,<3)"`, `pytorch=1.13` (conda). */
const SPEC = /(?:^|["'\s,\[(])(?:py)?torch\s*\(?\s*(==|~=|>=|=|<=|<|>)\s*(\d+)\.(\d+)/m;

export function parseTorchVersion(text: string, file: string): TorchVersion | undefined {
  for (const line of text.split(/\r?\n/)) {
    const clean = line.replace(/#.*$/, '');
    const m = SPEC.exec(clean);
    if (!m) continue;
    const [, op, major, minor] = m;
    // An upper bound alone says nothing about the lowest version in use.
    if (op === '<' || op === '<=') continue;
    return { major: Number(major), minor: Number(minor), source: `${path.basename(file)}: ${clean.trim()}` };
  }
  return undefined;
}

/** Looks in `dir` and its parents, nearest first; undefined when nothing pins torch. */
export function findTorchVersion(dir: string): TorchVersion | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    for (const name of FILES) {
      const file = path.join(d, name);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const v = parseTorchVersion(text, file);
      if (v) return v;
    }
    if (path.dirname(d) === d) return undefined;
  }
}
