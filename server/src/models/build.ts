import type { ModuleNode } from './tree';

/**
 * Small builders for module trees written by hand from a configuration
 * (the Hugging Face and timm families): a module with its own parameters
 * and children, and the layers those families are made of.
 */

/** Own parameters in registration order: name and numel. */
export type Own = readonly (readonly [string, number])[];
/** A child: attribute name and tree. */
export type Kid = readonly [string, ModuleNode];

export function node(cls: string, children: readonly (Kid | undefined)[] = [], own: Own = [], buffers = 0, extra: Partial<ModuleNode> = {}): ModuleNode {
  return {
    name: '',
    cls,
    params: own.reduce((s, [, n]) => s + n, 0),
    buffers,
    paramNames: own.map(([n]) => n),
    paramSizes: own.map(([, n]) => n),
    children: children.filter((k): k is Kid => k !== undefined).map(([name, c]) => ({ ...c, name })),
    ...extra,
  };
}

/** A module without parameters: an activation, a pooling layer. */
export const leaf = (cls: string): ModuleNode => node(cls);
export const identity = (): ModuleNode => leaf('Identity');
export const linear = (i: number, o: number, bias = true): ModuleNode =>
  node('Linear', [], bias ? [['weight', i * o], ['bias', o]] : [['weight', i * o]], 0, { attrs: { in_features: i, out_features: o } });
export const conv2d = (i: number, o: number, k: number, opts: { groups?: number; bias?: boolean } = {}): ModuleNode =>
  node('Conv2d', [], [['weight', o * (i / (opts.groups ?? 1)) * k * k], ...(opts.bias ? [['bias', o] as const] : [])], 0, {
    attrs: { in_channels: i, out_channels: o, groups: opts.groups ?? 1 },
  });
/** BatchNorm with affine parameters and running statistics (running_mean, running_var, num_batches_tracked). */
export const batchNorm = (c: number, cls = 'BatchNorm2d', children: readonly Kid[] = []): ModuleNode =>
  node(cls, children, [['weight', c], ['bias', c]], 2 * c + 1, { runningStats: true, attrs: { num_features: c } });
export const layerNorm = (n: number, cls = 'LayerNorm'): ModuleNode => node(cls, [], [['weight', n], ['bias', n]]);
export const embedding = (n: number, d: number): ModuleNode => node('Embedding', [], [['weight', n * d]], 0, { attrs: { num_embeddings: n, embedding_dim: d } });
export const dropout = (p: number): ModuleNode => node('Dropout', [], [], 0, { dropout: p > 0 });
export const sequential = (items: readonly ModuleNode[]): ModuleNode => node('Sequential', items.map((m, i) => [String(i), m] as const));
export const moduleList = (items: readonly ModuleNode[]): ModuleNode => node('ModuleList', items.map((m, i) => [String(i), m] as const));
export const repeat = (n: number, make: (i: number) => ModuleNode): ModuleNode => moduleList(Array.from({ length: n }, (_, i) => make(i)));
