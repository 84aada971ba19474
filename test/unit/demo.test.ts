// The embedded demo (examples/experiment/): `freezelens experiment` with no
// arguments trains four strategies on the pretrained shapes CNN and its
// target data, and the results show what transfer learning predicts: the
// linear probe (cached prefix) is the fastest per epoch, retraining the
// last stage beats it on accuracy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { ExperimentEvent } from '../../server/src/experiment/engine';

const ROOT = path.resolve(__dirname, '../../..');

test('freezelens experiment without arguments runs the demo, with the expected ordering', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/freezelens.js'), 'experiment', '--json', '-'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^The demo: a small CNN pretrained on synthetic shapes/);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ExperimentEvent);
  const start = events[0] as Extract<ExperimentEvent, { type: 'start' }>;
  assert.equal(start.type, 'start');
  assert.deepEqual([start.dataset.kind, start.dataset.samples, start.dataset.classes, start.dataset.shape], ['image-folder', 400, ['half_disc', 'hexagon_outline', 'pentagon', 'star', 'x_cross'], [3, 32, 32]]);
  const end = new Map(events.filter((e): e is Extract<ExperimentEvent, { type: 'end' }> => e.type === 'end').map((e) => [e.strategy, e]));
  assert.deepEqual([...end.keys()], ['linear-probe', 'freeze-to:layer2', 'gradual:1', 'full']);
  const probe = end.get('linear-probe')!;
  const lastStage = end.get('freeze-to:layer2')!;
  assert.equal(probe.cached, true);
  assert.deepEqual([probe.trainableParams, lastStage.trainableParams, end.get('full')!.trainableParams], [325, 65_093, 105_589]);
  for (const [name, e] of end) if (name !== 'linear-probe') assert.ok(probe.msPerEpoch < e.msPerEpoch, `linear probe ${probe.msPerEpoch} ms/epoch, ${name} ${e.msPerEpoch}`);
  assert.ok(lastStage.valAcc > probe.valAcc, `freeze-to:layer2 ${lastStage.valAcc} vs linear probe ${probe.valAcc}`);
  // Transfer works at all: the probe on pretrained features is far above chance (20%).
  assert.ok(probe.valAcc > 0.8, `linear probe ${probe.valAcc}`);
});
