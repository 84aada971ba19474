/**
 * The language server as an editor sees it: the bundled server process,
 * spoken to over stdio with real LSP messages. Nothing is mocked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DiagnosticSeverity,
  DidChangeConfigurationNotification,
  DidChangeNotebookDocumentNotification,
  DidChangeTextDocumentNotification,
  DidChangeWatchedFilesNotification,
  DidCloseTextDocumentNotification,
  DidOpenNotebookDocumentNotification,
  DidOpenTextDocumentNotification,
  FileChangeType,
  MessageType,
  NotebookCellKind,
  type MarkupContent,
  type TextDocumentContentChangeEvent,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { ROOT, Server, TIMEOUT_MS } from './lspServer';

// ---- harness: the real server over stdio (lspServer.ts) -------------------

/** A workspace folder in the temp dir whose pyproject.toml pins the defaults, so nothing above it leaks in. */
function makeWorkspace(prefix: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), '[project]\nname = "ws"\n\n[tool.freezelens]\n');
  return dir;
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function applyEdit(uri: string, text: string, edit: WorkspaceEdit | undefined): string {
  assert.ok(edit?.changes, 'the code action carries a WorkspaceEdit with changes');
  assert.deepEqual(Object.keys(edit.changes), [uri], 'the edit touches only this document');
  return TextDocument.applyEdits(TextDocument.create(uri, 'python', 1, text), edit.changes[uri]);
}

/** LSP 3.18 allows markup in messages; this server sends plain strings. */
function plain(message: string | MarkupContent): string {
  assert.equal(typeof message, 'string', 'messages are plain strings');
  return message as string;
}

function lines(text: string): string[] {
  return text.split('\n');
}

const RESNET = ['import torch', 'from torchvision import models', '', 'model = models.resnet18(weights=None)', 'model.layer1.requires_grad = False', ''].join('\n');
const MODEL_LINE = 3;
const FREEZE_LINE = 4;

// ---- the tests -----------------------------------------------------------

