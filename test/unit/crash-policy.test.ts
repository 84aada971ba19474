import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashPolicy } from '../../client/src/crashPolicy';

test('the user hears once about restarts, once more when the server is given up on', () => {
  let now = 0;
  const policy = new CrashPolicy(5, 180_000, () => now);
  const decisions = Array.from({ length: 5 }, () => {
    now += 1000;
    return policy.onServerClosed();
  });
  assert.deepEqual(decisions.map((d) => d.restart), [true, true, true, true, false]);
  assert.deepEqual(decisions.map((d) => !!d.notify), [true, false, false, false, true]);
  assert.match(decisions[4].notify!, /crashed 5 times/);
});

test('crashes spread out over time keep restarting quietly', () => {
  let now = 0;
  const policy = new CrashPolicy(5, 180_000, () => now);
  for (let i = 0; i < 20; i++) {
    now += 60_000;
    const d = policy.onServerClosed();
    assert.equal(d.restart, true);
    assert.equal(!!d.notify, i === 0);
  }
});

test('reset after a manual restart makes the next crash visible again', () => {
  const policy = new CrashPolicy();
  policy.onServerClosed();
  policy.reset();
  assert.ok(policy.onServerClosed().notify);
});
