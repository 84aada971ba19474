import { parse as parseToml, TomlError } from 'smol-toml';
import { RULES, RULES_BY_ID } from '../rules';
import { ONNX_RULES as ONNX_RULE_IDS } from '../onnx/rules';
import { SEVERITIES, type Severity } from '../rules/types';

/**
 * FreezeLens configuration: `[tool.freezelens]` in pyproject.toml, and the
 * `freezelens.*` VS Code settings, which mirror it key for key. A key set in
 * the settings replaces the same key from pyproject.toml; `severity` merges
 * rule by rule, the settings winning.
 *
 * Bad values never stop the analysis: each one becomes a ConfigProblem that
 * names the key, and that key falls back to its default.
 */
export interface ConfigValues {
  /** Rule codes or code prefixes to run; undefined means all. */
  select?: string[];
  /** Rule codes or prefixes never to run. */
  ignore?: string[];
  /** Per-rule severity overrides; 'off' disables the rule. */
  severity?: Record<string, Severity | 'off'>;
  /** Glob patterns (relative to the config's folder) of files not to check. */
  exclude?: string[];
  /** FRZ003's fix gives the backbone the head's learning rate divided by this. */
  backboneLrFactor?: number;
  /** Glob of scripts (relative to the config's folder) to the ONNX export that describes their model. */
  models?: Record<string, string>;
}

export interface ConfigProblem {
  /** Where the bad value came from: a pyproject.toml path, or 'settings'. */
  source: string;
  /** The offending key, spelled as the user wrote it: `tool.freezelens.select`. */
  key: string;
  message: string;
}

export interface EffectiveConfig {
  select?: string[];
  ignore: string[];
  severity: Record<string, Severity | 'off'>;
  exclude: string[];
  /** The folder `exclude` and `models` are relative to: pyproject.toml's, else the workspace folder. */
  root?: string;
  backboneLrFactor: number;
  /** Script glob to ONNX file, both relative to `root`; the first glob that matches wins. */
  models: Record<string, string>;
}

export const DEFAULT_CONFIG: EffectiveConfig = { ignore: [], severity: {}, exclude: [], backboneLrFactor: 10, models: {} };

/** `backbone-lr-factor` in TOML, `backboneLrFactor` in the VS Code settings. */
const KNOWN_KEYS = new Set(['select', 'ignore', 'severity', 'exclude', 'backbone-lr-factor', 'backboneLrFactor', 'models']);
const SEVERITY_ALIASES: Record<string, Severity | 'off'> = {
  error: 'error',
  warning: 'warning',
  warn: 'warning',
  information: 'information',
  info: 'information',
  hint: 'hint',
  off: 'off',
};

/** Reads `[tool.freezelens]` from the text of a pyproject.toml. */
export function parsePyproject(text: string, source: string): { values: ConfigValues; problems: ConfigProblem[] } {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : '';
    const first = String((e as Error).message).split('\n')[0];
    return { values: {}, problems: [{ source, key: 'tool.freezelens', message: `pyproject.toml is not valid TOML${where}: ${first}; using the defaults` }] };
  }
  const tool = (doc as { tool?: Record<string, unknown> }).tool;
  const table = tool?.freezelens;
  if (table === undefined) return { values: {}, problems: [] };
  if (!isPlainObject(table)) {
    return { values: {}, problems: [{ source, key: 'tool.freezelens', message: 'must be a table; using the defaults' }] };
  }
  return validateValues(table, source, 'tool.freezelens.');
}

/**
 * Checks raw values (from TOML or from VS Code settings) key by key. Keys of
 * the settings arrive without the prefix; `keyPrefix` makes messages name
 * them as the user wrote them.
 */
