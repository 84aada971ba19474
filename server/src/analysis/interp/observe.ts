import type { MachineState, Region } from './state';

/**
 * What a module expression holds in a state, summarised for hover: the flags
 * of its own region and of every region below it, and their modes. One pass
 * over the model's regions, without intermediate arrays: the interpreter
 * calls this at every module expression it evaluates.
 */
export function visitSummary(st: MachineState, root: number, path: string): { flags: string; mode: string } {
  // One read of the model's regions; it adds the model to the state if missing, as region() would.
  const regions = st.regions(root);
  const acc: Tally = { parts: 0, frozen: 0, trainable: 0, havoc: false, train: false, evalMode: false };
  count(acc, st.region(root, path));
  for (const [p, r] of regions) {
    // Strictly below `path`: `path.` + more (every path is below the model's '').
    if (p !== path && (path === '' || (p.length > path.length && p.charCodeAt(path.length) === 46 /* . */ && p.startsWith(path)))) count(acc, r);
  }
  const { parts, frozen, trainable, train, evalMode } = acc;
  return {
    flags: acc.havoc
      ? 'unknown'
      : frozen === parts
        ? 'frozen'
        : trainable === parts
          ? 'trainable'
          : frozen + trainable === parts
            ? `mixed: ${frozen} of ${parts} parts frozen`
            : 'frozen on some paths, trainable on others',
    // The distinct modes, sorted: 'eval', 'train' or 'eval or train'.
    mode: evalMode && train ? 'eval or train' : evalMode ? 'eval' : train ? 'train' : '',
  };
}

interface Tally {
  parts: number;
  frozen: number;
  trainable: number;
  havoc: boolean;
  train: boolean;
  evalMode: boolean;
}

function count(acc: Tally, r: Region): void {
  acc.parts++;
  if (r.rg.size === 1) {
    if (r.rg.has(false)) acc.frozen++;
    else if (r.rg.has(true)) acc.trainable++;
  }
  if (r.havoc) acc.havoc = true;
  if (r.mode.has('train')) acc.train = true;
  if (r.mode.has('eval')) acc.evalMode = true;
}
