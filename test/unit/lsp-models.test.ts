// Model structure over the language server: the freezelens/modelTree and
// freezelens/workspaceModels requests, hover counts, and scripts analysed
// again when a workspace module they import changes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DidChangeWatchedFilesNotification, FileChangeType, HoverRequest } from 'vscode-languageserver-protocol';
import { MODEL_TREE_REQUEST, WORKSPACE_MODELS_REQUEST, type ModelTreeResult, type WorkspaceModelsResult } from '../../server/src/protocol';
import { Server } from './lspServer';
import { py } from './helpers';

let dir: string;
let server: Server;
const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/onnx');

const MAIN = py`
  import torch
  import torch.nn as nn
  from torchvision import models
  from helpers import freeze

  model = models.resnet18(weights="DEFAULT")
  model.fc = nn.Linear(512, 10)
  freeze(model.layer1)
  model.layer4
  optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
  for x, y in loader:
      optimizer.zero_grad()
      nn.functional.cross_entropy(model(x), y).backward()
      optimizer.step()
`;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-lsp-models-'));
  fs.writeFileSync(path.join(dir, 'helpers.py'), py`
    def freeze(module):
        for p in module.parameters():
            p.requires_grad = False
  `);
  fs.writeFileSync(path.join(dir, 'nets.py'), py`
    import torch.nn as nn

    class Backbone(nn.Module):
        pass

    class Tuned(Backbone):
        pass

    class Config:
        """Not a module."""
  `);
  fs.writeFileSync(path.join(dir, 'main.py'), MAIN);
  // An export made by another script, of a model built by `build_tagger`.
  fs.mkdirSync(path.join(dir, 'exports'));
  fs.copyFileSync(path.join(FIXTURES, 'tiny_transformer.preserve.onnx'), path.join(dir, 'exports', 'tagger.onnx'));
  fs.copyFileSync(path.join(FIXTURES, 'tiny_cnn.preserve.onnx'), path.join(dir, 'exports', 'cnn.onnx'));
  fs.writeFileSync(path.join(dir, 'export_tagger.py'), 'import torch\nfrom zoo import build_tagger\nmodel = build_tagger()\ntorch.onnx.export(model, x, "exports/tagger.onnx")\n');
  server = await Server.start({ debounceMs: 0 }, [{ uri: pathToFileURL(dir).href, name: 'w' }]);
});

after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('freezelens/modelTree: exact counts and each module\'s flag and mode at the end of the script', async () => {
  const uri = pathToFileURL(path.join(dir, 'main.py')).href;
  await server.open(uri, MAIN);
  const result = (await server.conn.sendRequest(MODEL_TREE_REQUEST, { uri })) as ModelTreeResult;
  assert.equal(result.analysed, true);
  assert.equal(result.models.length, 1);
  const m = result.models[0];
  assert.equal(m.name, 'model');
  assert.equal(m.source, 'catalog');
  assert.equal(m.totalParams, 11_181_642);
  // layer1 (147,968 params) frozen through the imported helper.
  assert.equal(m.trainableParams, 11_181_642 - 147_968);
  const find = (p: string) => {
    const walk = (n: typeof m.root): typeof m.root | undefined => (n.path === p ? n : n.children.map(walk).find(Boolean));
    return walk(m.root)!;
  };
  assert.equal(find('layer1.0.conv1').trainable, false);
  assert.equal(find('layer2.0.conv1').trainable, true);
  assert.equal(find('layer1.0.bn1').batchNorm, true);
  assert.equal(find('fc').params, 5_130);
  assert.equal(m.range?.start.line, 5);

  const notOpen = (await server.conn.sendRequest(MODEL_TREE_REQUEST, { uri: pathToFileURL(path.join(dir, 'other.py')).href })) as ModelTreeResult;
  assert.deepEqual(notOpen, { uri: pathToFileURL(path.join(dir, 'other.py')).href, analysed: false, models: [] });

  const line = MAIN.split('\n').findIndex((l) => l === 'model.layer4');
  const hover = (await server.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character: 8 } })) as { contents: { value: string } } | null;
  assert.match(hover?.contents.value ?? '', /`model\.layer4`.*trains 8,393,728 of 8,393,728 params \(100\.00%\)/);
});

