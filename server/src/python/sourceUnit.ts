import { parser } from '@lezer/python';
import { Tree, TreeFragment, type ChangedRange } from '@lezer/common';
import { LineIndex } from './lineIndex';

/** A text edit expressed in offsets of the text it applies to. */
export interface TextChange {
  from: number;
  to: number;
  insert: string;
}

/**
 * One parsed piece of Python source: a whole script, or one notebook cell.
 *
 * The tree is parsed lazily and incrementally: edits only record which ranges
 * changed, and the next `tree` access reparses reusing every untouched
 * fragment of the previous tree. That keeps a keystroke in a 2,000-line file
 * well under a millisecond of parsing.
 */
export class SourceUnit {
  private _text: string;
  private _tree: Tree | undefined;
  private fragments: readonly TreeFragment[] = [];
  private _lines: LineIndex | undefined;

  /**
   * @param id   stable identifier used to map findings back (a URI, a path, a cell URI)
   * @param text the source text; IPython magics must already be masked (see notebook.ts)
   */
  constructor(
    readonly id: string,
    text: string,
  ) {
    this._text = text;
  }

  get text(): string {
    return this._text;
  }

  /** Set when the text could not be parsed; the tree is then empty. */
  parseProblem: string | undefined;

  get tree(): Tree {
    if (!this._tree) {
      try {
        this._tree = parser.parse(this._text, this.fragments);
        this.fragments = TreeFragment.addTree(this._tree);
        this.parseProblem = undefined;
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // The parser recurses over the tree it builds: code nested thousands of levels
        // deep (generated f-strings, brackets) can exhaust the stack. An empty tree shows
        // every consumer no code at all, so the file degrades to silence, not to a failure.
        this._tree = new Tree(parser.topNode, [], [], this._text.length);
        this.fragments = [];
        this.parseProblem = `the parser ran out of stack (${e.message}): code nested too deeply`;
      }
    }
    return this._tree;
  }

  get lines(): LineIndex {
    if (!this._lines) this._lines = new LineIndex(this._text);
    return this._lines;
  }

  /** Applies edits in order; each change is relative to the text left by the previous one. */
  applyChanges(changes: readonly TextChange[]): void {
    let text = this._text;
    let fragments = this.fragments;
    // The line index is kept up to date rather than rebuilt: positions are needed on every keystroke.
    let lines = this._lines;
    for (const c of changes) {
      text = text.slice(0, c.from) + c.insert + text.slice(c.to);
      const range: ChangedRange = { fromA: c.from, toA: c.to, fromB: c.from, toB: c.from + c.insert.length };
      fragments = TreeFragment.applyChanges(fragments, [range]);
      lines = lines?.afterChange(text, c.from, c.to, c.insert.length);
    }
    this._text = text;
    this.fragments = fragments;
    this._tree = undefined;
    this._lines = lines;
  }

  /** Replaces the whole text; the old tree is still reused where the prefix/suffix agree. */
  replaceText(text: string): void {
    if (text === this._text) return;
    let start = 0;
    const old = this._text;
    const max = Math.min(old.length, text.length);
    while (start < max && old.charCodeAt(start) === text.charCodeAt(start)) start++;
    let endOld = old.length;
    let endNew = text.length;
    while (endOld > start && endNew > start && old.charCodeAt(endOld - 1) === text.charCodeAt(endNew - 1)) {
      endOld--;
      endNew--;
    }
    this.applyChanges([{ from: start, to: endOld, insert: text.slice(start, endNew) }]);
  }
}
