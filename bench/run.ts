/**
 * FreezeLens benchmarks: keystroke-to-diagnostics latency of the language
 * server, and batch throughput of the CLI next to Pyright and Ruff.
 *
 *   npm run bench            (builds dist/ and out/, then runs this)
 *   node out/bench/run.js [--only lsp,index,onnx,planner,experiment,cli,ruff,pyright] [--edits 200] [--runs 5] [--pyright-runs 3] [--keep]
 *
 * These are measurements to read, not assertions: nothing here fails
 * because a number is high, since timings on shared CI machines are too
 * noisy to gate on. It prints markdown; bench/RESULTS.md holds a real run.
 * Generated inputs live in a temporary folder outside the repository and
 * are removed afterwards (unless --keep).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { applyEdit, typingSession } from './edits';
import { generateScript, writeCorpus } from './generate';
import { benchIndex, benchInProcess } from './inprocess';
import { benchOnnx } from './onnx';
import { benchPlanner } from './planner';
import { benchExperiment } from './experiment';
import { benchLsp } from './lsp';
import { LATENCY_HEADER, latencyRow, ms, table, thousands } from './stats';
import { benchFreezeLensCli, benchFreezeLensInProcess, benchPyright, benchRuffWasm, type ThroughputResult } from './throughput';

/** Fixed seeds: every run sees the same script, the same keystrokes and the same corpus. */
const SCRIPT_SEED = 2024;
const CORPUS_SEED = 7;
const SCRIPT_LINES = 2000;
const CORPUS_FILES = 50;
/** Keystrokes sent before measuring, so the numbers describe a server that has been in use, not one still being JIT-compiled. */
const WARMUP_EDITS = 20;

