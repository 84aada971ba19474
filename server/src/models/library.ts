import { catalogInfo, catalogTree } from './catalog';
import { hfTree } from './hf';
import { argumentsKey, type LayerArg, type LayerArgs } from './nnLayers';
import { timmTree } from './timm';
import { joinTrees, type ModuleNode } from './tree';

/**
 * Models built by library calls: torchvision builders and `get_model`,
 * `timm.create_model`, and Hugging Face `from_pretrained`. Both the
 * freeze-state interpreter and the class evaluator ask here, so a backbone
 * has the same tree in a script and inside a user class.
 */
export interface LibraryModel {
  tree: ModuleNode;
  /** The architecture: `resnet18`, `timm:resnet50`, `hf:bert-base-uncased`. */
  family: string;
  pretrained: boolean;
}

/** Whether a weights/pretrained argument asks for pretrained weights; undefined when not known. */
function pretrainedArg(v: LayerArg, absent: boolean): boolean | undefined {
  if (v === null || v === false) return false;
  if (v === undefined) return absent ? false : undefined;
  return true;
}

function numArg(v: LayerArg): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * `q` is the qualified callee (`torchvision.models.resnet18`,
 * `transformers.AutoModelForSequenceClassification.from_pretrained`).
 * Undefined when it is not a known model, or an argument that decides the
 * structure is not known.
 */
export function libraryModel(q: string, args: LayerArgs): LibraryModel | undefined {
  // The same call at every keystroke gets the same (immutable) tree object, so what is derived from it is cached too.
  const key = argumentsKey(q, args, 'none');
  if (key !== undefined && memo.has(key)) return memo.get(key);
  const result = build(q, args);
  if (key !== undefined) {
    if (memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value!);
    memo.set(key, result);
  }
  return result;
}

const MEMO_SIZE = 512;
const memo = new Map<string, LibraryModel | undefined>();

function build(q: string, args: LayerArgs): LibraryModel | undefined {
  const kw = args.keyword;
  const tv = /^torchvision\.models\.(?:(?:detection|segmentation|video|optical_flow|quantization)\.)?(\w+)$/.exec(q);
  if (tv) {
    let arch = tv[1];
    if (arch === 'get_model') {
      const name = args.positional[0] ?? kw.get('name');
      if (typeof name !== 'string') return undefined;
      arch = name.toLowerCase();
    }
    const weights = kw.has('weights') ? kw.get('weights') : kw.has('pretrained') ? kw.get('pretrained') : null;
    const pretrained = pretrainedArg(weights, !kw.has('weights') && !kw.has('pretrained'));
    // Detection and segmentation builders default weights_backbone to ImageNet weights (the _v2 ones to None).
    const info = catalogInfo(arch);
    const backboneGiven = kw.has('weights_backbone') || kw.has('pretrained_backbone');
    const backboneArg = kw.has('weights_backbone') ? kw.get('weights_backbone') : kw.get('pretrained_backbone');
    const backbone = backboneGiven ? pretrainedArg(backboneArg, false) : (info?.backboneByDefault ?? false);
    if (args.star || [...kw.keys()].some((k) => !KNOWN_TORCHVISION_KWARGS.has(k))) return undefined;
    const numClasses = kw.has('num_classes') ? numArg(kw.get('num_classes')) : undefined;
    if (kw.has('num_classes') && numClasses === undefined) return undefined;
    const build = (p: boolean, b: boolean) => catalogTree(arch, { numClasses, pretrained: p, pretrainedBackbone: b && info?.takesBackboneWeights === true });
    // `weights=weights if pretrained else None`: both variants are possible; where they agree, the structure is known.
    const variants: ModuleNode[] = [];
    for (const p of pretrained === undefined ? [false, true] : [pretrained]) {
      for (const b of backbone === undefined ? [false, true] : [backbone]) {
        const t = build(p, b);
        if (t) variants.push(t);
      }
    }
    if (variants.length === 0) return undefined;
    const tree = variants.reduce(joinTrees);
    return { tree, family: arch, pretrained: pretrained ?? false };
  }
  if (q === 'timm.create_model' || q === 'timm.models.create_model') {
    const name = args.positional[0] ?? kw.get('model_name');
    if (typeof name !== 'string' || args.star) return undefined;
    const pretrained = pretrainedArg(kw.has('pretrained') ? kw.get('pretrained') : (args.positional[1] ?? false), false);
    const numClasses = kw.has('num_classes') ? numArg(kw.get('num_classes')) : undefined;
    if (pretrained === undefined || (kw.has('num_classes') && numClasses === undefined)) return undefined;
    if ([...kw.keys()].some((k) => !KNOWN_TIMM_KWARGS.has(k))) return undefined;
    // The pretrained tag (`.augreg_in21k`) can decide the head: timmTree reads it.
    const arch = name.replace(/^(hf[-_]hub:)?timm\//, '');
    const tree = timmTree(arch, { numClasses, pretrained });
    return tree && { tree, family: `timm:${arch}`, pretrained };
  }
  const hf = /^(?:transformers\.)(?:models\.[\w.]+\.)?(\w+)\.from_pretrained$/.exec(q);
  if (hf) {
    const checkpoint = args.positional[0] ?? kw.get('pretrained_model_name_or_path');
    if (typeof checkpoint !== 'string' || args.star) return undefined;
    const numLabels = kw.has('num_labels') ? numArg(kw.get('num_labels')) : undefined;
    if (kw.has('num_labels') && numLabels === undefined) return undefined;
    if ([...kw.keys()].some((k) => !KNOWN_HF_KWARGS.has(k))) return undefined;
    const tree = hfTree(hf[1], checkpoint, { numLabels });
    return tree && { tree, family: `hf:${checkpoint}`, pretrained: true };
  }
  return undefined;
}

/** Keyword arguments that do not change a torchvision model's structure (or that the catalog applies). */
const KNOWN_TORCHVISION_KWARGS = new Set(['weights', 'pretrained', 'progress', 'num_classes', 'weights_backbone', 'pretrained_backbone', 'name']);
const KNOWN_TIMM_KWARGS = new Set(['pretrained', 'num_classes', 'model_name', 'pretrained_cfg', 'checkpoint_path', 'cache_dir']);
/** Loading options that leave the module tree alone. */
const KNOWN_HF_KWARGS = new Set([
  'num_labels',
  'pretrained_model_name_or_path',
  'cache_dir',
  'revision',
  'torch_dtype',
  'device_map',
  'local_files_only',
  'trust_remote_code',
  'ignore_mismatched_sizes',
  'token',
  'use_auth_token',
  'low_cpu_mem_usage',
  'problem_type',
  'force_download',
  'output_attentions',
  'output_hidden_states',
  'return_dict',
]);
