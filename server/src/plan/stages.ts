import type { ModelTreeNode } from '../engine/models';

/**
 * The stages of an architecture, in forward order: what "freeze up to stage
 * k", gradual unfreezing and discriminative learning rates count in.
 *
 * A model is a stem, a run of repeated blocks, and a head. The blocks are
 * the largest group of numbered siblings in the tree (ResNet `layer1` to
 * `layer4`, ViT `encoder.layers.encoder_layer_0...`, BERT
 * `bert.encoder.layer.0...`, EfficientNet `features.0...`); a sibling between
 * two blocks (DenseNet's `transition1`) belongs to the block before it.
 * What runs before the first block (and the own parameters of the blocks'
 * ancestors, such as ViT's `class_token`, by parameter path) is the stem; what runs after the
 * last one belongs to the last stage. The head is the model's new
 * classifier: the module the script replaced, or the top-level child named
 * as heads are (`fc`, `classifier`, `head`, `heads`, ...).
 *
 * A model without such a group (an unknown class) gets one stage per
 * top-level child that holds parameters.
 */

export interface Stage {
  name: string;
  /** Module paths, or parameter paths (`class_token`) for a model's own parameters. */
  paths: string[];
  params: number;
}

export interface Stages {
  /** In forward order, the head excluded. */
  stages: Stage[];
  head: Stage | undefined;
  /** How the stages were found: numbered blocks, or the top-level children. */
  kind: 'blocks' | 'children';
}

const HEAD_NAMES = /^(fc|head|heads|classifier|lm_head|score|cls|last_linear|output|out|logits|final)$/;
/** `layer1`, `encoder_layer_0`, `0`, `stage2`, `blocks`... a name that ends in a number, split there. */
const NUMBERED = /^(.*?)(\d+)$/;

export function stagesOf(root: ModelTreeNode, headPath?: string): Stages {
  const head = findHead(root, headPath);
  const group = largestNumberedGroup(root, head?.path);
  if (!group) return byChildren(root, head);

  const stages: Stage[] = [];
  const stem: string[] = [];
  const tail: string[] = [];
  // The group's parent: members start stages, siblings between them join the stage before.
  const parent = group.parent;
  let current: Stage | undefined;
  for (const c of parent.children) {
    if (c.path === head?.path) continue;
    if (group.members.includes(c)) {
      current = { name: c.path, paths: [c.path], params: 0 };
      stages.push(current);
    } else if (holdsParams(c)) {
      if (current) current.paths.push(c.path);
      else stem.push(c.path);
    }
  }
  // From the group's parent up to the model: own parameters go to the stem; siblings before the chain
  // go to the stem, after it to the last stage.
  const chain = ancestors(root, parent.path);
  for (let i = chain.length - 1; i >= 0; i--) {
    const node = chain[i];
    const next = i + 1 < chain.length ? chain[i + 1] : parent;
    if (ownParams(node) > 0) stem.unshift(...ownParamPaths(node));
    if (node === parent) continue;
    const at = node.children.indexOf(next);
    node.children.forEach((c, j) => {
      if (c === next || c.path === head?.path || !holdsParams(c)) return;
      if (j < at) stem.push(c.path);
      else tail.push(c.path);
    });
  }
  stages[stages.length - 1].paths.push(...tail);
  const all = stem.length > 0 ? [{ name: 'stem', paths: sortStem(root, stem), params: 0 }, ...stages] : stages;
  for (const s of all) s.params = s.paths.reduce((n, p) => n + paramsAt(root, p), 0);
  return { stages: all, head: head && { name: head.path, paths: [head.path], params: subtree(head) }, kind: 'blocks' };
}

function byChildren(root: ModelTreeNode, head: ModelTreeNode | undefined): Stages {
  const stages: Stage[] = [];
  if (ownParams(root) > 0) stages.push({ name: 'stem', paths: ownParamPaths(root), params: ownParams(root) });
  for (const c of root.children) {
    if (c === head || !holdsParams(c)) continue;
    stages.push({ name: c.path, paths: [c.path], params: subtree(c) });
  }
  return { stages, head: head && { name: head.path, paths: [head.path], params: subtree(head) }, kind: 'children' };
}

