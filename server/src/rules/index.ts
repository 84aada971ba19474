import { FRZ001 } from './FRZ001';
import { FRZ002 } from './FRZ002';
import { FRZ003 } from './FRZ003';
import { FRZ004 } from './FRZ004';
import { FRZ005 } from './FRZ005';
import { FRZ006 } from './FRZ006';
import { FRZ007 } from './FRZ007';
import { FRZ008 } from './FRZ008';
import { FRZ009 } from './FRZ009';
import { FRZ010 } from './FRZ010';
import { FRZ011 } from './FRZ011';
import { FRZ012 } from './FRZ012';
import { FRZ013 } from './FRZ013';
import { FRZ014 } from './FRZ014';
import { FRZ015 } from './FRZ015';
import { FRZ016 } from './FRZ016';
import { FRZ017 } from './FRZ017';
import type { Rule } from './types';

/** Every rule, in id order. A new rule is one file plus one line here. */
export const RULES: readonly Rule[] = [FRZ001, FRZ002, FRZ003, FRZ004, FRZ005, FRZ006, FRZ007, FRZ008, FRZ009, FRZ010, FRZ011, FRZ012, FRZ013, FRZ014, FRZ015, FRZ016, FRZ017];

export const RULES_BY_ID: ReadonlyMap<string, Rule> = new Map(RULES.map((r) => [r.meta.id, r]));

/** Repository-relative path of a rule's documentation page. */
export function ruleDocPath(id: string): string {
  return `docs/rules/${id}.md`;
}