describe('language server over stdio', () => {
  let server: Server;
  let ws: string;
  let n = 0;
  /** A fresh file:// URI in the workspace, so that no test sees another's cached state. */
  const fileUri = (name = `doc${++n}.py`) => pathToFileURL(path.join(ws, name)).toString();

  before(async () => {
    ws = makeWorkspace('freezelens-lsp-');
    server = await Server.start({ debounceMs: 0 });
  });
  after(async () => {
    try {
      const code = await server?.stop();
      assert.equal(code, 0, 'shutdown + exit ends the server with status 0');
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });

  test('didOpen publishes FRZ004 with source, code, doc link and the place the model is created', async () => {
    const uri = fileUri();
    const diags = await server.open(uri, RESNET);
    assert.equal(diags.length, 1, JSON.stringify(diags));
    const [d] = diags;
    assert.equal(d.source, 'freezelens');
    assert.equal(d.code, 'FRZ004');
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.deepEqual(d.range, { start: { line: FREEZE_LINE, character: 0 }, end: { line: FREEZE_LINE, character: 'model.layer1.requires_grad = False'.length } });
    assert.match(plain(d.message), /`model\.layer1`/);
    assert.match(plain(d.message), /requires_grad_\(False\)/);

    const href = d.codeDescription?.href ?? '';
    assert.match(href, /docs\/rules\/FRZ004\.md$/);
    const doc = fileURLToPath(href);
    assert.ok(fs.statSync(doc).isFile(), `${doc} exists`);
    assert.match(fs.readFileSync(doc, 'utf8'), /FRZ004/);

    assert.equal(d.relatedInformation?.length, 1);
    const related = d.relatedInformation![0];
    assert.equal(related.location.uri, uri);
    const modelLine = lines(RESNET)[MODEL_LINE];
    assert.deepEqual(related.location.range, {
      start: { line: MODEL_LINE, character: modelLine.indexOf('models.resnet18(') },
      end: { line: MODEL_LINE, character: modelLine.length },
    });
    assert.match(related.message, /created here/);
  });

  test('the server asks for section "freezelens" scoped to the document', async () => {
    const uri = fileUri();
    await server.open(uri, RESNET);
    assert.ok(
      server.configRequests.some((r) => r.section === 'freezelens' && r.scopeUri === uri),
      JSON.stringify(server.configRequests),
    );
  });

  test('VS Code\'s default settings (with client-only keys) raise no warning', async () => {
    // The realistic answer includes diagnosticDelay and trace, which only the client reads.
    await server.open(fileUri(), RESNET);
    assert.deepEqual(
      server.messages.filter((m) => /settings/.test(m.message)),
      [],
      'no settings problem is reported for untouched defaults',
    );
  });

  test('a clean file publishes an empty list', async () => {
    const diags = await server.open(fileUri(), RESNET.replace('model.layer1.requires_grad = False', 'model.layer1.requires_grad_(False)'));
    assert.deepEqual(diags, []);
  });

  test('incremental edits: fixing the line clears the diagnostic; new lines add one at the right place', async () => {
    const uri = fileUri();
    assert.equal((await server.open(uri, RESNET)).length, 1);

    // ` = False` -> `_(False)`: the range covers `.requires_grad = False`.
    const start = 'model.layer1'.length;
    let diags = await server.change(uri, 2, [
      { range: { start: { line: FREEZE_LINE, character: start }, end: { line: FREEZE_LINE, character: start + '.requires_grad = False'.length } }, text: '.requires_grad_(False)' },
    ]);
    assert.deepEqual(diags, [], 'fixed line has no diagnostic');

    // Two changes in one notification, the second relative to the text the first leaves:
    // two header lines pushed everything down by 2, then a new bad line after the fixed one.
    const fixedLine = FREEZE_LINE + 2;
    diags = await server.change(uri, 3, [
      { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '# header\n\n' },
      {
        range: { start: { line: fixedLine, character: 'model.layer1.requires_grad_(False)'.length }, end: { line: fixedLine, character: 'model.layer1.requires_grad_(False)'.length } },
        text: '\nmodel.layer3.requires_grad = True',
      },
    ]);
    assert.equal(diags.length, 1, JSON.stringify(diags));
    assert.deepEqual(diags[0].range, { start: { line: fixedLine + 1, character: 0 }, end: { line: fixedLine + 1, character: 'model.layer3.requires_grad = True'.length } });
    assert.match(plain(diags[0].message), /`model\.layer3`/);
    assert.match(plain(diags[0].message), /nothing is unfrozen/);
    assert.equal(diags[0].relatedInformation?.[0].location.range.start.line, MODEL_LINE + 2);

    // A multi-line deletion that removes the model's creation makes `model` unknown: no finding.
    diags = await server.change(uri, 4, [{ range: { start: { line: MODEL_LINE + 2, character: 0 }, end: { line: MODEL_LINE + 3, character: 0 } }, text: '' }]);
    assert.deepEqual(diags, []);

    // Typing it back, one character at a time, brings the finding back on the right line.
    const typed = 'model = models.resnet18()\n';
    let version = 5;
    for (let i = 0; i < typed.length; i++) {
      diags = await server.change(uri, version++, [{ range: { start: { line: MODEL_LINE + 2, character: i }, end: { line: MODEL_LINE + 2, character: i } }, text: typed[i] }]);
    }
    assert.equal(diags.length, 1, JSON.stringify(diags));
    assert.equal(diags[0].range.start.line, fixedLine + 1);
  });

  test('a full-text change (no range) is applied too', async () => {
    const uri = fileUri();
    assert.equal((await server.open(uri, RESNET)).length, 1);
    const diags = await server.change(uri, 2, [{ text: `${RESNET}model.layer2.requires_grad = False\n` }]);
    assert.deepEqual(
      diags.map((d) => d.range.start.line),
      [FREEZE_LINE, FREEZE_LINE + 1],
    );
  });

  test('didClose clears the document\'s diagnostics', async () => {
    const uri = fileUri();
    assert.equal((await server.open(uri, RESNET)).length, 1);
    const diags = await server.publishAfter(uri, () => server.conn.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } }));
    assert.deepEqual(diags, []);
    assert.deepEqual(await server.codeActions(uri, { start: { line: FREEZE_LINE, character: 0 }, end: { line: FREEZE_LINE, character: 5 } }), []);
  });

  test('codeAction: a preferred quick fix that calls requires_grad_(False) and a non-preferred "Ignore FRZ004 on this line"', async () => {
    const uri = fileUri();
    const [d] = await server.open(uri, RESNET);
    const actions = await server.codeActions(uri, d.range, [d]);
    assert.equal(actions.length, 2, JSON.stringify(actions, null, 1));

    const preferred = actions.filter((a) => a.isPreferred);
    assert.equal(preferred.length, 1);
    const fix = preferred[0];
    assert.equal(fix.kind, 'quickfix');
    assert.equal(fix.title, 'Call model.layer1.requires_grad_(False)');
    assert.equal(fix.diagnostics?.[0].code, 'FRZ004');
    assert.deepEqual(fix.diagnostics?.[0].range, d.range);
    const fixed = applyEdit(uri, RESNET, fix.edit);
    assert.equal(lines(fixed)[FREEZE_LINE], 'model.layer1.requires_grad_(False)');
    assert.deepEqual(lines(fixed).filter((_, i) => i !== FREEZE_LINE), lines(RESNET).filter((_, i) => i !== FREEZE_LINE), 'nothing else changes');

    const ignore = actions.find((a) => a.title === 'Ignore FRZ004 on this line');
    assert.ok(ignore, 'the ignore action is offered');
    assert.equal(ignore.isPreferred, false);
    assert.equal(ignore.kind, 'quickfix');
    const ignored = applyEdit(uri, RESNET, ignore.edit);
    assert.equal(lines(ignored)[FREEZE_LINE], 'model.layer1.requires_grad = False  # freezelens: ignore[FRZ004]');

    // Applying the fix through an edit of the open document clears the diagnostic.
    const edit = fix.edit!.changes![uri].map((e) => ({ range: e.range, text: e.newText }));
    assert.deepEqual(await server.change(uri, 2, edit), []);
    // ... and nothing is offered any more.
    assert.deepEqual(await server.codeActions(uri, d.range), []);
  });

  test('codeAction: a cursor inside the diagnostic gets the actions, a line without one gets none', async () => {
    const uri = fileUri();
    await server.open(uri, RESNET);
    const cursor = { line: FREEZE_LINE, character: 8 };
    const actions = await server.codeActions(uri, { start: cursor, end: cursor });
    assert.equal(actions.length, 2);
    assert.deepEqual(await server.codeActions(uri, { start: { line: 0, character: 0 }, end: { line: 0, character: 3 } }), []);
  });

  test('applying "Ignore FRZ004 on this line" suppresses the diagnostic', async () => {
    const uri = fileUri();
    const [d] = await server.open(uri, RESNET);
    const actions = await server.codeActions(uri, d.range, [d]);
    const ignore = actions.find((a) => !a.isPreferred)!;
    const edit = ignore.edit!.changes![uri].map((e) => ({ range: e.range, text: e.newText }));
    assert.deepEqual(await server.change(uri, 2, edit), []);
  });

  test('suppression comments: ignore[FRZ004] and bare ignore hide it; another code or a string does not', async () => {
    const variant = (line: string) => RESNET.replace('model.layer1.requires_grad = False', line);
    assert.deepEqual(await server.open(fileUri(), variant('model.layer1.requires_grad = False  # freezelens: ignore[FRZ004]')), []);
    assert.deepEqual(await server.open(fileUri(), variant('model.layer1.requires_grad = False  # freezelens: ignore')), []);
    assert.deepEqual(await server.open(fileUri(), variant('model.layer1.requires_grad = False  # noqa  # freezelens: ignore[FRZ001, frz004]')), []);
    assert.equal((await server.open(fileUri(), variant('model.layer1.requires_grad = False  # freezelens: ignore[FRZ001]'))).length, 1);
    assert.equal((await server.open(fileUri(), variant('model.layer1.requires_grad = False; s = "# freezelens: ignore[FRZ004]"'))).length, 1);
    // On the line above it does not count.
    assert.equal((await server.open(fileUri(), variant('# freezelens: ignore[FRZ004]\nmodel.layer1.requires_grad = False'))).length, 1);
  });

  describe('notebooks', () => {
    const nbPath = () => path.join(ws, `nb${++n}.ipynb`);
    const cellUri = (nb: string, fragment: string) => `vscode-notebook-cell:${nb.split(path.sep).join('/')}#${fragment}`;

    test('a name defined in one cell is used in the next: the diagnostic is published for that cell; magics are harmless', async () => {
      const nb = nbPath();
      const nbUri = pathToFileURL(nb).toString();
      const cells = [
        { uri: cellUri(nb, 'W0sZmlsZQ%3D%3D'), languageId: 'python', text: '%matplotlib inline\nimport torch\nfrom torchvision import models\nmodel = models.resnet18()\n' },
        { uri: cellUri(nb, 'W1sZmlsZQ%3D%3D'), languageId: 'markdown', text: '# Freeze the backbone\n`model.layer4.requires_grad = False` is wrong' },
        { uri: cellUri(nb, 'W2sZmlsZQ%3D%3D'), languageId: 'python', text: '!pip install x\n%time x = 1\nmodel.layer4.requires_grad = False\n' },
      ];
      const since = server.diagnostics.length;
      await server.conn.sendNotification(DidOpenNotebookDocumentNotification.type, {
        notebookDocument: {
          uri: nbUri,
          notebookType: 'jupyter-notebook',
          version: 1,
          cells: cells.map((c) => ({ kind: c.languageId === 'python' ? NotebookCellKind.Code : NotebookCellKind.Markup, document: c.uri })),
        },
        cellTextDocuments: cells.map((c) => ({ uri: c.uri, languageId: c.languageId, version: 1, text: c.text })),
      });
      const cell2 = await server.until('cell 2 diagnostics', () => server.diagnostics.slice(since).find((p) => p.uri === cells[2].uri));
      assert.equal(cell2.diagnostics.length, 1, JSON.stringify(cell2));
      const [d] = cell2.diagnostics;
      assert.equal(d.code, 'FRZ004');
      assert.deepEqual(d.range, { start: { line: 2, character: 0 }, end: { line: 2, character: 'model.layer4.requires_grad = False'.length } });
      assert.equal(d.relatedInformation?.[0].location.uri, cells[0].uri, 'related information points into cell 1');
      assert.equal(d.relatedInformation?.[0].location.range.start.line, 3);
      // The first cell is published too, empty; the markdown cell is not analysed.
      const cell0 = server.diagnostics.slice(since).find((p) => p.uri === cells[0].uri);
      assert.deepEqual(cell0?.diagnostics, []);
      assert.equal(server.diagnostics.slice(since).find((p) => p.uri === cells[1].uri), undefined);

      // Code actions work on the cell URI.
      const actions = await server.codeActions(cells[2].uri, d.range, [d]);
      const fix = actions.find((a) => a.isPreferred)!;
      assert.equal(lines(applyEdit(cells[2].uri, cells[2].text, fix.edit))[2], 'model.layer4.requires_grad_(False)');

      // A text change in cell 2 that fixes the line clears it...
      const at = 'model.layer4'.length;
      const changeCell = (version: number, uri: string, changes: TextDocumentContentChangeEvent[]) =>
        server.publishAfter(uri, () =>
          server.conn.sendNotification(DidChangeNotebookDocumentNotification.type, {
            notebookDocument: { uri: nbUri, version },
            change: { cells: { textContent: [{ document: { uri, version }, changes }] } },
          }),
        );
      let diags = await changeCell(2, cells[2].uri, [{ range: { start: { line: 2, character: at }, end: { line: 2, character: at + '.requires_grad = False'.length } }, text: '.requires_grad_(False)' }]);
      assert.deepEqual(diags, []);
      // ...and a change in cell 1 that adds a second frozen-nothing line is reported in cell 1.
      diags = await changeCell(3, cells[0].uri, [{ range: { start: { line: 4, character: 0 }, end: { line: 4, character: 0 } }, text: 'model.fc.requires_grad = False\n' }]);
      assert.equal(diags.length, 1);
      assert.equal(diags[0].range.start.line, 4);

      // Deleting cell 1 (which defines `model`) leaves cell 2 with nothing to judge, and clears cell 1.
      const sinceDelete = server.diagnostics.length;
      await server.conn.sendNotification(DidChangeNotebookDocumentNotification.type, {
        notebookDocument: { uri: nbUri, version: 4 },
        change: { cells: { structure: { array: { start: 0, deleteCount: 1 }, didClose: [{ uri: cells[0].uri }] } } },
      });
      const cleared = await server.until('removed cell cleared', () => server.diagnostics.slice(sinceDelete).find((p) => p.uri === cells[0].uri));
      assert.deepEqual(cleared.diagnostics, []);
      const actionsAfter = await server.codeActions(cells[0].uri, { start: { line: 4, character: 0 }, end: { line: 4, character: 1 } });
      assert.deepEqual(actionsAfter, []);
    });

    test('a %%bash cell magic hides its body; a %%time cell is still Python', async () => {
      const nb = nbPath();
      const nbUri = pathToFileURL(nb).toString();
      const cells = [
        { uri: cellUri(nb, 'A'), text: 'from torchvision import models\nmodel = models.resnet18()' },
        { uri: cellUri(nb, 'B'), text: '%%bash\nmodel.layer1.requires_grad = False' },
        { uri: cellUri(nb, 'C'), text: '%%time\nmodel.layer2.requires_grad = False' },
      ];
      const since = server.diagnostics.length;
      await server.conn.sendNotification(DidOpenNotebookDocumentNotification.type, {
        notebookDocument: { uri: nbUri, notebookType: 'jupyter-notebook', version: 1, cells: cells.map((c) => ({ kind: NotebookCellKind.Code, document: c.uri })) },
        cellTextDocuments: cells.map((c) => ({ uri: c.uri, languageId: 'python', version: 1, text: c.text })),
      });
      const c = await server.until('cell C', () => server.diagnostics.slice(since).find((p) => p.uri === cells[2].uri));
      const b = server.diagnostics.slice(since).find((p) => p.uri === cells[1].uri);
      assert.deepEqual(b?.diagnostics, []);
      assert.equal(c.diagnostics.length, 1);
      assert.equal(c.diagnostics[0].range.start.line, 1);
    });
  });
});

