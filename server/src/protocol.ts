/**
 * Names shared by the extension client, the language server and the webview.
 * Everything that crosses a process boundary is named here once, so that a
 * renamed request or setting cannot drift between the two sides.
 */

/** Display name of the server and of its output channel. */
export const SERVER_NAME = 'FreezeLens';
/** The `source` field of every diagnostic. */
export const DIAGNOSTIC_SOURCE = 'freezelens';
/** VS Code settings section; each key mirrors `[tool.freezelens]` in pyproject.toml. */
export const SETTINGS_SECTION = 'freezelens';
/** The notebook type whose Python cells are analysed. */
export const NOTEBOOK_TYPE = 'jupyter-notebook';

/** Settings as the server reads them from `workspace/configuration`. */
export interface FreezeLensSettings {
  select?: string[] | null;
  ignore?: string[] | null;
  severity?: Record<string, string> | null;
  exclude?: string[] | null;
}

/** Sent by the client when it starts the server. */
export interface InitializationOptions {
  /** Delay between the last keystroke and the diagnostics, in ms. */
  debounceMs?: number;
}
