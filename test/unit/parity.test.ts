// The CLI and the language server report the same findings: every rule
// fixture (scripts and notebooks) is checked by one CLI run and opened in one
// server process, and the (rule, line) sets must be equal file by file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DidOpenNotebookDocumentNotification, NotebookCellKind } from 'vscode-languageserver-protocol/node';
import { readNotebook } from '../../server/src/python/notebook';
import { ROOT, Server } from './lspServer';

const DIR = path.join(ROOT, 'test', 'fixtures', 'rules');
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.py') || f.endsWith('.ipynb'))
  .sort();

let server: Server;
before(async () => {
  server = await Server.start();
});
after(async () => {
  await server?.stop();
});

interface CliFinding {
  path: string;
  rule: string;
  line: number;
  cell?: { index: number; line: number };
}

/** "FRZ002@31" for scripts, "FRZ005@5:2" (cell index : line in cell) for notebooks. */
function cliFindings(): Map<string, string[]> {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'freezelens.js'), 'check', '--format', 'json', DIR], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const report = JSON.parse(r.stdout) as { findings: CliFinding[] };
  const out = new Map<string, string[]>();
  for (const f of report.findings) {
    const key = path.basename(f.path);
    const at = f.cell ? `${f.cell.index}:${f.cell.line}` : String(f.line);
    out.set(key, [...(out.get(key) ?? []), `${f.rule}@${at}`]);
  }
  return out;
}

async function serverFindings(file: string): Promise<string[]> {
  const full = path.join(DIR, file);
  const text = fs.readFileSync(full, 'utf8');
  const uri = pathToFileURL(full).href;
  if (!file.endsWith('.ipynb')) {
    const diagnostics = await server.open(uri, text, 30_000);
    return diagnostics.map((d) => `${d.code}@${d.range.start.line + 1}`);
  }
  // A notebook as VS Code sends it: every cell (markdown too) with its own document URI.
  const raw = JSON.parse(text) as { cells: { cell_type: string; source: string | string[] }[] };
  const code = new Map(readNotebook(text).map((c) => [c.index, c]));
  const cells = raw.cells.map((c, index) => ({
    index,
    uri: `vscode-notebook-cell:${pathToFileURL(full).pathname}#cell${index}`,
    python: c.cell_type === 'code',
    text: Array.isArray(c.source) ? c.source.join('') : c.source,
  }));
  const since = server.diagnostics.length;
  await server.conn.sendNotification(DidOpenNotebookDocumentNotification.type, {
    notebookDocument: {
      uri,
      notebookType: 'jupyter-notebook',
      version: 1,
      cells: cells.map((c) => ({ kind: c.python ? NotebookCellKind.Code : NotebookCellKind.Markup, document: c.uri })),
    },
    cellTextDocuments: cells.map((c) => ({ uri: c.uri, languageId: c.python ? 'python' : 'markdown', version: 1, text: c.text })),
  });
  const codeCells = cells.filter((c) => c.python && code.has(c.index));
  await server.until('every code cell published', () => (codeCells.every((c) => server.diagnostics.slice(since).some((p) => p.uri === c.uri)) ? true : undefined), 30_000);
  const out: string[] = [];
  for (const c of codeCells) {
    const published = server.diagnostics.slice(since).filter((p) => p.uri === c.uri).pop()!;
    for (const d of published.diagnostics) out.push(`${d.code}@${c.index}:${d.range.start.line + 1}`);
  }
  return out;
}

test('the CLI and the language server report the same findings on every rule fixture', async () => {
  const cli = cliFindings();
  const differences: string[] = [];
  let total = 0;
  for (const file of files) {
    const fromServer = (await serverFindings(file)).sort();
    const fromCli = (cli.get(file) ?? []).sort();
    total += fromCli.length;
    if (JSON.stringify(fromServer) !== JSON.stringify(fromCli)) differences.push(`${file}: server ${fromServer.join(' ')} | cli ${fromCli.join(' ')}`);
  }
  assert.deepEqual(differences, []);
  assert.ok(total >= 50, `the fixtures give findings to compare (${total})`);
});
