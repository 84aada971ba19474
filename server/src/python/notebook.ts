import { parseTree, findNodeAtLocation, printParseErrorCode, type ParseError, type Node } from 'jsonc-parser';
import { LineIndex } from './lineIndex';

/** A code cell of a notebook file, as the CLI reads it from disk. */
export interface NotebookCell {
  /** 0-based index among all cells of the notebook, code or not. */
  index: number;
  /** Cell source with IPython magics masked (same length as the original). */
  source: string;
  /**
   * For each line of the cell, the 0-based line in the .ipynb file where that
   * line's text is stored, so SARIF/JSON can point into the file itself.
   */
  fileLines: number[];
}

export class NotebookFormatError extends Error {}

/**
 * Reads the Python code cells of an .ipynb file.
 *
 * jsonc-parser is used instead of JSON.parse because it keeps node offsets:
 * we need them to map a cell line back to a line of the .ipynb file.
 */
export function readNotebook(text: string): NotebookCell[] {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  const fileLines = new LineIndex(text);
  if (errors.length > 0 || !root) {
    const e = errors[0];
    const where = e ? fileLines.positionAt(e.offset) : { line: 0, character: 0 };
    const what = e ? printParseErrorCode(e.error) : 'empty document';
    throw new NotebookFormatError(`invalid notebook JSON at line ${where.line + 1}, column ${where.character + 1}: ${what}`);
  }
  const cellsNode = findNodeAtLocation(root, ['cells']);
  if (!cellsNode || cellsNode.type !== 'array') {
    throw new NotebookFormatError('not an nbformat 4 notebook: no "cells" array');
  }
  const language = notebookLanguage(root);
  if (language && language !== 'python') return [];

  const cells: NotebookCell[] = [];
  (cellsNode.children ?? []).forEach((cell, index) => {
    const type = findNodeAtLocation(cell, ['cell_type']);
    if (type?.value !== 'code') return;
    const sourceNode = findNodeAtLocation(cell, ['source']);
    if (!sourceNode) return;
    const parts: Node[] = sourceNode.type === 'array' ? (sourceNode.children ?? []) : [sourceNode];
    // Join the parts, remembering where each starts, then give each cell line
    // the file line of the part its first character came from.
    let source = '';
    const partStarts: { offset: number; fileLine: number }[] = [];
    for (const part of parts) {
      if (typeof part.value !== 'string') continue;
      partStarts.push({ offset: source.length, fileLine: fileLines.positionAt(part.offset).line });
      source += part.value;
    }
    const fallback = fileLines.positionAt(sourceNode.offset).line;
    const lineMap: number[] = [];
    let p = 0;
    for (const lineStart of lineStartOffsets(source)) {
      while (p + 1 < partStarts.length && partStarts[p + 1].offset <= lineStart) p++;
      lineMap.push(partStarts[p]?.fileLine ?? fallback);
    }
    cells.push({ index, source: maskMagics(source), fileLines: lineMap });
  });
  return cells;
}

function lineStartOffsets(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function notebookLanguage(root: Node): string | undefined {
  const lang =
    findNodeAtLocation(root, ['metadata', 'kernelspec', 'language'])?.value ??
    findNodeAtLocation(root, ['metadata', 'language_info', 'name'])?.value;
  return typeof lang === 'string' ? lang.toLowerCase() : undefined;
}

/** Cell magics whose body is still Python. */
const PYTHON_CELL_MAGICS = new Set(['time', 'timeit', 'capture', 'prun', 'debug', 'px']);

/**
 * Turns IPython syntax that is not Python (`%magic`, `!shell`, `%%cell magics`)
 * into comments of the same length, so offsets, lines and columns still match
 * what the user sees, and the parser does not trip over them.
 */
export function maskMagics(source: string): string {
  const cellMagic = /^\s*%%(\w+)/.exec(source);
  const lines = source.split('\n');
  if (cellMagic && !PYTHON_CELL_MAGICS.has(cellMagic[1])) {
    return lines.map(commentOut).join('\n');
  }
  return lines.map((line) => (/^\s*[%!]/.test(line) ? commentOut(line) : line)).join('\n');
}

function commentOut(line: string): string {
  const indent = /^\s*/.exec(line)![0].length;
  return indent < line.length ? line.slice(0, indent) + '#' + line.slice(indent + 1) : line;
}
