/**
 * The interpreter that runs the PyTorch backend, in the order the user
 * expects: FreezeLens's own setting, then the interpreter the Python
 * extension has selected for the workspace, then `python3`.
 * (No vscode import: the order is unit-tested on its own.)
 */
export interface PythonChoice {
  path: string;
  /** Where it came from, for the confirmation and the log. */
  source: 'freezelens.pythonPath' | 'the Python extension' | 'default';
}

export function choosePython(setting: string | null | undefined, fromPythonExtension: string | undefined): PythonChoice {
  if (setting && setting.trim()) return { path: setting.trim(), source: 'freezelens.pythonPath' };
  if (fromPythonExtension) return { path: fromPythonExtension, source: 'the Python extension' };
  return { path: 'python3', source: 'default' };
}