describe('configuration', () => {
  let server: Server;
  let ws: string;
  let n = 0;
  const fileUri = (rel = `doc${++n}.py`) => pathToFileURL(path.join(ws, rel)).toString();

  before(async () => {
    ws = makeWorkspace('freezelens-cfg-');
    server = await Server.start({ debounceMs: 0 });
  });
  after(async () => {
    try {
      await server?.stop();
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });

  test('settings ignore: ["FRZ004"] silences the rule', async () => {
    const uri = fileUri();
    server.settings.set(uri, { ignore: ['FRZ004'] });
    assert.deepEqual(await server.open(uri, RESNET), []);
  });

  test('settings select: ["FRZ0"] (a prefix) keeps it; severity "off" silences it', async () => {
    const a = fileUri();
    server.settings.set(a, { select: ['FRZ0'] });
    assert.equal((await server.open(a, RESNET)).length, 1);
    const b = fileUri();
    server.settings.set(b, { severity: { FRZ004: 'off' } });
    assert.deepEqual(await server.open(b, RESNET), []);
  });

  test('settings severity: { FRZ004: "error" } makes it an error', async () => {
    const uri = fileUri();
    server.settings.set(uri, { severity: { FRZ004: 'error' } });
    const diags = await server.open(uri, RESNET);
    assert.equal(diags.length, 1);
    assert.equal(diags[0].severity, DiagnosticSeverity.Error);
  });

  test('a bad setting is one warning naming freezelens.select, and the defaults still apply', async () => {
    const uri = fileUri();
    server.settings.set(uri, { select: 'FRZ004' });
    const since = server.messages.length;
    const diags = await server.open(uri, RESNET);
    const message = await server.until('showMessage', () => server.messages.slice(since).find((m) => m.message.includes('freezelens.select')));
    assert.equal(message.type, MessageType.Warning);
    assert.match(message.message, /`freezelens\.select`/);
    assert.match(message.message, /list of rule codes/);
    assert.equal(diags.length, 1, 'the rule still runs with default configuration');
    assert.equal(diags[0].severity, DiagnosticSeverity.Warning);

    // The same problem on another edit is not shown again.
    await server.change(uri, 2, [{ text: RESNET + '\n' }]);
    assert.equal(server.messages.filter((m) => m.message.includes('freezelens.select')).length, 1);
  });

  test('workspace/didChangeConfiguration re-reads settings and republishes open documents', async () => {
    const uri = fileUri();
    assert.equal((await server.open(uri, RESNET)).length, 1);
    server.settings.set(uri, { severity: { FRZ004: 'hint' } });
    const diags = await server.publishAfter(uri, () => server.conn.sendNotification(DidChangeConfigurationNotification.type, { settings: null }));
    assert.equal(diags.length, 1);
    assert.equal(diags[0].severity, DiagnosticSeverity.Hint);
  });

  test('pyproject.toml [tool.freezelens] ignore beside the file (and above it) silences the rule', async () => {
    write(path.join(ws, 'quiet', 'pyproject.toml'), '[tool.freezelens]\nignore = ["FRZ004"]\n');
    assert.deepEqual(await server.open(fileUri('quiet/train.py'), RESNET), []);
    assert.deepEqual(await server.open(fileUri('quiet/pkg/sub/train.py'), RESNET), []);
  });

  test('pyproject.toml severity table applies; a setting replaces the pyproject value', async () => {
    write(path.join(ws, 'sev', 'pyproject.toml'), '[tool.freezelens]\nignore = ["FRZ004"]\n\n[tool.freezelens.severity]\nFRZ004 = "info"\n');
    const uri = fileUri('sev/train.py');
    server.settings.set(uri, { ignore: [] });
    const diags = await server.open(uri, RESNET);
    assert.equal(diags.length, 1, 'settings ignore: [] replaces the pyproject ignore list');
    assert.equal(diags[0].severity, DiagnosticSeverity.Information);
  });

  test('pyproject.toml exclude: matching files get no diagnostics, others do', async () => {
    write(path.join(ws, 'ex', 'pyproject.toml'), '[tool.freezelens]\nexclude = ["legacy/**", "gen_*.py"]\n');
    assert.deepEqual(await server.open(fileUri('ex/legacy/old/train.py'), RESNET), []);
    assert.deepEqual(await server.open(fileUri('ex/gen_model.py'), RESNET), []);
    assert.equal((await server.open(fileUri('ex/train.py'), RESNET)).length, 1);
    assert.equal((await server.open(fileUri('ex/src/legacy.py'), RESNET)).length, 1);
  });

  test('settings exclude is relative to the pyproject folder', async () => {
    const uri = fileUri('scripts/gen/a.py');
    server.settings.set(uri, { exclude: ['scripts/gen'] });
    assert.deepEqual(await server.open(uri, RESNET), []);
  });

  test('invalid TOML gives one clear message naming tool.freezelens, and the defaults apply', async () => {
    const toml = path.join(ws, 'broken', 'pyproject.toml');
    write(toml, '[tool.freezelens]\nignore = ["FRZ004"\n');
    const since = server.messages.length;
    const a = await server.open(fileUri('broken/a.py'), RESNET);
    const b = await server.open(fileUri('broken/sub/b.py'), RESNET);
    assert.equal(a.length, 1, 'defaults: the rule runs');
    assert.equal(b.length, 1);
    const about = server.messages.slice(since).filter((m) => m.message.includes(toml));
    assert.equal(about.length, 1, JSON.stringify(server.messages.slice(since)));
    assert.equal(about[0].type, MessageType.Warning);
    assert.match(about[0].message, /`tool\.freezelens`/);
    assert.match(about[0].message, /not valid TOML at line \d+, column \d+/);
  });

  test('a changed pyproject.toml is picked up after workspace/didChangeWatchedFiles', async () => {
    const toml = path.join(ws, 'watched', 'pyproject.toml');
    write(toml, '[tool.freezelens]\n');
    const uri = fileUri('watched/train.py');
    assert.equal((await server.open(uri, RESNET)).length, 1);
    write(toml, '[tool.freezelens]\nignore = ["FRZ004"]\n');
    const diags = await server.publishAfter(uri, () =>
      server.conn.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: pathToFileURL(toml).toString(), type: FileChangeType.Changed }] }),
    );
    assert.deepEqual(diags, []);
  });
});

