import { Rng } from './rng';

/** One single-character edit, in offsets of the text it applies to (before it). */
export interface CharEdit {
  from: number;
  to: number;
  insert: string;
}

/**
 * Simulates someone typing into a file: a sequence of single-character
 * edits, each relative to the text left by the previous one.
 *
 * Why bursts rather than independent random edits: an editor sends one
 * didChange per keystroke, and keystrokes cluster (type a few letters into
 * a name or a comment, then often backspace over them). Clustering matters
 * to the incremental parser, which reuses the tree around the last edit.
 * Sites are spread over the whole file because an edit near the top
 * invalidates more of a naive reparse than one near the bottom.
 */
export function typingSession(text: string, count: number, seed: number): CharEdit[] {
  const rng = new Rng(seed);
  const edits: CharEdit[] = [];
  let current = text;
  const apply = (e: CharEdit) => {
    edits.push(e);
    current = current.slice(0, e.from) + e.insert + current.slice(e.to);
  };
  while (edits.length < count) {
    const room = count - edits.length;
    const r = rng.next();
    if (r < 0.6) {
      // Extend or change an identifier, e.g. `lr` -> `lr_he`, then usually undo it.
      const at = identifierSite(current, rng);
      if (at === undefined) continue;
      const typed = Math.min(rng.int(1, 4), room);
      for (let i = 0; i < typed; i++) apply({ from: at + i, to: at + i, insert: rng.pick([...'abcdefghijklmnopqrstuvwxyz_']) });
      if (rng.chance(0.7)) {
        for (let i = typed - 1; i >= 0 && edits.length < count; i--) apply({ from: at + i, to: at + i + 1, insert: '' });
      }
    } else if (r < 0.85) {
      // Type words into a comment.
      const at = commentSite(current, rng);
      if (at === undefined) continue;
      const word = ` ${rng.pick(['why', 'check', 'todo', 'lr', 'frozen', 'again', 'note'])}`.slice(0, room);
      for (let i = 0; i < word.length; i++) apply({ from: at + i, to: at + i, insert: word[i] });
    } else {
      // Backspace one character of an identifier and retype it (a typo fixed).
      const at = identifierSite(current, rng);
      if (at === undefined || at === 0 || !/\w/.test(current[at - 1])) continue;
      const removed = current[at - 1];
      apply({ from: at - 1, to: at, insert: '' });
      if (edits.length < count) apply({ from: at - 1, to: at - 1, insert: removed });
    }
  }
  return edits;
}

/** The offset just after some identifier on a random line, or undefined for a line without one. */
function identifierSite(text: string, rng: Rng): number | undefined {
  const { start, line } = randomLine(text, rng);
  const words = [...line.matchAll(/[A-Za-z_]\w*/g)].filter((m) => !KEYWORDS.has(m[0]));
  if (words.length === 0) return undefined;
  const m = rng.pick(words);
  return start + m.index! + m[0].length;
}

/** The end of a random comment line, or undefined when the file has none. */
function commentSite(text: string, rng: Rng): number | undefined {
  const comments = [...text.matchAll(/^[ \t]*#.*$/gm)];
  if (comments.length === 0) return undefined;
  const m = rng.pick(comments);
  return m.index! + m[0].length;
}

function randomLine(text: string, rng: Rng): { start: number; line: string } {
  let start = Math.floor(rng.next() * text.length);
  start = text.lastIndexOf('\n', start - 1) + 1;
  let end = text.indexOf('\n', start);
  if (end === -1) end = text.length;
  return { start, line: text.slice(start, end) };
}

const KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield self'.split(' '),
);

/** 0-based line and UTF-16 character of an offset, as LSP positions count them. */
export function positionAt(text: string, offset: number): { line: number; character: number } {
  let line = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, character: offset - lineStart };
}

export function applyEdit(text: string, e: CharEdit): string {
  return text.slice(0, e.from) + e.insert + text.slice(e.to);
}