/** The head: the path the script assigned, else the last top-level child with parameters named as heads are. */
function findHead(root: ModelTreeNode, headPath?: string): ModelTreeNode | undefined {
  if (headPath !== undefined) {
    const found = nodeAt(root, headPath);
    if (found) return found;
  }
  const withParams = root.children.filter(holdsParams);
  const named = [...withParams].reverse().find((c) => HEAD_NAMES.test(c.path));
  if (named) return named;
  // A wrapper (HF's `bert` + `classifier`, a user's `backbone` + `head`) names its head one level down at most.
  const last = withParams[withParams.length - 1];
  return last?.children.filter(holdsParams).reverse().find((c) => HEAD_NAMES.test(c.path.slice(c.path.lastIndexOf('.') + 1)));
}

interface Group {
  parent: ModelTreeNode;
  members: ModelTreeNode[];
  params: number;
}

/** Among all nodes, the set of children sharing a numbered name pattern that holds the most parameters. */
function largestNumberedGroup(root: ModelTreeNode, headPath: string | undefined): Group | undefined {
  let best: Group | undefined;
  const visit = (n: ModelTreeNode) => {
    if (n.path === headPath) return;
    const byPrefix = new Map<string, ModelTreeNode[]>();
    for (const c of n.children) {
      const leaf = c.path.slice(c.path.lastIndexOf('.') + 1);
      const m = NUMBERED.exec(leaf);
      if (!m || !holdsParams(c)) continue;
      const list = byPrefix.get(m[1]) ?? [];
      list.push(c);
      byPrefix.set(m[1], list);
    }
    for (const members of byPrefix.values()) {
      if (members.length < 2) continue;
      const params = members.reduce((s, c) => s + subtree(c), 0);
      if (!best || params > best.params) best = { parent: n, members, params };
    }
    n.children.forEach(visit);
  };
  visit(root);
  // Blocks hold most of a backbone; a small numbered group (a head's `0`, `1`) is not the backbone's stages.
  const total = subtree(root);
  return best && total > 0 && best.params >= 0.3 * total ? best : undefined;
}

function ancestors(root: ModelTreeNode, path: string): ModelTreeNode[] {
  const out: ModelTreeNode[] = [root];
  if (path === '') return out;
  let node = root;
  for (const seg of path.split('.')) {
    const next = node.children.find((c) => c.path === (node.path === '' ? seg : `${node.path}.${seg}`));
    if (!next) break;
    out.push(next);
    node = next;
  }
  return out;
}

/** Stem parts in the order they run: own parameters of the model first, then modules in tree order. */
function sortStem(root: ModelTreeNode, paths: string[]): string[] {
  const order = new Map<string, number>();
  let i = 0;
  const visit = (n: ModelTreeNode) => {
    order.set(n.path, i++);
    n.children.forEach(visit);
  };
  visit(root);
  return [...new Set(paths)].sort((a, b) => (order.get(a) ?? -1) - (order.get(b) ?? -1));
}

export function nodeAt(root: ModelTreeNode, path: string): ModelTreeNode | undefined {
  if (path === '') return root;
  for (const c of root.children) {
    if (c.path === path) return c;
    if (path.startsWith(`${c.path}.`)) return nodeAt(c, path);
  }
  return undefined;
}

/** Own parameters of a module, as `parameters(recurse=False)` counts them. */
function ownParams(n: ModelTreeNode): number {
  return n.params ?? 0;
}

/** A module's own parameters by their paths (`class_token`, `encoder.pos_embedding`); none where their names are unknown. */
function ownParamPaths(n: ModelTreeNode): string[] {
  return (n.paramNames ?? []).map((p) => (n.path === '' ? p : `${n.path}.${p}`));
}

export function subtree(n: ModelTreeNode): number {
  return (n.params ?? 0) + n.children.reduce((s, c) => s + subtree(c), 0);
}

function holdsParams(n: ModelTreeNode): boolean {
  return subtree(n) > 0;
}

/** Parameters under a path: a module's subtree, or one parameter (`class_token`). */
export function paramsAt(root: ModelTreeNode, path: string): number {
  const n = nodeAt(root, path);
  if (n) return subtree(n);
  const dot = path.lastIndexOf('.');
  const owner = nodeAt(root, dot < 0 ? '' : path.slice(0, dot));
  const i = owner?.paramNames?.indexOf(path.slice(dot + 1)) ?? -1;
  return i >= 0 ? (owner!.paramSizes?.[i] ?? 0) : 0;
}

/** Whether a path names one parameter of a module rather than a module. */
export function isParamPath(root: ModelTreeNode, path: string): boolean {
  if (nodeAt(root, path)) return false;
  const dot = path.lastIndexOf('.');
  return !!nodeAt(root, dot < 0 ? '' : path.slice(0, dot))?.paramNames?.includes(path.slice(dot + 1));
}
