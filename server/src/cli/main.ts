import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkProgram } from '../engine/check';
import { analyze } from '../analysis/analyze';
import { catalogReport, modelReports, modelsJson, modelsText, treeReport, type ModelReport } from '../engine/models';
import { configureOnnx, formatShape, inspectOnnx } from '../onnx/inspect';
import { formatCount } from '../models/tree';
import { SourceUnit } from '../python/sourceUnit';
import { mergeConfig, validateValues, type ConfigProblem, type EffectiveConfig } from '../config/config';
import { configuredModelFor, findPyproject, isExcluded, loadPyproject } from '../config/load';
import { createExportsLookup } from '../engine/workspaceIndex';
import { completeProgram } from '../engine/planTarget';
import { runPlan } from './plan';
import { runExperimentCli } from './experiment';
import { createImportResolver } from '../engine/workspaceImports';
import { createModelFileLoader } from '../engine/modelFiles';
import { findTorchVersion, type TorchVersion } from '../config/torchVersion';
import { findPackageRoot } from '../packageRoot';
import { ruleDocPath } from '../rules';
import type { Finding } from '../rules/types';
import { discover, loadFile, onnxFile } from './files';
import { formatJson, formatSarif, formatText, type FileFindings, type ReportInput, type RunError } from './report';

const USAGE = `Usage: freezelens check [options] PATH...
       freezelens onnx [--format text|json] FILE.onnx
       freezelens models [--call 'Net(num_classes=7)'] [--format text|json] FILE
       freezelens models --catalog NAME [--num-classes N] [--format text|json]
       freezelens plan --model resnet18|FILE.onnx|FILE.py[:var] [--preset PRESET] [plan options]
       freezelens experiment [--model FILE.onnx --data DIR|FILE.csv|FILE.npz] [experiment options]

check   Checks Python scripts and Jupyter notebooks for PyTorch parameter-freezing mistakes.
onnx    Prints an ONNX file's summary, its module tree with counts, and its diagnostics.
models  Prints the module trees of the models a file builds, with exact parameter counts per
        module and what trains at the end of the script. --call evaluates a constructor call in
        the file's scope (for files that only define classes); --catalog prints an architecture
        of the built-in catalog (torchvision, timm, Hugging Face names).
plan    Prints the PyTorch code for a freeze plan (stdout) and its summary (stderr).
        PRESET: linear-probe (default), freeze-to:STAGE, full, bn-only, gradual:EPOCHS,
        discriminative:FACTOR. Plan options: --bn eval|frozen|train, --optimizer adamw|adam|sgd,
        --lr 1e-3, --lr-split FACTOR|none, --model-var model, --optimizer-var optimizer,
        --format text|json ({"code", "summary", "plan"}).
experiment  Trains freeze strategies on an ONNX model and a dataset (an ImageFolder directory, a
        CSV with a label column, or an .npz with x and y) and compares them; without --model
        and --data it runs the demo in examples/experiment/. Options:
        --strategies linear-probe,full (presets, with +bn-train or +lr-split:F), --epochs 3,
        --batch 32, --seed 0, --val 0.2, --lr 1e-3, --optimizer adamw|sgd, --labels y.npy,
        --backend tensorflow-gpu|tensorflow|wasm|cpu (default: the first that loads),
        --steps N (optimizer steps per strategy, instead of epochs), --plan FILE.json (a plan
        from \`freezelens plan --format json\`, run as a strategy named after the file; repeatable),
        --budget SECONDS (wall clock), --memory MB (resident memory cap),
        --json FILE|- (every event as a JSON line). Ctrl-C cancels after the current step.
        --backend torch runs the strategies in your PyTorch (--python PATH, default python3) on
        --factory pkg.mod:fn | --catalog NAME [--random-weights] | --model FILE.pt (TorchScript),
        with --data DIR (--image-size 224) or --data-factory pkg.mod:fn returning (train, val);
        --device auto|cuda|mps|cpu, --amp bf16|fp16, --workers N. Without a model: the demo.

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

/** Runs the CLI and returns its exit code (a promise for `experiment`); never calls process.exit itself. */
export function main(argv: string[], io: CliIO = defaultIO): number | Promise<number> {
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
        call: { type: 'string' },
        catalog: { type: 'string' },
        'num-classes': { type: 'string' },
        model: { type: 'string' },
        preset: { type: 'string' },
        bn: { type: 'string' },
        optimizer: { type: 'string' },
        lr: { type: 'string' },
        'lr-split': { type: 'string' },
        'model-var': { type: 'string' },
        'optimizer-var': { type: 'string' },
        data: { type: 'string' },
        labels: { type: 'string' },
        strategies: { type: 'string' },
        epochs: { type: 'string' },
        batch: { type: 'string' },
        seed: { type: 'string' },
        val: { type: 'string' },
        json: { type: 'string' },
        backend: { type: 'string' },
        budget: { type: 'string' },
        memory: { type: 'string' },
        steps: { type: 'string' },
        plan: { type: 'string', multiple: true },
        python: { type: 'string' },
        factory: { type: 'string' },
        'data-factory': { type: 'string' },
        'image-size': { type: 'string' },
        device: { type: 'string' },
        amp: { type: 'string' },
        workers: { type: 'string' },
        'random-weights': { type: 'boolean' },
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
  if (command === 'models') return runModels(paths, values, io);
  if (command === 'onnx') return runOnnx(paths, values, io);
  if (command === 'plan') return runPlan(values, io);
  if (command === 'experiment') return runExperimentCli(values, io, process.stderr.isTTY === true && io === defaultIO);
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
  const loadModelTree = createModelFileLoader();
  const exportsUnder = createExportsLookup();
  const results: FileFindings[] = [];
  for (const item of discover(paths.map((p) => path.resolve(io.cwd, p)), reportError)) {
    const config = configForDir(path.dirname(item.path));
    if (!item.explicit && isExcluded(config.exclude, config.root, item.path)) continue;
    if (item.path.endsWith('.onnx')) {
      results.push(checkOnnx(item.path, config));
      continue;
    }
    let file;
    try {
      file = loadFile(item.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      reportError(item.path, err.code ? `cannot read file (${err.code})` : err.message);
      continue;
    }
    try {
      const program = { ...file.program, resolveImport, loadModelTree, configuredModel: configuredModelFor(config, item.path), exportsOf: exportsUnder(config.root ?? io.cwd) };
      const result = checkProgram(program, config, { torchVersion: torchFor(path.dirname(item.path)) });
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

/** `freezelens onnx FILE`: summary, module tree and diagnostics; exit 1 when the file has errors, 2 when it cannot be read. */
function runOnnx(paths: string[], values: { format?: string; select?: string; ignore?: string }, io: CliIO): number {
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json') {
    io.stderr(`freezelens: onnx --format must be text or json, not '${format}'\n`);
    return 2;
  }
  if (paths.length !== 1) {
    io.stderr(`freezelens: onnx needs one FILE.onnx\n\n${USAGE}`);
    return 2;
  }
  const file = path.resolve(io.cwd, paths[0]);
  const report = inspectOnnx(file);
  // select/ignore/severity from pyproject.toml and the command line apply as for Python files.
  const found = findPyproject(path.dirname(file));
  const loaded = found ? loadPyproject(found) : undefined;
  const cliValues: Record<string, unknown> = {};
  if (values.select !== undefined) cliValues.select = splitCodes(values.select);
  if (values.ignore !== undefined) cliValues.ignore = splitCodes(values.ignore);
  report.diagnostics = configureOnnx(report.diagnostics, mergeConfig(loaded?.values ?? {}, validateValues(cliValues, 'command line', '--').values, loaded ? path.dirname(loaded.file) : undefined));
  const shown = path.relative(io.cwd, file) || file;
  const models = report.modules ? [treeReport(path.basename(file), 'onnx', shown, report.modules.tree, null, report.modules.modules)] : [];
  if (format === 'json') {
    io.stdout(`${JSON.stringify({ file: shown, summary: report.summary ?? null, naming: report.modules?.naming ?? null, models: JSON.parse(modelsJson(models)).models, diagnostics: report.diagnostics })}\n`);
  } else {
    const lines: string[] = [];
    const s = report.summary;
    if (s) {
      lines.push(`${shown}: ${s.producer || 'unknown producer'}, IR ${s.irVersion ?? '?'}, opset ${s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}`);
      for (const v of s.inputs) lines.push(`  input  ${v.name} ${formatShape(v.dims)}`);
      for (const v of s.outputs) lines.push(`  output ${v.name} ${formatShape(v.dims)}`);
      lines.push(`  ${s.nodes} nodes, ${s.initializers} initializers; parameters ${s.totalParams === null ? '?' : formatCount(s.totalParams)} (module names from ${report.modules!.naming === 'initializers' ? "PyTorch's initializer names" : report.modules!.naming === 'scopes' ? 'node scopes' : 'initializer names and node scopes'})`);
      lines.push(`  ops: ${s.ops.map(([op, n]) => `${op} ${n}`).join(', ')}`);
      lines.push('');
      lines.push(modelsText(models));
    }
    for (const d of report.diagnostics) lines.push(`${shown}${d.offset !== undefined ? `:${d.offset}` : ''}: ${d.ruleId} ${d.message}${d.where ? ` [${d.where}]` : ''}`);
    if (report.diagnostics.length === 0) lines.push('No findings.');
    io.stdout(`${lines.join('\n')}\n`);
  }
  if (!report.model) return 2;
  return report.diagnostics.some((d) => d.severity === 'error') ? 1 : 0;
}

/** `freezelens models`: exit 0 with the trees, 1 when nothing is known, 2 on a usage error. */
function runModels(paths: string[], values: { format?: string; call?: string; catalog?: string; 'num-classes'?: string }, io: CliIO): number {
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json') {
    io.stderr(`freezelens: models --format must be text or json, not '${format}'\n`);
    return 2;
  }
  const print = (reports: ModelReport[]) => io.stdout(format === 'json' ? modelsJson(reports) : modelsText(reports));
  if (values.catalog !== undefined) {
    const n = values['num-classes'] === undefined ? undefined : Number(values['num-classes']);
    if (n !== undefined && !(Number.isInteger(n) && n > 0)) {
      io.stderr(`freezelens: --num-classes must be a positive integer\n`);
      return 2;
    }
    const report = catalogReport(values.catalog, n);
    if (!report) {
      io.stderr(`freezelens: '${values.catalog}' is not in the catalog\n`);
      return 1;
    }
    print([report]);
    return 0;
  }
  if (paths.length !== 1) {
    io.stderr(`freezelens: models needs one FILE (or --catalog NAME)\n\n${USAGE}`);
    return 2;
  }
  const file = path.resolve(io.cwd, paths[0]);
  let loaded;
  try {
    loaded = loadFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    io.stderr(`${paths[0]}: error: ${err.code ? `cannot read file (${err.code})` : err.message}\n`);
    return 1;
  }
  const program = completeProgram(file, io.cwd, loaded.program);
  const target = '__freezelens_model__';
  if (values.call !== undefined) {
    // The call runs in the file's scope, as a statement appended to it.
    program.units = [...program.units, new SourceUnit(`${file}#call`, `${target} = ${values.call}\n`)];
  }
  const analysis = analyze(program, { torchVersion: findTorchVersion(path.dirname(file)) });
  let reports = modelReports(analysis);
  if (values.call !== undefined) {
    const tl = analysis.timeline;
    const root = tl && [...tl.models.values()].find((m) => m.name === target && !m.attachedTo);
    reports = reports.filter((r) => r.name === target);
    if (!root) {
      io.stderr(`freezelens: ${values.call} does not build a model FreezeLens can follow in ${paths[0]}\n`);
      return 1;
    }
    if (reports.length === 0) {
      // A model whose structure is not known at all: reported with unknown counts rather than left out.
      reports = [{ name: values.call, source: 'class', call: values.call, totalParams: null, trainableParams: null, root: { path: '', class: root.label.replace(/\(.*$/s, ''), params: null, buffers: null, children: [] } }];
    }
    reports = reports.map((r) => ({ ...r, name: values.call!, call: values.call! }));
  }
  print(reports);
  return 0;
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
  void Promise.resolve(main(process.argv.slice(2))).then((code) => (process.exitCode = code));
}

/** An ONNX export's diagnostics (FRZ101-FRZ105) as findings of `check`, configured like the Python rules. */
function checkOnnx(file: string, config: EffectiveConfig): FileFindings {
  const findings = configureOnnx(inspectOnnx(file).diagnostics, config).map(
    (d): Finding => ({
      ruleId: d.ruleId,
      ruleName: d.name,
      severity: d.severity,
      message: `${d.message}${d.where ? ` [${d.where}]` : ''}`,
      span: { unit: 0, from: 0, to: 0 },
      related: [],
      fixes: [],
    }),
  );
  return { file: onnxFile(file), findings };
}
