import { FRZ004 } from './FRZ004';
import type { Rule } from './types';

/** Every rule, in id order. A new rule is one file plus one line here. */
export const RULES: readonly Rule[] = [FRZ004];

export const RULES_BY_ID: ReadonlyMap<string, Rule> = new Map(RULES.map((r) => [r.meta.id, r]));

/** Repository-relative path of a rule's documentation page. */
export function ruleDocPath(id: string): string {
  return `docs/rules/${id}.md`;
}