export function validateValues(raw: Record<string, unknown>, source: string, keyPrefix: string): { values: ConfigValues; problems: ConfigProblem[] } {
  const values: ConfigValues = {};
  const problems: ConfigProblem[] = [];
  const problem = (key: string, message: string) => problems.push({ source, key: keyPrefix + key, message });

  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined || value === null) continue;
    if (!KNOWN_KEYS.has(key)) {
      problem(key, `unknown key; expected one of ${[...KNOWN_KEYS].join(', ')}`);
      continue;
    }
    if (key === 'select' || key === 'ignore') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
        problem(key, 'must be a list of rule codes such as ["FRZ004"]; using the default');
        continue;
      }
      const unknown = value.filter((code) => !matchesAnyRule(code));
      if (unknown.length > 0) problem(key, `unknown rule code ${unknown.map((c) => `"${c}"`).join(', ')}; ignoring it`);
      values[key] = value.filter((code) => matchesAnyRule(code)).map((c) => c.toUpperCase());
    } else if (key === 'exclude') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
        problem(key, 'must be a list of glob patterns such as ["legacy/**"]; using the default');
        continue;
      }
      values.exclude = value;
    } else if (key === 'backbone-lr-factor' || key === 'backboneLrFactor') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 1) {
        problem(key, 'must be a number greater than 1, such as 10; using the default');
        continue;
      }
      values.backboneLrFactor = value;
    } else if (key === 'models') {
      if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string' && v.endsWith('.onnx'))) {
        problem(key, 'must be a table of script glob = ONNX file, such as { "train/*.py" = "exports/model.onnx" }; using none');
        continue;
      }
      values.models = value as Record<string, string>;
    } else if (key === 'severity') {
      if (!isPlainObject(value)) {
        problem(key, 'must be a table of rule code = "error" | "warning" | "information" | "hint" | "off"; using the default');
        continue;
      }
      const severity: Record<string, Severity | 'off'> = {};
      for (const [code, level] of Object.entries(value)) {
        const id = code.toUpperCase();
        const mapped = typeof level === 'string' ? SEVERITY_ALIASES[level.toLowerCase()] : undefined;
        if (!RULES_BY_ID.has(id) && !(id in ONNX_RULE_IDS)) problem(`${key}.${code}`, 'unknown rule code; ignoring it');
        else if (!mapped) problem(`${key}.${code}`, `must be one of ${[...SEVERITIES, 'off'].join(', ')}; using the rule's default`);
        else severity[id] = mapped;
      }
      values.severity = severity;
    }
  }
  return { values, problems };
}

/**
 * pyproject values, then settings on top. Relative paths start from
 * `root`, pyproject.toml's folder, or without one from `settingsRoot`, the
 * workspace folder.
 */
export function mergeConfig(pyproject: ConfigValues, settings: ConfigValues, root?: string, settingsRoot?: string): EffectiveConfig {
  return {
    select: settings.select ?? pyproject.select,
    ignore: settings.ignore ?? pyproject.ignore ?? [],
    severity: { ...(pyproject.severity ?? {}), ...(settings.severity ?? {}) },
    exclude: settings.exclude ?? pyproject.exclude ?? [],
    root: root ?? settingsRoot,
    backboneLrFactor: settings.backboneLrFactor ?? pyproject.backboneLrFactor ?? DEFAULT_CONFIG.backboneLrFactor,
    models: settings.models ?? pyproject.models ?? {},
  };
}

function matchesAnyRule(code: string): boolean {
  const c = code.toUpperCase();
  return c.length >= 3 && (RULES.some((r) => r.meta.id.startsWith(c)) || Object.keys(ONNX_RULE_IDS).some((id) => id.startsWith(c)));
}

function matchesCode(patterns: string[], id: string): boolean {
  return patterns.some((p) => id.startsWith(p.toUpperCase()));
}

export function isRuleEnabled(config: EffectiveConfig, id: string): boolean {
  if (config.select && !matchesCode(config.select, id)) return false;
  if (matchesCode(config.ignore, id)) return false;
  return config.severity[id] !== 'off';
}

export function severityFor(config: EffectiveConfig, id: string, fallback: Severity): Severity {
  const s = config.severity[id];
  return s && s !== 'off' ? s : fallback;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
