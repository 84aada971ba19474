import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkProgram } from '../engine/check';
import { mergeConfig, validateValues, type ConfigProblem, type EffectiveConfig } from '../config/config';
import { findPyproject, isExcluded, loadPyproject } from '../config/load';
import { createImportResolver } from '../engine/workspaceImports';
import { findTorchVersion, type TorchVersion } from '../config/torchVersion';
import { findPackageRoot } from '../packageRoot';
import { ruleDocPath } from '../rules';
import { discover, loadFile } from './files';
import { formatJson, formatSarif, formatText, type FileFindings, type ReportInput, type RunError } from './report';

const USAGE = `Usage: freezelens check [options] PATH...

Checks Python scripts and Jupyter notebooks for PyTorch parameter-freezing mistakes.

Options:
  --format text|json|sarif   output format (default: text)
  --select CODES             only these rules, comma-separated (overrides pyproject.toml)
  --ignore CODES             skip these rules, comma-separated (overrides pyproject.toml)
  --verbose                  also print notes: code skipped by depth or time caps, calls not followed
  -h, --help                 show this help
  -v, --version              show the version

Exit status: 0 no findings, 1 findings (or files that could not be read), 2 usage error.
`;

export interface CliIO {
  cwd: string;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIO: CliIO = {
  cwd: process.cwd(),
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

/** Runs the CLI and returns its exit code; never calls process.exit itself. */
export function main(argv: string[], io: CliIO = defaultIO): number {
  const packageRoot = findPackageRoot(__dirname);
  const version = readVersion(packageRoot);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: 'string', default: 'text' },
        select: { type: 'string' },
        ignore: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    io.stderr(`freezelens: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (values.version) {
    io.stdout(`${version}\n`);
    return 0;
  }
  const [command, ...paths] = positionals;
  if (command !== 'check') {
    io.stderr(command ? `freezelens: unknown command '${command}'\n\n${USAGE}` : USAGE);
    return 2;
  }
  if (paths.length === 0) {
    io.stderr(`freezelens: check needs at least one PATH\n\n${USAGE}`);
    return 2;
  }
  const format = values.format;
  if (format !== 'text' && format !== 'json' && format !== 'sarif') {
    io.stderr(`freezelens: --format must be text, json or sarif, not '${format}'\n`);
    return 2;
  }
  const cliValues: Record<string, unknown> = {};
  if (values.select !== undefined) cliValues.select = splitCodes(values.select);
  if (values.ignore !== undefined) cliValues.ignore = splitCodes(values.ignore);
  const cli = validateValues(cliValues, 'command line', '--');
  const cliProblems = cli.problems.filter((p) => /unknown rule code/.test(p.message));
  if (cli.problems.length > cliProblems.length) {
    io.stderr(`freezelens: ${cli.problems.map((p) => `${p.key} ${p.message}`).join('; ')}\n`);
    return 2;
  }

  const errors: RunError[] = [];
  const reportError = (p: string, message: string) => {
    errors.push({ path: p, message });
    io.stderr(`${path.relative(io.cwd, p) || p}: error: ${message}\n`);
  };
  const shownProblems = new Set<string>();
  const showProblems = (problems: ConfigProblem[]) => {
    for (const p of problems) {
      const line = `${path.relative(io.cwd, p.source) || p.source}: warning: \`${p.key}\` ${p.message}\n`;
      if (!shownProblems.has(line)) io.stderr(line);
      shownProblems.add(line);
    }
  };
  showProblems(cliProblems);

  const configs = new Map<string, EffectiveConfig>();
  const configForDir = (dir: string): EffectiveConfig => {
    let c = configs.get(dir);
    if (!c) {
      const found = findPyproject(dir);
      const loaded = found ? loadPyproject(found) : undefined;
      if (loaded) showProblems(loaded.problems);
      c = mergeConfig(loaded?.values ?? {}, cli.values, loaded ? path.dirname(loaded.file) : undefined);
      configs.set(dir, c);
    }
    return c;
  };

  const torchVersions = new Map<string, TorchVersion | undefined>();
  const torchFor = (dir: string) => {
    if (!torchVersions.has(dir)) torchVersions.set(dir, findTorchVersion(dir));
    return torchVersions.get(dir);
  };

  // One resolver for the run: a module imported by many files is parsed once.
  const resolveImport = createImportResolver();
  const results: FileFindings[] = [];
  for (const item of discover(paths.map((p) => path.resolve(io.cwd, p)), reportError)) {
    const config = configForDir(path.dirname(item.path));
    if (!item.explicit && isExcluded(config.exclude, config.root, item.path)) continue;
    let file;
    try {
      file = loadFile(item.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      reportError(item.path, err.code ? `cannot read file (${err.code})` : err.message);
      continue;
    }
    try {
      const result = checkProgram({ ...file.program, resolveImport }, config, { torchVersion: torchFor(path.dirname(item.path)) });
      if (values.verbose) for (const note of result.notes) io.stderr(`note: ${note}\n`);
      results.push({ file, findings: result.findings });
    } catch (e) {
      reportError(item.path, `analysis failed: ${(e as Error).message}`);
    }
  }

  const input: ReportInput = {
    results,
    errors,
    cwd: io.cwd,
    version,
    docUri: (id) => pathToFileURL(path.join(packageRoot, ruleDocPath(id))).toString(),
    docText: (id) => readText(path.join(packageRoot, ruleDocPath(id))),
  };
  io.stdout(format === 'json' ? formatJson(input) : format === 'sarif' ? formatSarif(input) : formatText(input));
  const findings = results.reduce((n, r) => n + r.findings.length, 0);
  return findings > 0 || errors.length > 0 ? 1 : 0;
}

function splitCodes(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean);
}

function readVersion(root: string): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

function readText(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
