import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { RULES } from '../rules';
import { ONNX_RULES } from '../onnx/rules';
import type { Finding, Severity } from '../rules/types';
import type { FileLocation, LoadedFile } from './files';

export interface FileFindings {
  file: LoadedFile;
  findings: Finding[];
}

export interface RunError {
  path: string;
  message: string;
}

export interface ReportInput {
  results: FileFindings[];
  errors: RunError[];
  cwd: string;
  version: string;
  /** Absolute URI of a rule's documentation page. */
  docUri(ruleId: string): string;
  /** A rule's documentation text, for SARIF's help.markdown. */
  docText(ruleId: string): string | undefined;
}

function rel(cwd: string, file: string): string {
  const r = path.relative(cwd, file);
  return (r.startsWith('..') ? path.resolve(file) : r).split(path.sep).join('/');
}

function cellSuffix(loc: FileLocation): string {
  return loc.cell ? ` [cell ${loc.cell.index + 1}, line ${loc.cell.line}]` : '';
}

/** `path:line:col: FRZ004 message`, one finding per line. */
export function formatText(input: ReportInput): string {
  const lines: string[] = [];
  for (const { file, findings } of input.results) {
    for (const f of findings) {
      const loc = file.locate(f.span);
      lines.push(`${rel(input.cwd, file.path)}:${loc.line}:${loc.column}: ${f.ruleId} ${f.message}${cellSuffix(loc)}`);
    }
  }
  const count = input.results.reduce((n, r) => n + r.findings.length, 0);
  const files = input.results.length;
  lines.push(count === 0 ? `No findings in ${files} file${files === 1 ? '' : 's'}.` : `Found ${count} finding${count === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}.`);
  return lines.join('\n') + '\n';
}

export function formatJson(input: ReportInput): string {
  const findings = input.results.flatMap(({ file, findings }) =>
    findings.map((f) => {
      const loc = file.locate(f.span);
      return {
        path: rel(input.cwd, file.path),
        ...loc,
        rule: f.ruleId,
        name: f.ruleName,
        severity: f.severity,
        message: f.message,
        url: input.docUri(f.ruleId),
        related: f.related.map((r) => ({ ...file.locate(r.span), message: r.message })),
        fixes: f.fixes.map((fix) => ({
          title: fix.title,
          preferred: fix.preferred,
          edits: fix.edits.map((e) => ({ ...file.locate(e.span), newText: e.newText })),
        })),
      };
    }),
  );
  return JSON.stringify({ version: input.version, filesChecked: input.results.length, findings, errors: input.errors }, null, 2) + '\n';
}

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  information: 'note',
  hint: 'note',
};

/** SARIF 2.1.0, in the shape GitHub code scanning accepts. */
export function formatSarif(input: ReportInput): string {
  // The Python rules, then the rules that read .onnx files.
  const rules = [
    ...RULES.map((r) => ({ id: r.meta.id, name: r.meta.name, description: r.meta.docs.description, severity: r.meta.defaultSeverity, tags: ['pytorch', 'fine-tuning', r.meta.type] })),
    ...Object.entries(ONNX_RULES).map(([id, r]) => ({ id, name: r.name, description: r.description, severity: r.severity, tags: ['pytorch', 'onnx'] })),
  ];
  const ruleIndex = new Map(rules.map((r, i) => [r.id, i]));
  const region = (loc: FileLocation) =>
    loc.cell
      ? { startLine: loc.line, endLine: Math.max(loc.line, loc.endLine) }
      : { startLine: loc.line, startColumn: loc.column, endLine: loc.endLine, endColumn: loc.endColumn };
  const artifact = (file: LoadedFile) => ({ uri: encodeURI(rel(input.cwd, file.path)), uriBaseId: '%SRCROOT%' });

  const results = input.results.flatMap(({ file, findings }) =>
    findings.map((f) => {
      const loc = file.locate(f.span);
      return {
        ruleId: f.ruleId,
        ruleIndex: ruleIndex.get(f.ruleId),
        level: SARIF_LEVEL[f.severity],
        message: { text: f.message + cellSuffix(loc) },
        locations: [{ physicalLocation: { artifactLocation: artifact(file), region: region(loc) } }],
        relatedLocations: f.related.map((r, i) => ({
          id: i + 1,
          message: { text: r.message },
          physicalLocation: { artifactLocation: artifact(file), region: region(file.locate(r.span)) },
        })),
        ...(f.fixes.length > 0 && !loc.cell
          ? {
              fixes: f.fixes.map((fix) => ({
                description: { text: fix.title },
                artifactChanges: [
                  {
                    artifactLocation: artifact(file),
                    replacements: fix.edits.map((e) => ({ deletedRegion: region(file.locate(e.span)), insertedContent: { text: e.newText } })),
                  },
                ],
              })),
            }
          : {}),
      };
    }),
  );

  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'FreezeLens',
            semanticVersion: input.version,
            rules: rules.map((r) => {
              const doc = input.docText(r.id);
              return {
                id: r.id,
                name: r.name,
                shortDescription: { text: r.description },
                fullDescription: { text: r.description },
                helpUri: input.docUri(r.id),
                ...(doc ? { help: { text: doc, markdown: doc } } : {}),
                defaultConfiguration: { level: SARIF_LEVEL[r.severity] },
                properties: { tags: r.tags },
              };
            }),
          },
        },
        originalUriBaseIds: { '%SRCROOT%': { uri: pathToFileURL(input.cwd + path.sep).toString() } },
        columnKind: 'utf16CodeUnits',
        invocations: [
          {
            executionSuccessful: input.errors.length === 0,
            toolExecutionNotifications: input.errors.map((e) => ({
              level: 'error',
              message: { text: e.message },
              locations: [{ physicalLocation: { artifactLocation: { uri: encodeURI(rel(input.cwd, e.path)), uriBaseId: '%SRCROOT%' } } }],
            })),
          },
        ],
        results,
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + '\n';
}
