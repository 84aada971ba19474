// The planner's model and its server side: the state the view shows (checkbox
// states, counts per module, edits), the plan a script already has, where the
// code goes in a script, and the language server's planner requests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CodeLensRequest } from 'vscode-languageserver-protocol';
import { PlannerState, scriptPlan } from '../../client/src/planner/plannerState';
import { analyze } from '../../server/src/analysis/analyze';
import { catalogReport } from '../../server/src/engine/models';
import { scriptPlanModels } from '../../server/src/engine/planModels';
import { catalogTarget, targetOf } from '../../server/src/engine/planTarget';
import { SourceUnit } from '../../server/src/python/sourceUnit';
import { CATALOG_MODEL_REQUEST, CATALOG_NAMES_REQUEST, PLAN_MODELS_REQUEST, type PlanModel, type PlanModelsResult } from '../../server/src/protocol';
import { py } from './helpers';
import { Server } from './lspServer';

const SCRIPT = py`
  import torch
  import torch.nn as nn
  from torchvision import models

  model = models.resnet18(weights="DEFAULT")
  model.fc = nn.Linear(model.fc.in_features, 10)
  model.layer1.requires_grad_(False)

  optimizer = torch.optim.AdamW(
      model.parameters(), lr=1e-3
  )
  for x, y in loader:
      model.train()
`;

function planModelOf(source: string): PlanModel {
  const program = { id: 'train.py', units: [new SourceUnit('train.py', source)] };
  const [m] = scriptPlanModels(analyze(program).timeline, program);
  return { key: 'k', name: m.report.name, source: m.report.source, totalParams: m.report.totalParams, root: m.report.root, pretrained: m.pretrained, headPath: m.headPath, style: m.style, notes: m.notes };
}

test('the plan a script already has: its frozen modules, minimal; the new head; the code goes in place of the optimizer', () => {
  const program = { id: 'train.py', units: [new SourceUnit('train.py', SCRIPT)] };
  const [m] = scriptPlanModels(analyze(program).timeline, program);
  assert.equal(m.headPath, 'fc');
  assert.equal(m.pretrained, true);
  assert.deepEqual(m.style, { model: 'model', optimizer: 'optimizer', nn: 'nn', torch: 'torch' });
  // The whole three-line optimizer statement is replaced.
  assert.equal(SCRIPT.slice(m.replace!.from, m.replace!.to), 'optimizer = torch.optim.AdamW(\n    model.parameters(), lr=1e-3\n)');
  assert.deepEqual(scriptPlan(planModelOf(SCRIPT)).frozen, ['layer1']);
  // Without an optimizer: after the last statement that changes the model (the new head, the freezing line).
  const noOpt = SCRIPT.slice(0, SCRIPT.indexOf('optimizer ='));
  const program2 = { id: 'train.py', units: [new SourceUnit('train.py', noOpt)] };
  const [m2] = scriptPlanModels(analyze(program2).timeline, program2);
  assert.equal(m2.replace, undefined);
  assert.equal(noOpt.slice(0, m2.insertAt!.offset).trimEnd().split('\n').pop(), 'model.layer1.requires_grad_(False)');
  // Built inside a function: no place in the script to put the code (it can still be copied).
  const inFunction = 'import torchvision\n\ndef main():\n    model = torchvision.models.resnet18()\n    return model\n\nnet = main()\n';
  const program3 = { id: 'f.py', units: [new SourceUnit('f.py', inFunction)] };
  for (const m3 of scriptPlanModels(analyze(program3).timeline, program3)) assert.equal(m3.replace ?? m3.insertAt, undefined);
});

test('planner state: checkbox states and counts per module follow the plan; edits are the checkbox semantics', () => {
  const model = planModelOf(SCRIPT);
  const s = new PlannerState(model);
  const node = (p: string) => s.node(p)!;
  assert.equal(s.state(node('layer1')), 'frozen');
  assert.equal(s.state(node('layer2')), 'trainable');
  assert.equal(s.state(node('')), 'mixed');
  assert.equal(s.frozen(node('')), 147_968);
  assert.equal(s.summary.trainableParams, 11_181_642 - 147_968);
  s.setFrozen('layer2.0', true);
  assert.equal(s.state(node('layer2')), 'mixed');
  assert.equal(s.frozen(node('layer2')), s.total(node('layer2.0')));
  s.setFrozen('layer2.1', true);
  // Both blocks frozen: layer2 as a whole.
  assert.deepEqual([...s.plan.frozen].sort(), ['layer1', 'layer2']);
  assert.equal(s.state(node('layer2')), 'frozen');
  s.applyPreset('linear-probe');
  assert.equal(s.summary.trainableParams, 5_130);
  s.configure({ optimizer: 'sgd', lr: 0.01 });
  assert.equal(s.summary.trainingStateBytes, 5_130 * 4 * 2);
  assert.deepEqual(s.plan.frozen, ['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4']);
  // Modules without parameters have no checkbox state of their own.
  assert.equal(s.state(node('relu')), 'empty');
});

test('what the planner cannot see is said: parts built where the analysis cannot follow, sizes it does not know', () => {
  const target = targetOf({ ...catalogReport('resnet18')!, root: { ...catalogReport('resnet18')!.root, partial: true } }, '');
  assert.match(target.notes.join(' '), /cannot follow/);
  assert.deepEqual(catalogTarget('resnet18')!.notes, []);
});

let dir: string;
let server: Server;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freezelens-planner-'));
  fs.writeFileSync(path.join(dir, 'train.py'), SCRIPT);
  server = await Server.start({ debounceMs: 0 }, [{ uri: pathToFileURL(dir).href, name: 'w' }]);
});
after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('language server: planModels with the edit position, catalog names and models, and the Open Freeze Planner lens', async () => {
  const uri = pathToFileURL(path.join(dir, 'train.py')).href;
  await server.open(uri, SCRIPT);
  const result = (await server.conn.sendRequest(PLAN_MODELS_REQUEST, { uri })) as PlanModelsResult;
  assert.equal(result.analysed, true);
  const [m] = result.models;
  assert.equal(m.key, `${uri}#model`);
  assert.equal(m.headPath, 'fc');
  assert.deepEqual(m.edit, { uri, replace: { start: { line: 8, character: 0 }, end: { line: 10, character: 1 } } });
  const names = (await server.conn.sendRequest(CATALOG_NAMES_REQUEST)) as string[];
  assert.ok(names.includes('resnet18') && names.includes('vit_b_16'));
  const vit = (await server.conn.sendRequest(CATALOG_MODEL_REQUEST, { name: 'vit_b_16' })) as PlanModel;
  assert.equal(vit.totalParams, 86_567_656);
  assert.equal(vit.pretrained, true);
  assert.equal(await server.conn.sendRequest(CATALOG_MODEL_REQUEST, { name: 'no-such-net' }), null);
  const lenses = await server.conn.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
  const open = lenses?.find((l) => l.command?.command === 'freezelens.openPlanner');
  assert.deepEqual(open?.command?.arguments, [uri, 'model']);
  assert.equal(open?.range.start.line, 4);
  const onnx = pathToFileURL(path.resolve(__dirname, '../../../test/fixtures/onnx/tiny_cnn.preserve.onnx')).href;
  const fromOnnx = (await server.conn.sendRequest(PLAN_MODELS_REQUEST, { uri: onnx })) as PlanModelsResult;
  assert.equal(fromOnnx.models[0].totalParams, 1_517);
  assert.equal(fromOnnx.models[0].source, 'onnx');
});
