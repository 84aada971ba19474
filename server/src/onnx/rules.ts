/**
 * The rules that read .onnx files (their pages are docs/rules/FRZ101.md to
 * FRZ105.md). They share the configuration of the Python rules: `select`,
 * `ignore` and `severity` in pyproject.toml or the settings.
 */

export type OnnxSeverity = 'error' | 'warning' | 'information' | 'hint';

export interface OnnxDiagnostic {
  ruleId: 'FRZ101' | 'FRZ102' | 'FRZ103' | 'FRZ104' | 'FRZ105';
  name: string;
  severity: OnnxSeverity;
  message: string;
  /** Where in the graph: a node or tensor name. */
  where?: string;
  /** Byte offset in the file, for a file that cannot be read. */
  offset?: number;
}

export const ONNX_RULES: Record<OnnxDiagnostic['ruleId'], { name: string; severity: OnnxSeverity; description: string }> = {
  FRZ101: { name: 'onnx-batchnorm-training-mode', severity: 'warning', description: 'BatchNormalization runs in training mode: at inference it normalizes with batch statistics.' },
  FRZ102: { name: 'onnx-dropout-training-mode', severity: 'warning', description: 'Dropout is exported in training mode: inference drops activations at random.' },
  FRZ103: { name: 'onnx-batchnorm-folded', severity: 'information', description: 'BatchNorm was folded into Conv: BN freezing cannot be analysed from this file.' },
  FRZ104: { name: 'onnx-external-data', severity: 'error', description: 'External tensor data is missing, short, or outside the model folder.' },
  FRZ105: { name: 'onnx-unreadable', severity: 'error', description: 'The file is not a readable ONNX model.' },
};


