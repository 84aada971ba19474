// Runtime oracle for the rule fixtures: runs every script in
// test/fixtures/rules/ with real PyTorch (see run-fixtures.mjs) and checks
//   - that the fixture set covers every rule and has enough clean traps;
//   - that every labelled finding's runtime symptom really occurs;
//   - that clean fixtures show no symptom at all, and that buggy ones show
//     none their labels do not explain;
//   - that FreezeLens's own findings (the CLI, run over the same fixtures) are
//     backed by the runtime symptom each claims, at the finding's line where the
//     oracle can locate the cause; and it prints how many of the labelled
//     symptoms FreezeLens found (recall is reported, never asserted);
//   - that the oracle itself notices the symptoms: a few clean fixtures,
//     mutated by one line each, must show the symptom of the bug introduced.
//
//   npm run test:oracle                            (all, about 3-5 min on 2 cores)
//   FREEZELENS_ORACLE_ONLY=a.py,b.ipynb node --test test/oracle/oracle.test.mjs
//
// Needs torch + torchvision under /usr/bin/python3 (scripts/oracle-setup.sh).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { formatTable, judgeFindings, recallOf, runFreezeLens } from './findings.mjs';
import { EVIDENCE, FIXTURE_DIR, checkPython, evaluate, loadFixtures, parseFixture, runFixtures } from './run-fixtures.mjs';

const ONLY = (process.env.FREEZELENS_ORACLE_ONLY ?? '').split(',').filter(Boolean);
const fixtures = loadFixtures(ONLY);
const RULES = ['FRZ001', 'FRZ002', 'FRZ003', 'FRZ004', 'FRZ005', 'FRZ006', 'FRZ007', 'FRZ008', 'FRZ009', 'FRZ010',
  'FRZ011', 'FRZ012', 'FRZ013', 'FRZ014', 'FRZ015', 'FRZ016', 'FRZ017'];
const HOUR = 60 * 60 * 1000;