const SECTIONS = ['lsp', 'index', 'onnx', 'planner', 'experiment', 'cli', 'ruff', 'pyright'] as const;
/** The workspace-index bench: this many files, each this long. */
const INDEX_FILES = 1000;
const INDEX_LINES = 500;
type Section = (typeof SECTIONS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      edits: { type: 'string', default: '200' },
      runs: { type: 'string', default: '5' },
      'pyright-runs': { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
    },
  });
  const only = new Set((values.only?.split(',') ?? SECTIONS).map((s) => s.trim()) as Section[]);
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section '${s}' (known: ${SECTIONS.join(', ')})`);
  const editCount = positiveInt(values.edits, '--edits');
  const runs = positiveInt(values.runs, '--runs');
  const pyrightRuns = positiveInt(values['pyright-runs'], '--pyright-runs');

  const root = path.resolve(__dirname, '../..');
  const serverJs = path.join(root, 'dist/server/server.js');
  const cliJs = path.join(root, 'dist/cli/freezelens.js');
  for (const f of [serverJs, cliJs]) if (!fs.existsSync(f)) throw new Error(`${path.relative(root, f)} is missing: run \`npm run build\` first`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-bench-'));
  const out = (s = '') => process.stdout.write(`${s}\n`);
  const started = performance.now();
  try {
    out('# FreezeLens benchmarks');
    out();
    out(environment(root));

    if (only.has('lsp')) {
      const script = generateScript(SCRIPT_SEED, SCRIPT_LINES);
      const file = path.join(tmp, 'edit', 'finetune_edit.py');
      fs.mkdirSync(path.dirname(file));
      fs.writeFileSync(file, script.text);
      const uri = pathToFileURL(file).href;
      const warmup = typingSession(script.text, WARMUP_EDITS, SCRIPT_SEED + 1);
      const edits = typingSession(warmup.reduce(applyEdit, script.text), editCount, SCRIPT_SEED + 2);

      const lsp = await benchLsp({ serverJs, uri, text: script.text, warmup, edits });
      const core = benchInProcess({ id: uri, text: script.text, warmup, edits });

      out();
      out(`## Keystroke to diagnostics (${thousands(script.lines)}-line script, ${editCount} single-character edits, debounce 0)`);
      out();
      out(
        table(LATENCY_HEADER, [
          latencyRow('**didChange → publishDiagnostics** (server process, JSON-RPC over stdio)', lsp.change),
          latencyRow('JSON-RPC round trip floor (codeAction request answered at once)', lsp.rpcFloor),
          latencyRow('in-process: apply edit + incremental reparse + analysis', core.total),
          latencyRow('↳ incremental reparse (applyChanges + tree)', core.incrementalParse),
          latencyRow('↳ full parse from scratch, same text', core.fullParse),
          latencyRow('↳ analysis (checkProgram on a parsed tree)', core.analysis),
          latencyRow(`↳ analysis, each keystroke's fastest of ${core.replays + 1} runs (less machine noise)`, core.analysisBestOf),
          latencyRow(`↳ the same without model structure (no catalog trees, nn layers or class evaluation), fastest of ${core.replays}`, core.analysisBestOfWithoutStructure),
          latencyRow('↳ cost of model structure per keystroke (fastest with − fastest without)', core.structureCost),
        ]),
      );
      out();
      out(
        `- Server process minus in-process work, p50 to p50: ${ms(lsp.change.p50 - core.total.p50)} ms, of which the bare JSON-RPC round trip is ${ms(lsp.rpcFloor.p50)} ms. ` +
          "The rest is the server's scheduling (with a 0 ms delay it starts the analysis from an immediate, after the message is handled), its own allocation and garbage collection, " +
          'and noise: the two rows come from separate runs of the same edits, not from the same keystrokes.',
      );
      out(`- Incremental vs full parse, p50: ${ms(core.incrementalParse.p50)} ms vs ${ms(core.fullParse.p50)} ms (${(core.fullParse.p50 / core.incrementalParse.p50).toFixed(1)}× faster).`);
      out(`- Cold didOpen → first publishDiagnostics: ${ms(lsp.openMs)} ms (in-process cold parse + analysis: ${ms(core.coldOpenMs)} ms).`);
      out(`- ${WARMUP_EDITS} warm-up edits precede the measured ones; each publish carried ${lsp.diagnostics.min}–${lsp.diagnostics.max} diagnostics (the script has ${script.plantedMistakes} planted FRZ004 mistakes).`);
    }

    if (only.has('index')) {
      const dir = path.join(tmp, 'workspace');
      fs.mkdirSync(dir);
      const corpus = writeCorpus(dir, INDEX_FILES, INDEX_LINES, CORPUS_SEED + 1);
      const index = benchIndex(corpus);
      out();
      out(`## Workspace class index (${thousands(corpus.files.length)} generated files, ${thousands(corpus.lines)} lines, ${(corpus.bytes / 1e6).toFixed(1)} MB)`);
      out();
      out(
        table(
          ['', 'median ms', 'runs (ms)', 'found'],
          index.rows.map((r) => [r.label, ms(r.medianMs), r.runs.map(ms).join(', '), r.detail]),
          [0, 3],
        ),
      );
      out();
      out('- Indexing reads every file from disk and scans it line by line for top-level `class` and `import` statements; a full parse of every file is shown for comparison.');
    }

    if (only.has('onnx')) {
      const onnx = benchOnnx(root, tmp, runs);
      out();
      out('## ONNX reader (each run a fresh Node process)');
      out();
      out(
        table(
          ['', 'cold ms (median)', 'warm ms', 'cold runs (ms)', 'peak RSS MB', 'read'],
          onnx.rows.map((r) => [
            r.label,
            r.medianMs === undefined ? '—' : ms(r.medianMs),
            r.warmMs === undefined ? '—' : ms(r.warmMs),
            r.runs.map(ms).join(', '),
            r.peakRssMB === undefined ? '—' : r.peakRssMB.toFixed(0),
            r.detail,
          ]),
          [0, 5],
        ),
      );
      out();
      out('- The streaming reader reads the graph with positioned reads and jumps over tensor payloads; the baseline reads the whole file and decodes every message, weights included.');
      out('- Cold: the first read in a fresh Node process, JIT compilation included. Warm: the median of five more reads in that process, as in an editor that has read a model before.');
      for (const n of onnx.notes) out(`- ${n}`);
    }

    if (only.has('planner')) {
      const planner = benchPlanner(tmp);
      out();
      out('## Freeze planner on large models (median of 20, in process)');
      out();
      out(
        table(
          ['model', 'modules', 'open ms', 'expand root ms', 'expand a block ms', 'checkbox ms'],
          planner.rows.map((r) => [r.model, thousands(r.modules), ms(r.open), ms(r.expandRoot), ms(r.expandBlock), ms(r.toggle)]),
          [0],
        ),
      );
      out();
      out("- What the planner's state computes for the rows the tree view shows: each row's trainable and total counts and checkbox state. The view builds rows only for expanded nodes, so a model's size costs only what is open.");
      out('- Open: a model shown with its root expanded. Expand: the rows of one node right after a plan change (nothing memoised). Checkbox: freezing or unfreezing one block, the summary recomputed, and the root redrawn. The issue asks for under 50 ms per expansion.');
      for (const n of planner.notes) out(`- ${n}`);
    }

    const throughput: ThroughputResult[] = [];
    let corpusLine = '';
    let ruffLoad = '';
    if (only.has('experiment')) {
      const e = await benchExperiment(root);
      const torch1 = e.steps.find((r) => r.engine === 'PyTorch CPU, 1 thread');
      out('## Experiment engine on the demo CNN');
      out();
      out('A full fine-tune step (105,589 parameters, batch 32 of 3×32×32, BatchNorm training, AdamW), in alternating rounds in one run:');
      out();
      out(table(['engine', 'median ms/step', 'steps', '× PyTorch (1 thread)'], e.steps.map((r) => [r.engine, ms(r.ms), r.samples, torch1 ? `${(r.ms / torch1.ms).toFixed(1)}×` : '–']), [0]));
      out();
      out(`Prefix caching, linear probe on the demo data (320 training images), ${e.caching.epochs} epochs on wasm, ms per epoch including the prefix pass:`);
      out();
      out(table(['run', 'ms/epoch'], [['frozen prefix cached (onnxruntime once, then the head)', ms(e.caching.cachedMsPerEpoch)], ['not cached (whole graph in tfjs every step)', ms(e.caching.uncachedMsPerEpoch)], ['speedup', `${(e.caching.uncachedMsPerEpoch / e.caching.cachedMsPerEpoch).toFixed(1)}×`]], [0]));
      out();
      out('The frozen prefix (everything before the head) forward, batches of 64, median of 30:');
      out();
      out(table(['engine', 'samples/s'], e.prefix.map((r) => [r.engine, thousands(Math.round(r.samplesPerSec))]), [0]));
      for (const n of e.notes) out(`- ${n}`);
      out();
    }

    if (only.has('cli') || only.has('ruff') || only.has('pyright')) {
      const dir = path.join(tmp, 'corpus');
      fs.mkdirSync(dir);
      const corpus = writeCorpus(dir, CORPUS_FILES, SCRIPT_LINES, CORPUS_SEED);
      corpusLine = `${corpus.files.length} generated files, ${thousands(corpus.lines)} lines, ${(corpus.bytes / 1e6).toFixed(1)} MB, ${corpus.plantedMistakes} planted FRZ004 mistakes`;
      if (only.has('cli')) {
        throughput.push(benchFreezeLensCli(root, corpus, runs));
        throughput.push(benchFreezeLensInProcess(corpus, runs));
      }
      if (only.has('ruff')) {
        const ruff = await benchRuffWasm(corpus, runs);
        throughput.push(...ruff.results);
        ruffLoad = `Loading the Ruff wasm module (compile + instantiate) took ${ms(ruff.loadMs)} ms, not included above.`;
      }
      if (only.has('pyright')) throughput.push(benchPyright(root, corpus, pyrightRuns));

      out();
      out(`## Batch throughput (${corpusLine})`);
      out();
      out(
        table(
          ['', 'median s', 'lines/s', 'runs (s)', 'reported'],
          throughput.map((t) => [
            t.label,
            (t.medianMs / 1000).toFixed(2),
            thousands(t.linesPerSecond),
            t.runs.map((r) => (r / 1000).toFixed(2)).join(', '),
            t.detail,
          ]),
          [0, 4],
        ),
      );
      out();
      out('- CLI rows are whole processes (start-up, module loading, reading files, the report); in-process rows check sources already in memory.');
      if (ruffLoad) out(`- ${ruffLoad}`);
    }
    out();
    out(`_Total bench time ${((performance.now() - started) / 1000).toFixed(0)} s; 1-minute load average ${loadAverage()} at the end._`);
  } finally {
    if (values.keep) process.stderr.write(`kept generated inputs in ${tmp}\n`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function environment(root: string): string {
  const pkg = (name: string) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version as string;
    } catch {
      return 'not installed';
    }
  };
  const self = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
  // Numbers belong to a version of the code measured; say which, and whether it had local changes.
  let commit = 'unknown commit';
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    commit = `commit ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'server') ? ' with uncommitted changes to server/' : ''}`;
  } catch {
    /* not a git checkout */
  }
  const cpus = os.cpus();
  return [
    `- Date: ${new Date().toISOString().slice(0, 10)}`,
    `- Machine: ${cpus.length} CPU cores (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}`,
    // Other work on the machine skews every number here; the load average says how much there was.
    `- 1-minute load average at the start: ${loadAverage()}`,
    `- Node ${process.version}; FreezeLens ${self} (${commit}); pyright ${pkg('pyright')}; @astral-sh/ruff-wasm-nodejs ${pkg('@astral-sh/ruff-wasm-nodejs')}; vscode-languageserver-protocol ${pkg('vscode-languageserver-protocol')}`,
  ].join('\n');
}

function loadAverage(): string {
  return os.loadavg()[0].toFixed(2);
}

function positiveInt(value: string | undefined, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, not '${value}'`);
  return n;
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
