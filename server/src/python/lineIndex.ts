/**
 * Offset <-> (line, character) conversion for one source text.
 *
 * Offsets and characters are UTF-16 code units, which is what both JavaScript
 * strings and the LSP's default position encoding use, so no transcoding is
 * needed anywhere in the pipeline.
 */
export interface Position {
  /** 0-based line. */
  line: number;
  /** 0-based UTF-16 column. */
  character: number;
}

export class LineIndex {
  /** Offset at which each line starts; lineStarts[0] is always 0. */
  private readonly lineStarts: number[];

  constructor(
    private readonly text: string,
    /** Precomputed line starts of `text` (see `afterChange`); scanned from the text when absent. */
    lineStarts?: number[],
  ) {
    if (lineStarts) {
      this.lineStarts = lineStarts;
      return;
    }
    const starts = [0];
    scanLineStarts(text, 0, text.length, starts);
    this.lineStarts = starts;
  }

  /**
   * The index of `text`, which is this index's text with [from, to) replaced
   * by `insertLength` characters. Only the changed stretch is scanned; the
   * line starts around it are kept or shifted, so a keystroke in a long file
   * does not rescan it.
   */
  afterChange(text: string, from: number, to: number, insertLength: number): LineIndex {
    const old = this.lineStarts;
    // A line start depends on the one or two characters before it. Starts before
    // `from` and after `to` see only unchanged characters.
    let keep = 0;
    while (keep < old.length && old[keep] < from) keep++;
    const starts = old.slice(0, keep);
    if (starts.length === 0) starts.push(0);
    const end = from + insertLength;
    scanLineStarts(text, Math.max(0, from - 1), end, starts);
    while (starts.length > 1 && starts[starts.length - 1] > end) starts.pop();
    const delta = insertLength - (to - from);
    let next = keep;
    while (next < old.length && old[next] <= to) next++;
    for (; next < old.length; next++) starts.push(old[next] + delta);
    return new LineIndex(text, starts);
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  positionAt(offset: number): Position {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= clamped) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: clamped - this.lineStarts[lo] };
  }

  offsetAt(pos: Position): number {
    if (pos.line >= this.lineStarts.length) return this.text.length;
    if (pos.line < 0) return 0;
    const start = this.lineStarts[pos.line];
    const end = this.lineEnd(pos.line);
    return Math.min(start + Math.max(0, pos.character), end);
  }

  lineStart(line: number): number {
    return this.lineStarts[Math.max(0, Math.min(line, this.lineStarts.length - 1))];
  }

  /** Offset of the end of the line's content, before its line break. */
  lineEnd(line: number): number {
    if (line + 1 >= this.lineStarts.length) return this.text.length;
    let end = this.lineStarts[line + 1] - 1;
    if (end > this.lineStarts[line] && this.text.charCodeAt(end) === 10 && this.text.charCodeAt(end - 1) === 13) end--;
    else if (this.text.charCodeAt(end) === 13) {
      /* lone \r */
    }
    return end;
  }

  lineText(line: number): string {
    return this.text.slice(this.lineStart(line), this.lineEnd(line));
  }
}

/**
 * Appends the line starts produced by the characters in [from, to) of
 * `text` (a `\r\n` pair counts once), skipping any not after the last one
 * already in `starts`.
 */
function scanLineStarts(text: string, from: number, to: number, starts: number[]): void {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 /* \n */) push(starts, i + 1);
    else if (c === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      push(starts, i + 1);
    }
  }
}

function push(starts: number[], at: number): void {
  if (at > starts[starts.length - 1]) starts.push(at);
}
