import type { TextDocumentContentChangeEvent } from 'vscode-languageserver';
import { SourceUnit } from '../python/sourceUnit';
import { maskMagics } from '../python/notebook';
import type { Program } from '../python/program';

/**
 * Open Python documents, each kept as a SourceUnit so that every change is
 * applied to the previous syntax tree incrementally.
 */
export class PythonDocuments {
  private readonly docs = new Map<string, { unit: SourceUnit; version: number }>();

  open(uri: string, text: string, version: number): void {
    this.docs.set(uri, { unit: new SourceUnit(uri, text), version });
  }

  change(uri: string, changes: readonly TextDocumentContentChangeEvent[], version: number): void {
    const doc = this.docs.get(uri);
    if (!doc) return;
    for (const change of changes) {
      if ('range' in change) {
        const from = doc.unit.lines.offsetAt(change.range.start);
        const to = doc.unit.lines.offsetAt(change.range.end);
        doc.unit.applyChanges([{ from, to, insert: change.text }]);
      } else {
        doc.unit.replaceText(change.text);
      }
    }
    doc.version = version;
  }

  close(uri: string): void {
    this.docs.delete(uri);
  }

  get(uri: string): { unit: SourceUnit; version: number } | undefined {
    return this.docs.get(uri);
  }

  program(uri: string): Program | undefined {
    const doc = this.docs.get(uri);
    return doc && { id: uri, units: [doc.unit] };
  }
}

/**
 * The Python cells of open notebooks. Cells are small, so each keeps its own
 * SourceUnit, refreshed from the cell's text (with IPython magics masked)
 * and reparsed incrementally from the common prefix and suffix.
 */
export class NotebookCells {
  private readonly units = new Map<string, SourceUnit>();

  /** Builds the notebook's program from its cells in order; `cells` are [uri, text] pairs. */
  program(notebookUri: string, cells: readonly { uri: string; text: string }[]): Program {
    const units = cells.map(({ uri, text }) => {
      const masked = maskMagics(text);
      let unit = this.units.get(uri);
      if (!unit) {
        unit = new SourceUnit(uri, masked);
        this.units.set(uri, unit);
      } else unit.replaceText(masked);
      return unit;
    });
    return { id: notebookUri, units };
  }

  forget(cellUris: readonly string[]): void {
    for (const uri of cellUris) this.units.delete(uri);
  }
}
