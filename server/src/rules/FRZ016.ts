import type { SyntaxNode } from '@lezer/common';
import type { Span } from '../analysis/facts';
import { nameMatches, predicateOnNames, type NamePredicate, type ParamSet } from '../analysis/interp/paramSet';
import type { MachineState, Site } from '../analysis/interp/state';
import { parameterNames, walk } from '../models/tree';
import { nodeText } from '../python/syntax';
import { modelName, siteSpan } from './timelineQueries';
import type { Rule } from './types';

/**
 * FRZ016 freeze-pattern-matches-nothing
 *
 * A name filter (`name.startswith('features.')`, `'layer5' in n`) that no
 * parameter of the model matches: the freeze or the param group it guards
 * selects nothing. Only where the model's structure is fully known (the
 * catalog, an evaluated workspace class): against an unknown model a
 * filter cannot be judged.
 */
export const FRZ016: Rule = {
  meta: {
    id: 'FRZ016',
    name: 'freeze-pattern-matches-nothing',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'A parameter-name filter matches no parameter of the known model.' },
    fixable: false,
    messages: {
      nothing: "{{test}} matches no parameter of `{{model}}` ({{architecture}}){{effect}}. Its top-level modules are {{children}}.",
      nothingAll: "None of {{test}} matches a parameter of `{{model}}` ({{architecture}}){{effect}}. Its top-level modules are {{children}}.",
    },
  },

  check({ analysis, report }) {
    const tl = analysis.timeline;
    if (!tl) return;
    const seen = new Set<string>();
    const judge = (set: ParamSet, state: MachineState, site: Site, effect: string, negatedEffect: string) => {
      if (!set.predicate) return;
      const tree = state.trees.get(set.root);
      if (!tree) return;
      const names = parameterNames(tree);
      if (!names || names.length === 0) return;
      const modulePaths = [...walk(tree)].map(([p]) => p).filter(Boolean);
      // Names as the loop saw them: relative to the iterated submodule, and in full.
      const candidates = new Set<string>(names);
      for (const prefix of set.prefixes) {
        if (prefix === '') continue;
        for (const n of [...names, ...modulePaths]) if (n.startsWith(prefix + '.')) candidates.add(n.slice(prefix.length + 1));
      }
      for (const p of modulePaths) candidates.add(p);
      // Failing tests grouped by where they are shown: one finding per literal, or one for an `if` test
      // whose strings were computed (an f-string in a loop).
      const bySpan = new Map<string, { span: Span; atoms: Atom[]; negated: boolean }>();
      const text = analysis.program.units[site.unit].text;
      for (const { atom, negated } of atoms(set.predicate, false)) {
        if (atom.value === '' || [...candidates].some((n) => nameMatches(atom, n))) continue;
        const span = literalSpan(text, site, atom.value) ?? conditionSpan(site) ?? siteSpan(site);
        const key = `${span.unit}:${span.from}:${span.to}`;
        const entry = bySpan.get(key) ?? { span, atoms: [], negated };
        entry.negated ||= negated;
        if (!entry.atoms.some((a) => a.op === atom.op && a.value === atom.value)) entry.atoms.push(atom);
        bySpan.set(key, entry);
      }
      const info = tl.models.get(set.root);
      // What the whole filter does decides the consequence: a typo in one arm of an `or` still lets the other arm select.
      const params = set.prefixes.some((p) => p !== '') ? undefined : names;
      // 'yes': it selects every parameter, 'no': none, 'maybe': some; undefined where part of it is unknown.
      const whole = params && predicateOnNames(set.predicate, params);
      for (const [key, { span, atoms: failing, negated }] of bySpan) {
        if (seen.has(key)) continue;
        seen.add(key);
        report({
          messageId: failing.length === 1 ? 'nothing' : 'nothingAll',
          data: {
            test: failing.map(describe).join(', '),
            model: modelName(tl, set.root),
            architecture: info?.treeSource === 'onnx' ? 'its ONNX export' : (info?.family ?? `class \`${tree.cls}\``),
            effect: whole === undefined ? '' : negated ? (whole === 'yes' ? negatedEffect : '') : whole === 'no' ? effect : '',
            children: tree.children.slice(0, 8).map((c) => `\`${c.name}\``).join(', ') + (tree.children.length > 8 ? ', …' : ''),
          },
          span,
        });
      }
    };
    for (const ev of tl.events) {
      if (ev.kind === 'setFlag') {
        const everything = ev.value === false ? ': everything is frozen by it' : ev.value === true ? ': everything is unfrozen by it' : '';
        judge(ev.set, ev.before, ev.site, ev.value === false ? ', so the filter selects nothing: nothing is frozen by it' : ev.value === true ? ', so the filter selects nothing: nothing is unfrozen by it' : ', so the filter selects nothing', `, so the negated test selects every parameter${everything}`);
      } else if (ev.kind === 'optimizer') for (const g of ev.opt.groups) judge(g.set, ev.state, g.site, ', so the filter selects nothing: its param group is empty', ', so the negated test puts every parameter in the group');
    }
  },
};

type Atom = Extract<NamePredicate, { op: 'startswith' | 'endswith' | 'contains' | 'equals' }>;

/** The literal tests of a predicate, each a name the user expects to exist, and whether it is negated. */
function atoms(p: NamePredicate, negated: boolean): { atom: Atom; negated: boolean }[] {
  switch (p.op) {
    case 'not':
      return atoms(p.arg, !negated);
    case 'and':
    case 'or':
      return p.args.flatMap((a) => atoms(a, negated));
    case 'unknown':
      return [];
    default:
      return [{ atom: p, negated }];
  }
}


function describe(a: Atom): string {
  const v = JSON.stringify(a.value);
  switch (a.op) {
    case 'startswith':
      return `\`name.startswith(${v})\``;
    case 'endswith':
      return `\`name.endswith(${v})\``;
    case 'contains':
      return `\`${v} in name\``;
    case 'equals':
      return `\`name == ${v}\``;
  }
}

/**
 * Where the user wrote the literal: the closest string with that value in
 * the statements around the site (the `if` test of the loop), so the
 * squiggle lands on the typo rather than on the assignment it guards.
 */
function literalSpan(text: string, site: Site, value: string): { unit: number; from: number; to: number } | undefined {
  let scope: SyntaxNode | null = site.node;
  for (let i = 0; scope && i < 6; i++) {
    const found = findString(text, scope, value);
    if (found) return { unit: site.unit, from: found.from, to: found.to };
    if (scope.name === 'ForStatement' || scope.name === 'FunctionDefinition') break;
    scope = scope.parent;
  }
  return undefined;
}

/** The test of the `if` that guards the site, when the strings it compares were computed. */
function conditionSpan(site: Site): Span | undefined {
  for (let n: SyntaxNode | null = site.node.parent, i = 0; n && i < 4; n = n.parent, i++) {
    if (n.name === 'IfStatement') {
      const test = n.firstChild?.nextSibling;
      return test ? { unit: site.unit, from: test.from, to: test.to } : undefined;
    }
    if (n.name === 'ForStatement' || n.name === 'FunctionDefinition') return undefined;
  }
  return undefined;
}

function findString(text: string, node: SyntaxNode, value: string): SyntaxNode | undefined {
  const c = node.cursor();
  const end = node.to;
  do {
    if (c.from >= end) break;
    if (c.name === 'String') {
      const raw = nodeText(text, c.node);
      if (raw.slice(1, -1) === value || raw.slice(3, -3) === value) return c.node;
    }
  } while (c.next());
  return undefined;
}