test('freezelens/workspaceModels lists the nn.Module classes of the workspace, through workspace base classes', async () => {
  // The index is built just after start-up: poll until it has the four files.
  let models: WorkspaceModelsResult | undefined;
  for (let i = 0; i < 50; i++) {
    models = (await server.conn.sendRequest(WORKSPACE_MODELS_REQUEST)) as WorkspaceModelsResult;
    if (models.files >= 4) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(models?.files, 4);
  assert.deepEqual(models?.classes.map((c) => c.name).sort(), ['Backbone', 'Tuned']);
  const tuned = models!.classes.find((c) => c.name === 'Tuned')!;
  assert.equal(tuned.uri, pathToFileURL(path.join(dir, 'nets.py')).href);
  assert.equal(tuned.line, 5);

  // A file added on disk is indexed when the client reports it.
  fs.writeFileSync(path.join(dir, 'heads.py'), 'import torch.nn as nn\n\nclass Head(nn.Linear):\n    pass\n\nclass Probe(nn.Module):\n    pass\n');
  await server.conn.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: pathToFileURL(path.join(dir, 'heads.py')).href, type: FileChangeType.Created }] });
  const after = (await server.conn.sendRequest(WORKSPACE_MODELS_REQUEST)) as WorkspaceModelsResult;
  assert.deepEqual(after.classes.map((c) => c.name).sort(), ['Backbone', 'Probe', 'Tuned']);
});

test('a script is analysed again when a workspace module it imports changes on disk', async () => {
  const uri = pathToFileURL(path.join(dir, 'main.py')).href;
  await server.until('main.py published', () => (server.diagnostics.some((d) => d.uri === uri) ? true : undefined));
  // The helper now freezes nothing: main.py is published again without anyone touching it.
  fs.writeFileSync(path.join(dir, 'helpers.py'), 'def freeze(module):\n    pass\n');
  await server.publishAfter(uri, () =>
    server.conn.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: pathToFileURL(path.join(dir, 'helpers.py')).href, type: FileChangeType.Changed }] }),
  );
  const result = (await server.conn.sendRequest(MODEL_TREE_REQUEST, { uri })) as ModelTreeResult;
  assert.equal(result.models[0].trainableParams, 11_181_642);
});

test('.onnx files of the workspace get their diagnostics in the Problems panel, and again when they change', async () => {
  const fixtures = path.join(__dirname, '../../../test/fixtures/onnx');
  const onnxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-lsp-onnx-'));
  const other = await Server.start({ debounceMs: 0 }, [{ uri: pathToFileURL(onnxDir).href, name: 'onnx' }]);
  try {
    const uri = pathToFileURL(path.join(onnxDir, 'cnn.onnx')).href;
    // Waits until the newest diagnostics published for the file have these codes (the start-up scan may publish too).
    const published = (codes: string[]) =>
      other.until(`diagnostics ${codes.join(',') || '(none)'} for cnn.onnx`, () => {
        const last = [...other.diagnostics].reverse().find((d) => d.uri === uri);
        return last && JSON.stringify(last.diagnostics.map((d) => d.code)) === JSON.stringify(codes) ? last.diagnostics : undefined;
      });
    const changed = (type: FileChangeType) => other.conn.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri, type }] });
    fs.copyFileSync(path.join(fixtures, 'tiny_cnn.training.onnx'), path.join(onnxDir, 'cnn.onnx'));
    await changed(FileChangeType.Created);
    const first = await published(['FRZ101', 'FRZ102']);
    assert.match(String(first[0].codeDescription?.href), /docs\/rules\/FRZ101\.md$/);
    fs.copyFileSync(path.join(fixtures, 'tiny_cnn.preserve.onnx'), path.join(onnxDir, 'cnn.onnx'));
    await changed(FileChangeType.Changed);
    await published([]);
    fs.writeFileSync(path.join(onnxDir, 'cnn.onnx'), Buffer.from([0x3a, 0xff, 0xff]));
    await changed(FileChangeType.Changed);
    await published(['FRZ105']);
    assert.equal(other.alive, true);
  } finally {
    await other.stop();
    fs.rmSync(onnxDir, { recursive: true, force: true });
  }
});

test('an ONNX export describes a model the code cannot show: by the models setting, or by an export elsewhere in the workspace', async () => {
  const treeOf = async (name: string, text: string) => {
    const uri = pathToFileURL(path.join(dir, name)).href;
    await server.open(uri, text);
    return ((await server.conn.sendRequest(MODEL_TREE_REQUEST, { uri })) as ModelTreeResult).models;
  };
  const configured = pathToFileURL(path.join(dir, 'configured.py')).href;
  server.settings.set(configured, { models: { 'configured.py': 'exports/cnn.onnx' } });
  const bySetting = await treeOf('configured.py', 'from zoo import build\nmodel = build("cnn")\nmodel.train()\n');
  assert.deepEqual(bySetting.map((m) => [m.name, m.source, m.totalParams]), [['model', 'onnx', 1_517]]);
  const byExport = await treeOf('tagger_train.py', 'import zoo\nnet = zoo.build_tagger()\nnet.train()\n');
  assert.deepEqual(byExport.map((m) => [m.name, m.source, m.totalParams]), [['net', 'onnx', 3_107]]);
  // Neither: a model built by something no export knows stays unknown.
  assert.deepEqual(await treeOf('unknown.py', 'import zoo\nnet = zoo.build_other()\nnet.train()\n'), []);
});
