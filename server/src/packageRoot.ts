import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The folder holding FreezeLens's package.json. Rule docs are found from
 * there, whether the code runs bundled from dist/ or compiled into out/.
 */
export function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'freezelens') return dir;
    } catch {
      /* not here; keep climbing */
    }
    if (path.dirname(dir) === dir) return start;
  }
}