describe('fixture set', { skip: ONLY.length > 0 && 'subset selected' }, () => {
  test('has at least 80 fixtures, a third of them clean, and some notebooks', () => {
    assert.ok(fixtures.length >= 80, `${fixtures.length} fixtures`);
    const clean = fixtures.filter((f) => f.clean).length;
    assert.ok(clean * 3 >= fixtures.length, `${clean} clean of ${fixtures.length}`);
    assert.ok(fixtures.filter((f) => f.notebook).length >= 3, 'notebooks');
  });

  test('every rule has at least 3 positive fixtures', () => {
    const counts = Object.fromEntries(RULES.map((r) => [r, 0]));
    for (const fx of fixtures) for (const r of new Set(fx.labels.map((l) => l.rule))) counts[r] = (counts[r] ?? 0) + 1;
    const short = RULES.filter((r) => counts[r] < 3).map((r) => `${r}=${counts[r]}`);
    assert.deepEqual(short, [], 'rules with fewer than 3 positive fixtures');
  });

  test('every fixture documents its scenario: "Bug:" for buggy ones, "Traps:" for clean ones', () => {
    const bad = fixtures
      .filter((fx) => !fx.docstring.trim() || !(fx.clean ? /\bTraps:/ : /\bBug\b[^:]*:/).test(fx.docstring))
      .map((fx) => fx.name);
    assert.deepEqual(bad, []);
  });

  test('labels name known rules and sit on code lines', () => {
    const bad = [];
    for (const fx of fixtures) {
      const lines = fx.script.split('\n');
      for (const l of [...fx.labels, ...fx.tolerated]) {
        if (!/^FRZ0(0[1-9]|1[0-7])$/.test(l.rule)) bad.push(`${fx.name}: unknown ${l.rule}`);
        const code = lines[l.scriptLine - 1].replace(/#.*$/, '').trim();
        if (!code) bad.push(`${fx.name}:${l.line}: label on a comment-only line`);
      }
    }
    assert.deepEqual(bad, []);
  });
});

describe('oracle run', () => {
  let results;
  before(async () => {
    checkPython();
    results = await runFixtures(fixtures);
  }, { timeout: HOUR });

  describe('labelled symptoms occur', () => {
    for (const fx of fixtures.filter((f) => !f.clean)) {
      test(fx.name, { skip: fx.skip ?? false }, () => {
        const v = evaluate(fx, results.get(fx.name));
        assert.deepEqual([...v.run, ...v.unconfirmed], [], `${fx.name}\n  ${v.confirmed.join('\n  ')}`);
      });
    }
  });

  describe('clean fixtures show no symptom', () => {
    for (const fx of fixtures.filter((f) => f.clean)) {
      test(fx.name, { skip: fx.skip ?? false }, () => {
        const v = evaluate(fx, results.get(fx.name));
        assert.deepEqual([...v.run, ...v.unexplained], []);
      });
    }
  });

  describe('buggy fixtures show no symptom their labels do not explain', () => {
    for (const fx of fixtures.filter((f) => !f.clean)) {
      test(fx.name, { skip: fx.skip ?? false }, () => {
        assert.deepEqual(evaluate(fx, results.get(fx.name)).unexplained, []);
      });
    }
  });

  describe('FreezeLens findings are backed by runtime symptoms', () => {
    let cli;
    before(() => {
      // Judge the analysis for the torch that actually ran the fixtures.
      const torch = [...results.values()].find((r) => r.report?.torch)?.report.torch;
      cli = runFreezeLens(fixtures, torch);
    });

    for (const fx of fixtures) {
      test(fx.name, { skip: fx.skip ?? false }, () => {
        const { failures } = judgeFindings(fx, results.get(fx.name), cli.findings.get(fx.name));
        assert.deepEqual(failures, [], 'findings that the runtime does not back (a false finding, or one at the wrong line)');
      });
    }

    // A judge that passed everything would make the tests above vacuous.
    const JUDGED = 'frz006_two_stage_set_to_none_false.py';
    test('the judge rejects a finding without its symptom and one away from the cause', {
      skip: !fixtures.some((f) => f.name === JUDGED) && 'subset selected',
    }, () => {
      const fx = fixtures.find((f) => f.name === JUDGED);
      const res = results.get(JUDGED);
      const label = fx.labels.find((l) => l.rule === 'FRZ006').line;
      const causes = EVIDENCE.FRZ006(res.report).flatMap((e) => e.lines ?? []);
      const elsewhere = res.report.executed_lines.find((l) => !causes.includes(l));
      const status = (rule, line) =>
        judgeFindings(fx, res, [{ rule, line, endLine: line, severity: 'warning', message: 'fabricated' }]).judged[0].status;
      assert.equal(status('FRZ006', label), 'line');
      assert.equal(status('FRZ006', elsewhere), 'elsewhere');
      assert.equal(status('FRZ002', label), 'unbacked');
    });

    test('findings vs symptoms per rule (recall is reported, not asserted)', () => {
      const judged = [];
      const recall = [];
      for (const fx of fixtures.filter((f) => !f.skip)) {
        const found = cli.findings.get(fx.name);
        judged.push(...judgeFindings(fx, results.get(fx.name), found).judged);
        recall.push(...recallOf(fx, results.get(fx.name), found, cli.implemented));
      }
      const lines = [
        '',
        'FreezeLens findings vs runtime symptoms',
        '  backed@line: the cause is on the finding\'s line; backed@file: the symptom occurred, the oracle',
        '  cannot place its cause; not run: the line never ran; not judged: heuristic rules (FRZ003, FRZ015).',
        '  Recall: labelled symptoms that occurred, found by FreezeLens on the label\'s line, on another line, or missed.',
        '',
        formatTable(judged, recall),
      ];
      const misses = recall.filter((r) => r.status !== 'found' || r.note);
      if (misses.length) {
        lines.push('', 'not found on the label\'s line:');
        for (const r of misses) lines.push(`  ${r.fixture} ${r.rule} @${r.at}: ${r.status}${r.note ? `, ${r.note}` : ''}`);
      }
      const unjudged = judged.filter((j) => j.status === 'not-run');
      for (const j of unjudged) lines.push(`  not run: ${j.finding.path} ${j.claim} @${j.at}`);
      console.log(lines.join('\n'));
    });
  });
});

// One-line mutations of clean fixtures that introduce a known bug: the oracle
// must report that bug's symptom (a guard against an oracle that sees nothing).
const MUTATIONS = [
  {
    fixture: 'clean_mobilenet_staged_unfreeze.py',
    from: '        model.features.eval()\n',
    to: '        pass\n',
    rule: 'FRZ002',
  },
  {
    fixture: 'clean_freeze_mid_training_set_to_none.py',
    from: 'optimizer.zero_grad(set_to_none=True)',
    to: 'optimizer.zero_grad(set_to_none=False)',
    rule: 'FRZ006',
  },
  {
    fixture: 'clean_add_param_group_staged.py',
    from: '        optimizer.add_param_group({"params": stage.parameters(), "lr": lr})\n',
    to: '',
    rule: 'FRZ005',
  },
  {
    fixture: 'clean_linear_probe_no_grad.py',
    from: 'torch.optim.SGD(probe.parameters(),',
    to: 'torch.optim.SGD([*probe.parameters(), *trunk.parameters()],',
    rule: 'FRZ014',
  },
  {
    fixture: 'clean_requires_grad_method_on_module.py',
    from: 'model.backbone.requires_grad_(False)\nassert not any(p.requires_grad for p in model.backbone.parameters())\n',
    to: 'model.backbone.requires_grad = False\n',
    rule: 'FRZ004',
  },
  {
    fixture: 'clean_head_replaced_optimizer_rebuilt.py',
    from: 'optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n',
    to: '',
    rule: 'FRZ009',
  },
  {
    fixture: 'clean_frozen_dropout_kept_in_eval.py',
    from: '    model.encoder.eval()\n',
    to: '',
    rule: 'FRZ013',
  },
  {
    fixture: 'clean_ddp_freeze_before_wrap.py',
    from: 'model.encoder.requires_grad_(False)\nmodel = DDP(model)\n',
    to: 'model = DDP(model)\nmodel.module.encoder.requires_grad_(False)\n',
    rule: 'FRZ017',
  },
  {
    fixture: 'clean_freeze_all_then_new_head.py',
    from: 'model.classifier = nn.Linear(model.classifier.in_features, 2)\n',
    to: '',
    rule: 'FRZ010',
  },
];

describe('the oracle notices injected bugs', { skip: ONLY.length > 0 && 'subset selected' }, () => {
  let dir;
  let mutants;
  let results;
  before(async () => {
    checkPython();
    dir = mkdtempSync(join(tmpdir(), 'freezelens-mutants-'));
    mutants = MUTATIONS.map((m, i) => {
      const text = readFileSync(join(FIXTURE_DIR, m.fixture), 'utf8');
      assert.ok(text.includes(m.from), `${m.fixture} no longer contains the mutated text`);
      const file = join(dir, `mutant${i}_${m.fixture}`);
      writeFileSync(file, text.replace(m.from, m.to));
      return { ...m, fx: parseFixture(file) };
    });
    results = await runFixtures(mutants.map((m) => m.fx));
  }, { timeout: HOUR });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  for (const [i, m] of MUTATIONS.entries()) {
    test(`${m.rule} in a mutated ${m.fixture}`, () => {
      const { fx } = mutants[i];
      const labelled = { ...fx, clean: false, labels: [{ rule: m.rule, optional: false, line: 0, scriptLine: null }] };
      const v = evaluate(labelled, results.get(fx.name));
      assert.deepEqual(v.unconfirmed, [], `expected the ${m.rule} symptom`);
    });
  }
});
