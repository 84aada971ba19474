import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type CodeLens,
  createConnection,
  DidChangeWatchedFilesNotification,
  FileChangeType,
  MessageType,
  NotebookDocuments,
  ProposedFeatures,
  ShowMessageNotification,
  TextDocumentSyncKind,
  type CodeAction,
  type Connection,
  type Diagnostic,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { checkProgram } from '../engine/check';
import { createImportResolver } from '../engine/workspaceImports';
import { createModelFileLoader } from '../engine/modelFiles';
import { hoverAt, optimizerLenses, type InspectedAnalysis } from '../engine/inspect';
import { modelReports, treeReport } from '../engine/models';
import { WorkspaceIndex } from '../engine/workspaceIndex';
import { mergeConfig, validateValues, type ConfigProblem, type EffectiveConfig } from '../config/config';
import { configuredModelFor, findPyproject, isExcluded, loadPyproject, type LoadedPyproject } from '../config/load';
import { findTorchVersion, type TorchVersion } from '../config/torchVersion';
import type { Program } from '../python/program';
import { ruleDocPath } from '../rules';
import type { Finding } from '../rules/types';
import {
  MODEL_TREE_REQUEST,
  NOTEBOOK_TYPE,
  PLAN_MODELS_REQUEST,
  CATALOG_NAMES_REQUEST,
  CATALOG_MODEL_REQUEST,
  type PlanModel,
  type PlanModelsResult,
  ONNX_REPORT_REQUEST,
  type OnnxReportResult,
  SETTINGS_SECTION,
  WORKSPACE_MODELS_REQUEST,
  type FreezeLensSettings,
  type InitializationOptions,
  type ModelTreeParams,
  type ModelTreeResult,
  type WorkspaceModelsResult,
} from '../protocol';
import { findPackageRoot } from '../packageRoot';
import { onnxDiagnostic, spanRange, toCodeActions, toDiagnostic } from './convert';
import { scriptPlanModels } from '../engine/planModels';
import { catalogTarget, onnxTarget, type PlanTarget } from '../engine/planTarget';
import { catalogNames } from '../models/catalog';
import { configureOnnx, inspectOnnx } from '../onnx/inspect';
import { NotebookCells, PythonDocuments } from './documents';

/** Keys of the `freezelens` settings section that only the client reads; VS Code sends them with the rest. */
const CLIENT_ONLY_SETTINGS = new Set(['diagnosticDelay', 'trace']);

/** Files larger than this are not analysed: the user gets one message instead of a stalled server. */
const MAX_DOCUMENT_CHARS = 8_000_000;

interface Published {
  program: Program;
  /**
   * What hover and CodeLens read. Only the timeline is kept: the binder and
   * the value kinds are most of an analysis's memory, and keeping them until
   * the next keystroke would move them into the old generation every time.
   */
  analysis?: InspectedAnalysis;
  /** Files of the workspace modules the analysis followed (as file paths): a change to one re-analyses this program. */
  imports: string[];
  unit: number;
  findings: { finding: Finding; diagnostic: Diagnostic }[];
}

