import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  CodeActionRequest,
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  PublishDiagnosticsNotification,
  RegistrationRequest,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type TextDocumentContentChangeEvent,
} from 'vscode-languageserver-protocol/node';
import { applyEdit, positionAt, type CharEdit } from './edits';
import { summarize, type Summary } from './stats';

export interface LspResult {
  /** didOpen to the first publishDiagnostics: full parse and analysis on a cold (un-JITted) server. */
  openMs: number;
  /** didChange to publishDiagnostics, one sample per measured edit. */
  change: Summary;
  samples: number[];
  /**
   * Round trip of a request the server answers at once (code actions for the
   * docstring, where there are none): the floor that JSON-RPC over stdio puts
   * under any number above.
   */
  rpcFloor: Summary;
  /** Diagnostics per publish (min..max over the measured edits): the payload size that travels. */
  diagnostics: { min: number; max: number };
}

/** A publish must never take this long; if it does the server is stuck and the bench must fail loudly. */
const PUBLISH_TIMEOUT_MS = 10_000;

/**
 * Measures the language server as the editor sees it: the bundled server in
 * its own process, spoken to over stdio JSON-RPC, with the debounce set to 0
 * so that what is measured is the work and the transport, not the wait.
 *
 * Edits are strictly serialized (send one, wait for its publish, send the
 * next): publishDiagnostics carries no version, so pipelining would make it
 * impossible to tell which edit a publish belongs to.
 */
export async function benchLsp(options: {
  serverJs: string;
  uri: string;
  text: string;
  warmup: readonly CharEdit[];
  edits: readonly CharEdit[];
}): Promise<LspResult> {
  const child = spawn(process.execPath, [options.serverJs, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = once(child, 'exit');
  const connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));

  let waiter: { resolve: (v: { at: number; count: number }) => void } | undefined;
  connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
    const at = performance.now();
    if (p.uri !== options.uri || !waiter) return;
    const w = waiter;
    waiter = undefined;
    w.resolve({ at, count: p.diagnostics.length });
  });
  // The server registers a pyproject.toml watcher; a real client answers, so do we.
  connection.onRequest(RegistrationRequest.type, () => undefined);
  connection.listen();

  const nextPublish = (what: string) =>
    new Promise<{ at: number; count: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no publishDiagnostics after ${what} within ${PUBLISH_TIMEOUT_MS} ms\n${stderr}`)), PUBLISH_TIMEOUT_MS);
      waiter = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
    });

  try {
    await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      workspaceFolders: null,
      // No workspace.configuration: settings then come from defaults, and no
      // settings round-trip happens (the server caches it per document anyway).
      capabilities: { textDocument: { synchronization: { didSave: false }, publishDiagnostics: { relatedInformation: true, codeDescriptionSupport: true } } },
      initializationOptions: { debounceMs: 0 },
    });
    await connection.sendNotification(InitializedNotification.type, {});

    let text = options.text;
    let version = 1;
    const opened = nextPublish('didOpen');
    const openStart = performance.now();
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri: options.uri, languageId: 'python', version, text },
    });
    const openMs = (await opened).at - openStart;

    // Precompute each edit's LSP range from a mirror of the document, so the
    // client's own bookkeeping is not inside the measured interval.
    const toEvent = (e: CharEdit): TextDocumentContentChangeEvent => {
      const event = { range: { start: positionAt(text, e.from), end: positionAt(text, e.to) }, text: e.insert };
      text = applyEdit(text, e);
      return event;
    };
    const warmEvents = options.warmup.map(toEvent);
    const events = options.edits.map(toEvent);

    const change = async (event: TextDocumentContentChangeEvent) => {
      const published = nextPublish(`didChange version ${version + 1}`);
      const start = performance.now();
      await connection.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri: options.uri, version: ++version },
        contentChanges: [event],
      });
      const { at, count } = await published;
      return { ms: at - start, count };
    };

    for (const event of warmEvents) await change(event);
    const samples: number[] = [];
    const counts: number[] = [];
    for (const event of events) {
      const { ms, count } = await change(event);
      samples.push(ms);
      counts.push(count);
    }

    const floor: number[] = [];
    for (let i = 0; i < options.edits.length; i++) {
      const start = performance.now();
      await connection.sendRequest(CodeActionRequest.type, {
        textDocument: { uri: options.uri },
        range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } },
        context: { diagnostics: [] },
      });
      floor.push(performance.now() - start);
    }

    await connection.sendRequest(ShutdownRequest.type);
    await connection.sendNotification(ExitNotification.type);
    // The server exits on `exit`; the finally block kills it if it does not within a few seconds.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    return { openMs, change: summarize(samples), samples, rpcFloor: summarize(floor), diagnostics: { min: Math.min(...counts), max: Math.max(...counts) } };
  } finally {
    connection.dispose();
    if (child.exitCode === null) child.kill();
  }
}
