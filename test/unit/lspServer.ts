/**
 * The real language server as a test's editor: the bundled server process,
 * spoken to over stdio with real LSP messages. Shared by the tests that
 * drive it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CodeActionRequest,
  ConfigurationRequest,
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  LogMessageNotification,
  PublishDiagnosticsNotification,
  RegistrationRequest,
  ShowMessageNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type CodeAction,
  type ConfigurationItem,
  type Diagnostic,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
  type Range,
  type ShowMessageParams,
  type TextDocumentContentChangeEvent,
} from 'vscode-languageserver-protocol/node';

export const ROOT = packageRoot(__dirname);
export const SERVER = path.join(ROOT, 'dist', 'server', 'server.js');
export const TIMEOUT_MS = 10_000;

export function packageRoot(start: string): string {
  for (let dir = start; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'freezelens') return dir;
  }
  throw new Error('package root not found');
}

/**
 * What VS Code answers to `workspace/configuration` for section `freezelens`
 * when the user has set nothing: every contributed key with its default,
 * client-only ones included.
 */
export function vscodeDefaultSettings(): Record<string, unknown> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries<{ default?: unknown }>(pkg.contributes.configuration.properties)) {
    const parts = key.split('.').slice(1);
    let target = out;
    for (const p of parts.slice(0, -1)) target = (target[p] ??= {}) as Record<string, unknown>;
    target[parts[parts.length - 1]] = schema.default ?? null;
  }
  return out;
}

export class Server {
  readonly diagnostics: PublishDiagnosticsParams[] = [];
  readonly messages: ShowMessageParams[] = [];
  readonly logs: string[] = [];
  readonly configRequests: ConfigurationItem[] = [];
  /** Settings answered per scopeUri; anything else gets VS Code's defaults. */
  readonly settings = new Map<string, Record<string, unknown>>();
  /** How long a wait for the server may take before the test fails; raised by tests of pathological input. */
  timeoutMs = TIMEOUT_MS;
  private readonly wakers = new Set<() => void>();
  private stderr = '';
  private exit: string | undefined;

  private constructor(
    readonly proc: ChildProcessWithoutNullStreams,
    readonly conn: ProtocolConnection,
  ) {}

  static async start(initializationOptions: Record<string, unknown> = { debounceMs: 0 }, workspaceFolders: { uri: string; name: string }[] | null = null): Promise<Server> {
    const proc = spawn(process.execPath, [SERVER, '--stdio'], { stdio: 'pipe' });
    const conn = createProtocolConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
    const server = new Server(proc, conn);
    proc.stderr.on('data', (d) => (server.stderr += d));
    proc.on('exit', (code, signal) => {
      server.exit = `server exited (${code ?? signal})\n${server.stderr}\n${server.logs.slice(-20).join('\n')}`;
      server.wake();
    });
    conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
      server.diagnostics.push(p);
      server.wake();
    });
    conn.onNotification(ShowMessageNotification.type, (p) => {
      server.messages.push(p);
      server.wake();
    });
    conn.onNotification(LogMessageNotification.type, (p) => {
      server.logs.push(p.message);
    });
    conn.onRequest(ConfigurationRequest.type, (params) =>
      params.items.map((item) => {
        server.configRequests.push(item);
        const defaults = vscodeDefaultSettings();
        return item.section === 'freezelens' ? { ...defaults, ...(server.settings.get(item.scopeUri ?? '') ?? {}) } : null;
      }),
    );
    conn.onRequest(RegistrationRequest.type, () => undefined);
    conn.listen();
    await conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: workspaceFolders?.[0]?.uri ?? null,
      workspaceFolders,
      initializationOptions,
      capabilities: {
        workspace: { configuration: true, didChangeWatchedFiles: { dynamicRegistration: true } },
        textDocument: {
          synchronization: { dynamicRegistration: false },
          publishDiagnostics: { relatedInformation: true, codeDescriptionSupport: true },
          codeAction: { isPreferredSupport: true, codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } } },
        },
        notebookDocument: { synchronization: { dynamicRegistration: false } },
      },
    });
    await conn.sendNotification(InitializedNotification.type, {});
    return server;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Resolves with probe()'s first defined value, re-probing on every message from the server. */
  until<T>(what: string, probe: () => T | undefined, timeoutMs = this.timeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        if (this.exit) return finish(() => reject(new Error(`${what}: ${this.exit}`)));
        let value: T | undefined;
        try {
          value = probe();
        } catch (e) {
          return finish(() => reject(e));
        }
        if (value !== undefined) finish(() => resolve(value as T));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))), timeoutMs);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.wakers.delete(check);
        f();
      };
      this.wakers.add(check);
      check();
    });
  }

  /** Runs `action` and resolves with the first diagnostics published for `uri` after it. */
  async publishAfter(uri: string, action: () => Promise<void> | void, timeoutMs = this.timeoutMs): Promise<Diagnostic[]> {
    const since = this.diagnostics.length;
    await action();
    const p = await this.until(`diagnostics for ${uri}`, () => this.diagnostics.slice(since).find((d) => d.uri === uri), timeoutMs);
    return p.diagnostics;
  }

  open(uri: string, text: string, timeoutMs?: number): Promise<Diagnostic[]> {
    return this.publishAfter(
      uri,
      () => this.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'python', version: 1, text } }),
      timeoutMs,
    );
  }

  change(uri: string, version: number, contentChanges: TextDocumentContentChangeEvent[]): Promise<Diagnostic[]> {
    return this.publishAfter(uri, () =>
      this.conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges }),
    );
  }

  codeActions(uri: string, range: Range, diagnostics: Diagnostic[] = []): Promise<CodeAction[]> {
    return this.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range, context: { diagnostics } }) as Promise<CodeAction[]>;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  async stop(): Promise<number | null> {
    if (this.exit) return this.proc.exitCode;
    const exited = new Promise<number | null>((resolve) => this.proc.once('exit', (code) => resolve(code)));
    try {
      await Promise.race([this.conn.sendRequest(ShutdownRequest.type), new Promise((r) => setTimeout(r, 2000))]);
      await this.conn.sendNotification(ExitNotification.type);
    } catch {
      /* the process is going away anyway */
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    const code = await exited;
    clearTimeout(timer);
    this.conn.dispose();
    return code;
  }
}

