import type { SourceUnit } from './sourceUnit';

/**
 * What the analysis runs over: one script, or the code cells of one notebook
 * in order. Cells share one module scope, exactly as they do in a kernel that
 * ran them top to bottom.
 */
export interface Program {
  /** Identifies the document (URI or path); used in logs. */
  id: string;
  units: SourceUnit[];
}