describe('debounce', () => {
  test('several quick edits are analysed once, after the delay, on the final text', async () => {
    const ws = makeWorkspace('freezelens-debounce-');
    let started: Server | undefined;
    try {
      const server = (started = await Server.start({ debounceMs: 300 }));
      const uri = pathToFileURL(path.join(ws, 'typing.py')).toString();
      const clean = RESNET.replace('model.layer1.requires_grad = False', '');
      await server.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'python', version: 1, text: clean } });
      const typed = 'model.layer1.requires_grad = False';
      const chunks = ['model.lay', 'er1.requires', '_grad = ', 'False'];
      let col = 0;
      let version = 2;
      let lastSent = 0;
      for (const chunk of chunks) {
        await new Promise((r) => setTimeout(r, 20));
        await server.conn.sendNotification(DidChangeTextDocumentNotification.type, {
          textDocument: { uri, version: version++ },
          contentChanges: [{ range: { start: { line: FREEZE_LINE, character: col }, end: { line: FREEZE_LINE, character: col } }, text: chunk }],
        });
        lastSent = performance.now();
        col += chunk.length;
      }
      assert.equal(col, typed.length);
      const first = await server.until('the debounced publish', () => server.diagnostics.find((p) => p.uri === uri));
      const waited = performance.now() - lastSent;
      assert.ok(waited >= 250, `published ${waited.toFixed(0)} ms after the last edit; expected about 300`);
      assert.equal(first.diagnostics.length, 1, 'the analysis saw the final text');
      assert.equal(first.diagnostics[0].range.start.line, FREEZE_LINE);
      // Nothing else arrives for this document.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(server.diagnostics.filter((p) => p.uri === uri).length, 1, 'one publish for open + 4 edits');
    } finally {
      await started?.stop();
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });
});