export function startServer(connection: Connection): void {
  const documents = new PythonDocuments();
  const notebooks = new NotebookDocuments(TextDocument);
  const cells = new NotebookCells();
  /** Last diagnostics per document or cell URI, with what produced them, for code actions. */
  const published = new Map<string, Published>();
  /** Pending analyses by document or notebook URI: calling one cancels it. */
  const timers = new Map<string, () => void>();
  const generations = new Map<string, number>();
  const pyprojects = new Map<string, LoadedPyproject | null>();
  const torchVersions = new Map<string, TorchVersion | undefined>();
  const settingsCache = new Map<string, Promise<FreezeLensSettings>>();
  const reportedProblems = new Set<string>();
  const packageRoot = findPackageRoot(__dirname);
  let debounceMs = 100;
  let canRequestConfiguration = false;
  let canRefreshLenses = false;
  const workspaceRoots: string[] = [];
  const workspaceIndex = new WorkspaceIndex();

  const log = (message: string) => connection.console.log(`[${new Date().toISOString()}] ${message}`);
  // A notification, not window/showMessageRequest: there is nothing to answer, and a
  // client that rejects the request would leave an unhandled rejection that ends the process.
  const showMessage = (type: MessageType, message: string) => void connection.sendNotification(ShowMessageNotification.type, { type, message });

  connection.onInitialize((params): InitializeResult => {
    const options = (params.initializationOptions ?? {}) as InitializationOptions;
    for (const f of params.workspaceFolders ?? []) {
      const p = filePathOf(f.uri);
      if (p) workspaceRoots.push(p);
    }
    if (typeof options.debounceMs === 'number' && options.debounceMs >= 0) debounceMs = options.debounceMs;
    canRequestConfiguration = !!params.capabilities.workspace?.configuration;
    canRefreshLenses = !!params.capabilities.workspace?.codeLens?.refreshSupport;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        notebookDocumentSync: { notebookSelector: [{ notebook: { notebookType: NOTEBOOK_TYPE }, cells: [{ language: 'python' }] }] },
        codeActionProvider: { codeActionKinds: ['quickfix'] },
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
      },
      serverInfo: { name: 'freezelens' },
    };
  });

  connection.onInitialized(() => {
    // Python files and project-root markers are watched for the import resolver: with change
    // notifications it need not ask the disk again at every keystroke.
    const watchers = [
      { globPattern: '**/pyproject.toml' },
      { globPattern: '**/requirements*.txt' },
      { globPattern: '**/*.py' },
      { globPattern: '**/*.onnx' },
      { globPattern: '**/*.data' },
      { globPattern: '**/.git' },
    ];
    connection.client.register(DidChangeWatchedFilesNotification.type, { watchers }).then(
      () => resolveImport.cacheDisk(true),
      () => {
        /* the client may not support dynamic registration; config is then read once per file, imports at every analysis */
      },
    );
    log(`server started (debounce ${debounceMs} ms)`);
    // The class index is built after start-up, off the first analysis's path.
    setTimeout(() => {
      const started = performance.now();
      const onnxFiles: string[] = [];
      const files = workspaceRoots.reduce((n, root) => n + workspaceIndex.addFolder(root, undefined, (f) => onnxFiles.push(f)), 0);
      for (const f of onnxFiles) publishOnnx(f);
      // Exports found in other files can describe the models of documents analysed before the index existed.
      if (onnxFiles.length > 0) reanalyseAll();
      log(`indexed ${files} Python files (${workspaceIndex.moduleClasses().length} nn.Module classes) in ${(performance.now() - started).toFixed(0)} ms`);
    }, 0);
  });

  /**
   * Diagnostics of a .onnx file of the workspace (read with positioned reads, never its weights).
   * Shown in the Problems panel whether or not the file is open.
   */
  const publishOnnx = (file: string) => {
    const uri = pathToFileURL(file).href;
    void configFor(uri).then(({ config, excluded }) => {
      let diagnostics: Diagnostic[] = [];
      try {
        if (!excluded) diagnostics = configureOnnx(inspectOnnx(file).diagnostics, config).map((d) => onnxDiagnostic(d, docUri));
      } catch (e) {
        log(`reading ${file} failed: ${(e as Error).stack ?? e}`);
      }
      void connection.sendDiagnostics({ uri, diagnostics });
    });
  };

  /** Programs that imported one of these files are analysed again: what they call may have changed. */
  const reanalyseImporters = (files: string[]) => {
    const changed = new Set(files.map((f) => filePathOf(f) ?? f));
    for (const [uri, p] of published) {
      if (!p.imports.some((f) => changed.has(f))) continue;
      if (p.program.units.length === 1 && documents.get(uri)) scheduleDocument(uri);
      else if (p.unit === 0) scheduleNotebook(p.program.id);
    }
  };

  const docUris = new Map<string, string>();
  const docUri = (ruleId: string) => {
    let uri = docUris.get(ruleId);
    if (uri === undefined) docUris.set(ruleId, (uri = pathToFileURL(path.join(packageRoot, ruleDocPath(ruleId))).toString()));
    return uri;
  };

  // ---- configuration ---------------------------------------------------

  const reportProblems = (problems: ConfigProblem[]) => {
    for (const p of problems) {
      const text = `FreezeLens: ${p.source === 'settings' ? 'settings' : p.source}: \`${p.key}\` ${p.message}`;
      if (reportedProblems.has(text)) continue;
      reportedProblems.add(text);
      log(text);
      showMessage(MessageType.Warning, text);
    }
  };

  const settingsFor = (scopeUri: string): Promise<FreezeLensSettings> => {
    if (!canRequestConfiguration) return Promise.resolve({});
    let s = settingsCache.get(scopeUri);
    if (!s) {
      s = connection.workspace.getConfiguration({ scopeUri, section: SETTINGS_SECTION }).then(
        (v) => (v ?? {}) as FreezeLensSettings,
        () => ({}),
      );
      settingsCache.set(scopeUri, s);
    }
    return s;
  };

  const configFor = async (uri: string): Promise<{ config: EffectiveConfig; excluded: boolean; torchVersion?: TorchVersion }> => {
    const file = filePathOf(uri);
    let loaded: LoadedPyproject | null = null;
    if (file) {
      const dir = path.dirname(file);
      if (!pyprojects.has(dir)) {
        const found = findPyproject(dir);
        pyprojects.set(dir, found ? loadPyproject(found) : null);
      }
      loaded = pyprojects.get(dir) ?? null;
    }
    const raw: Record<string, unknown> = { ...(await settingsFor(uri)) };
    for (const key of CLIENT_ONLY_SETTINGS) delete raw[key];
    const settings = validateValues(raw, 'settings', `${SETTINGS_SECTION}.`);
    reportProblems([...(loaded?.problems ?? []), ...settings.problems]);
    const root = loaded ? path.dirname(loaded.file) : undefined;
    const workspaceRoot = file ? workspaceRoots.find((r) => !path.relative(r, file).startsWith('..')) : undefined;
    const config = mergeConfig(loaded?.values ?? {}, settings.values, root, workspaceRoot);
    let torchVersion: TorchVersion | undefined;
    if (file) {
      const dir = path.dirname(file);
      if (!torchVersions.has(dir)) torchVersions.set(dir, findTorchVersion(dir));
      torchVersion = torchVersions.get(dir);
    }
    return { config, excluded: !!file && isExcluded(config.exclude, config.root, file), torchVersion };
  };

  // ---- analysis -------------------------------------------------------

  /** Notes last logged per program: a keystroke that changes none of them logs nothing. */
  const loggedNotes = new Map<string, Set<string>>();
  const logNotes = (programId: string, notes: readonly string[]) => {
    const before = loggedNotes.get(programId);
    for (const note of notes) if (!before?.has(note)) log(note);
    loggedNotes.set(programId, new Set(notes));
  };

  // Workspace modules the scripts import; an open editor's text wins over the file on disk.
  const resolveImport = createImportResolver({ uris: true, openText: (file) => documents.get(pathToFileURL(file).href)?.unit.text });
  // Model files named by `# freezelens: model=...` comments, the `models` setting, or exports in the workspace.
  const loadModelTree = createModelFileLoader();
  const exportsOf = (builder: string) => workspaceIndex.exportsOf(builder);

  /** Analyses a program and publishes diagnostics for each of its units (one, or one per cell). */
  const analyseAndPublish = async (configUri: string, program: Program) => {
    // Reading settings awaits the client; a newer edit may start its own run
    // meanwhile, and then this older result must not be published over it.
    const generation = (generations.get(program.id) ?? 0) + 1;
    generations.set(program.id, generation);
    const { config, excluded, torchVersion } = await configFor(configUri);
    if (generations.get(program.id) !== generation) return;
    let findings: Finding[] = [];
    let analysis: InspectedAnalysis | undefined;
    let imports: string[] = [];
    const size = program.units.reduce((n, u) => n + u.text.length, 0);
    if (excluded) {
      // excluded by configuration: publish nothing
    } else if (size > MAX_DOCUMENT_CHARS) {
      const text = `FreezeLens: ${program.id} is ${(size / 1e6).toFixed(1)} MB, more than the ${MAX_DOCUMENT_CHARS / 1e6} MB analysed; no diagnostics for it.`;
      if (!reportedProblems.has(text)) {
        reportedProblems.add(text);
        log(text);
        showMessage(MessageType.Info, text);
      }
    } else {
      const started = performance.now();
      try {
        const file = filePathOf(configUri);
        const configuredModel = file ? configuredModelFor(config, file) : undefined;
        const result = checkProgram({ ...program, resolveImport, loadModelTree, configuredModel, exportsOf }, config, { torchVersion });
        findings = result.findings;
        analysis = result.analysis && { timeline: result.analysis.timeline };
        if (result.analysis) imports = result.analysis.program.units.slice(result.analysis.mainUnits).map((u) => filePathOf(u.id) ?? u.id);
        logNotes(program.id, result.notes);
      } catch (e) {
        log(`analysis of ${program.id} failed: ${(e as Error).stack ?? e}`);
      }
      const ms = performance.now() - started;
      if (ms > 50) log(`analysis of ${program.id} took ${ms.toFixed(1)} ms`);
    }
    program.units.forEach((unit, index) => {
      const mine = findings.filter((f) => f.span.unit === index);
      const entries = mine.map((finding) => ({ finding, diagnostic: toDiagnostic(program, finding, docUri) }));
      published.set(unit.id, { program, analysis, imports, unit: index, findings: entries });
      void connection.sendDiagnostics({ uri: unit.id, diagnostics: entries.map((e) => e.diagnostic) });
    });
    // Lenses are computed from the analysis that just finished, which lags the text by the debounce.
    if (canRefreshLenses) connection.sendRequest('workspace/codeLens/refresh').catch(() => undefined);
  };

  const schedule = (key: string, run: () => Promise<void>) => {
    timers.get(key)?.();
    const start = () => {
      timers.delete(key);
      run().catch((e) => log(`analysis of ${key} failed: ${(e as Error).stack ?? e}`));
    };
    // No delay asked for: an immediate, since a 0 ms timer still waits at least 1 ms in Node.
    if (debounceMs <= 0) {
      const immediate = setImmediate(start);
      timers.set(key, () => clearImmediate(immediate));
    } else {
      const timer = setTimeout(start, debounceMs);
      timers.set(key, () => clearTimeout(timer));
    }
  };

  const scheduleDocument = (uri: string) =>
    schedule(uri, async () => {
      const program = documents.program(uri);
      if (program) await analyseAndPublish(uri, program);
    });

  const notebookProgram = (notebookUri: string): Program | undefined => {
    const nb = notebooks.getNotebookDocument(notebookUri);
    if (!nb) return undefined;
    const codeCells = nb.cells
      .map((cell) => notebooks.getCellTextDocument(cell))
      .filter((doc): doc is TextDocument => !!doc && doc.languageId === 'python')
      .map((doc) => ({ uri: doc.uri, text: doc.getText() }));
    return cells.program(notebookUri, codeCells);
  };

  const scheduleNotebook = (notebookUri: string) =>
    schedule(notebookUri, async () => {
      const program = notebookProgram(notebookUri);
      if (program) await analyseAndPublish(notebookUri, program);
    });

  // ---- document sync --------------------------------------------------

  connection.onDidOpenTextDocument(({ textDocument }) => {
    if (textDocument.languageId !== 'python') return;
    documents.open(textDocument.uri, textDocument.text, textDocument.version);
    scheduleDocument(textDocument.uri);
  });
  connection.onDidChangeTextDocument(({ textDocument, contentChanges }) => {
    if (!documents.get(textDocument.uri)) return;
    documents.change(textDocument.uri, contentChanges, textDocument.version);
    scheduleDocument(textDocument.uri);
    // Scripts that import this file see its editor text: analyse them again (each debounced on its own).
    reanalyseImporters([textDocument.uri]);
  });
  connection.onDidCloseTextDocument(({ textDocument }) => {
    if (!documents.get(textDocument.uri)) return;
    documents.close(textDocument.uri);
    loggedNotes.delete(textDocument.uri);
    timers.get(textDocument.uri)?.();
    generations.set(textDocument.uri, (generations.get(textDocument.uri) ?? 0) + 1);
    published.delete(textDocument.uri);
    void connection.sendDiagnostics({ uri: textDocument.uri, diagnostics: [] });
  });

  notebooks.onDidOpen((nb) => scheduleNotebook(nb.uri));
  notebooks.onDidChange((e) => {
    const removed = e.cells?.removed ?? [];
    for (const cell of removed) {
      published.delete(cell.document);
      void connection.sendDiagnostics({ uri: cell.document, diagnostics: [] });
    }
    cells.forget(removed.map((c) => c.document));
    scheduleNotebook(e.notebookDocument.uri);
  });
  notebooks.onDidClose((nb) => {
    timers.get(nb.uri)?.();
    loggedNotes.delete(nb.uri);
    generations.set(nb.uri, (generations.get(nb.uri) ?? 0) + 1);
    for (const cell of nb.cells) {
      published.delete(cell.document);
      void connection.sendDiagnostics({ uri: cell.document, diagnostics: [] });
    }
    cells.forget(nb.cells.map((c) => c.document));
  });
  notebooks.listen(connection);

  const reanalyseAll = () => {
    for (const [uri, p] of published) {
      if (p.program.units.length === 1 && documents.get(uri)) scheduleDocument(uri);
      else if (p.unit === 0) scheduleNotebook(p.program.id);
    }
  };

  connection.onDidChangeConfiguration(() => {
    settingsCache.clear();
    reanalyseAll();
  });
  connection.onDidChangeWatchedFiles(({ changes }) => {
    resolveImport.invalidate();
    const pyFiles = changes.filter((c) => c.uri.endsWith('.py'));
    for (const c of pyFiles) {
      const file = filePathOf(c.uri);
      if (!file) continue;
      if (c.type === FileChangeType.Deleted) workspaceIndex.remove(file);
      else {
        try {
          workspaceIndex.update(file, fs.readFileSync(file, 'utf8'));
        } catch {
          workspaceIndex.remove(file);
        }
      }
    }
    reanalyseImporters(pyFiles.map((c) => c.uri));
    for (const c of changes.filter((x) => x.uri.endsWith('.onnx') || x.uri.endsWith('.data'))) {
      const file = filePathOf(c.uri);
      if (!file) continue;
      if (c.uri.endsWith('.onnx') && c.type === FileChangeType.Deleted) void connection.sendDiagnostics({ uri: c.uri, diagnostics: [] });
      else if (c.uri.endsWith('.onnx')) publishOnnx(file);
      // External data changed: the models in that folder are read again.
      else for (const other of onnxFilesIn(path.dirname(file))) publishOnnx(other);
    }
    // A model file a script names may have changed: scripts are analysed again (the loader re-reads changed files only).
    if (changes.some((c) => c.uri.endsWith('.onnx'))) reanalyseAll();
    // Only code and models changed: the configuration and torch version stay as they were.
    if (changes.length > 0 && changes.every((c) => /\.(py|onnx|data)$/.test(c.uri))) return;
    pyprojects.clear();
    torchVersions.clear();
    reportedProblems.clear();
    reanalyseAll();
  });

  // ---- code actions ---------------------------------------------------

  connection.onCodeAction(({ textDocument, range }): CodeAction[] => {
    const p = published.get(textDocument.uri);
    if (!p) return [];
    const actions: CodeAction[] = [];
    for (const { finding, diagnostic } of p.findings) {
      const r = diagnostic.range;
      const before = (a: { line: number; character: number }, b: { line: number; character: number }) =>
        a.line < b.line || (a.line === b.line && a.character <= b.character);
      if (before(r.start, range.end) && before(range.start, r.end)) actions.push(...toCodeActions(p.program, finding, diagnostic));
    }
    return actions;
  });

  // ---- hover and CodeLens ------------------------------------------------

  connection.onHover(({ textDocument, position }) => {
    const p = published.get(textDocument.uri);
    if (!p?.analysis) return null;
    const unit = p.program.units[p.unit];
    const info = hoverAt(p.analysis, p.unit, unit.lines.offsetAt(position));
    if (!info) return null;
    return { contents: { kind: 'markdown', value: info.markdown }, range: spanRange(p.program, info.span) };
  });

  // The models the analysis knows in a document, for the freeze planner: trees with exact counts, and
  // each module's freeze flag and mode at the end of the script. A notebook is asked for by its URI.
  connection.onRequest(MODEL_TREE_REQUEST, ({ uri }: ModelTreeParams): ModelTreeResult => {
    const p = published.get(uri) ?? [...published.values()].find((x) => x.program.id === uri);
    if (!p?.analysis) return { uri, analysed: false, models: [] };
    return {
      uri,
      analysed: true,
      models: modelReports(p.analysis).map(({ site, ...r }) => ({ ...r, range: site && spanRange(p.program, site), unitUri: site && p.program.units[site.unit].id })),
    };
  });

  // What the ONNX viewer shows for a .onnx file: summary, module tree, diagnostics.
  connection.onRequest(ONNX_REPORT_REQUEST, ({ uri }: { uri: string }): OnnxReportResult => {
    const file = filePathOf(uri) ?? uri;
    const report = inspectOnnx(file);
    const models = report.modules ? [treeReport(path.basename(file), 'onnx', file, report.modules.tree, null, report.modules.modules)] : [];
    return { file: path.basename(file), summary: report.summary, naming: report.modules?.naming, models, diagnostics: report.diagnostics };
  });

  // nn.Module classes defined anywhere in the workspace (from the incremental class index).
  connection.onRequest(WORKSPACE_MODELS_REQUEST, (): WorkspaceModelsResult => ({
    files: workspaceIndex.size,
    classes: workspaceIndex.moduleClasses().map((c) => ({ name: c.name, uri: pathToFileURL(c.file).href, line: c.line, bases: c.bases })),
  }));

  // ---- the freeze planner ----------------------------------------------

  const planModel = (key: string, t: PlanTarget, extra: Partial<PlanModel> = {}): PlanModel => ({
    key,
    name: t.report.name,
    source: t.report.source,
    totalParams: t.report.totalParams,
    root: t.report.root,
    pretrained: t.pretrained,
    headPath: t.headPath,
    style: t.style,
    notes: t.notes,
    ...extra,
  });

  connection.onRequest(PLAN_MODELS_REQUEST, ({ uri }: { uri: string }): PlanModelsResult => {
    if (uri.endsWith('.onnx')) {
      const file = filePathOf(uri);
      try {
        return { uri, analysed: true, models: file ? [planModel(uri, onnxTarget(file), { uri })] : [] };
      } catch {
        return { uri, analysed: true, models: [] };
      }
    }
    const p = published.get(uri) ?? [...published.values()].find((x) => x.program.id === uri);
    if (!p?.analysis) return { uri, analysed: false, models: [] };
    const models = scriptPlanModels(p.analysis.timeline, p.program).map((m) => {
      const unitUri = (span: { unit: number }) => p.program.units[span.unit].id;
      const site = m.report.site;
      const edit = m.replace
        ? { uri: unitUri(m.replace), replace: spanRange(p.program, m.replace) }
        : m.insertAt
          ? { uri: unitUri(m.insertAt), insert: spanRange(p.program, { unit: m.insertAt.unit, from: m.insertAt.offset, to: m.insertAt.offset }).start }
          : undefined;
      return planModel(`${uri}#${m.report.name}`, m, { uri: site && unitUri(site), range: site && spanRange(p.program, site), edit });
    });
    return { uri, analysed: true, models };
  });

  connection.onRequest(CATALOG_NAMES_REQUEST, (): string[] => catalogNames());
  connection.onRequest(CATALOG_MODEL_REQUEST, ({ name }: { name: string }): PlanModel | null => {
    const t = catalogTarget(name);
    return t ? planModel(`catalog:${name}`, t) : null;
  });

  connection.onCodeLens(({ textDocument }) => {
    const p = published.get(textDocument.uri);
    if (!p?.analysis) return [];
    const lenses: CodeLens[] = optimizerLenses(p.analysis)
      .filter((l) => l.span.unit === p.unit)
      .map((l) => ({ range: spanRange(p.program, l.span), command: { title: l.title, command: '' } }));
    // Above each model the script builds: open the planner on it.
    for (const r of modelReports(p.analysis)) {
      if (!r.site || r.site.unit !== p.unit) continue;
      lenses.push({ range: spanRange(p.program, r.site), command: { title: 'Open Freeze Planner', command: 'freezelens.openPlanner', arguments: [textDocument.uri, r.name] } });
    }
    return lenses;
  });

  connection.listen();
}

function onnxFilesIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

function filePathOf(uri: string): string | undefined {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  // Notebook cells: vscode-notebook-cell:/path/to/nb.ipynb#cell; the path part locates the config.
  const m = /^vscode-notebook-cell:(\/\/[^/]*)?(\/[^#?]*)/.exec(uri);
  return m ? decodeURIComponent(m[2]) : undefined;
}

if (require.main === module) {
  startServer(createConnection(ProposedFeatures.all));
}
