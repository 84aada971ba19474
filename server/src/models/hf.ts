import { dropout, embedding, layerNorm, leaf as act, linear, moduleList as list, node, repeat } from './build';
import type { ModuleNode } from './tree';

/*
 * Module trees of Hugging Face transformers models, as transformers 4.30
 * builds them in `from_pretrained`: class and attribute names from its
 * modeling files, sizes from each checkpoint's config.json. Hand-written
 * because the Python package cannot be installed where the analysis runs;
 * every tree is built from the config table below, never downloaded.
 *
 * Buffers in 4.30: BERT/RoBERTa embeddings register `position_ids` and
 * `token_type_ids` (1 x max_position_embeddings each), DistilBERT and CLIP
 * embeddings `position_ids`, and every GPT-2 attention its causal mask
 * `bias` (1 x 1 x n_positions x n_positions) and the scalar `masked_bias`.
 * ViT and T5 register none.
 *
 * Tied weights: the output embedding of a language-model head is the input
 * embedding (`tie_word_embeddings`, on for every checkpoint here), and the
 * MLM decoders' `bias` is the head's own `bias`; T5's `encoder.embed_tokens`
 * and `decoder.embed_tokens` are the `shared` module itself. Each appears
 * in the tree with `tied` covering the aliased numel, so totals count each
 * tensor once, as `model.parameters()` does.
 */

/** transformers' Conv1D(nf, nx): a transposed Linear from nx to nf. */
const conv1d = (nf: number, nx: number): ModuleNode => node('Conv1D', [], [['weight', nx * nf], ['bias', nf]]);
/** The same module (or parameters) registered again: every own numel aliases one seen earlier. */
const tiedAll = (m: ModuleNode): ModuleNode => ({ ...m, tied: m.params ?? 0 });

/** ACT2FN classes of 4.30 for the `hidden_act` strings used here. */
const ACT: Record<string, string> = { gelu: 'GELUActivation', gelu_new: 'NewGELUActivation', quick_gelu: 'QuickGELUActivation', relu: 'ReLU' };

// ---------------------------------------------------------------- configs

interface BertCfg {
  type: 'bert' | 'roberta';
  vocab: number;
  hidden: number;
  layers: number;
  inter: number;
  maxPos: number;
  typeVocab: number;
}
interface DistilBertCfg {
  type: 'distilbert';
  vocab: number;
  dim: number;
  layers: number;
  hiddenDim: number;
  maxPos: number;
}
interface Gpt2Cfg {
  type: 'gpt2';
  vocab: number;
  nEmbd: number;
  nLayer: number;
  nPositions: number;
}
interface VitCfg {
  type: 'vit';
  hidden: number;
  layers: number;
  inter: number;
  patch: number;
  image: number;
}
interface ClipTower {
  hidden: number;
  layers: number;
  inter: number;
}
interface ClipCfg {
  type: 'clip';
  text: ClipTower & { vocab: number; maxPos: number };
  vision: ClipTower & { patch: number; image: number };
  projection: number;
}
interface T5Cfg {
  type: 't5';
  vocab: number;
  dModel: number;
  dKv: number;
  dFf: number;
  heads: number;
  layers: number;
  decoderLayers: number;
}
type HfConfig = (BertCfg | DistilBertCfg | Gpt2Cfg | VitCfg | ClipCfg | T5Cfg) & {
  /** `num_labels` of the checkpoint's config (its id2label); 2 when it has none. */
  numLabels?: number;
  /** Hub names that resolve to the same repository. */
  aliases?: readonly string[];
};

const bert = (vocab: number, hidden: number, layers: number, inter: number, aliases: string[], extra: Partial<BertCfg> = {}): HfConfig => ({
  type: 'bert', vocab, hidden, layers, inter, maxPos: 512, typeVocab: 2, aliases, ...extra,
});
const roberta = (hidden: number, layers: number, inter: number, aliases: string[]): HfConfig => ({
  type: 'roberta', vocab: 50265, hidden, layers, inter, maxPos: 514, typeVocab: 1, aliases,
});
const distilbert = (vocab: number, aliases: string[], numLabels?: number): HfConfig => ({
  type: 'distilbert', vocab, dim: 768, layers: 6, hiddenDim: 3072, maxPos: 512, aliases, ...(numLabels ? { numLabels } : {}),
});
const gpt2 = (nEmbd: number, nLayer: number, aliases: string[]): HfConfig => ({ type: 'gpt2', vocab: 50257, nEmbd, nLayer, nPositions: 1024, aliases });
const vit = (hidden: number, layers: number, inter: number, numLabels?: number): HfConfig => ({
  type: 'vit', hidden, layers, inter, patch: 16, image: 224, ...(numLabels ? { numLabels } : {}),
});
const clip = (patch: number, vision: ClipTower, text: ClipTower, projection: number): HfConfig => ({
  type: 'clip', vision: { ...vision, patch, image: 224 }, text: { ...text, vocab: 49408, maxPos: 77 }, projection,
});
const t5 = (dModel: number, dFf: number, heads: number, layers: number, aliases: string[]): HfConfig => ({
  type: 't5', vocab: 32128, dModel, dKv: 64, dFf, heads, layers, decoderLayers: layers, aliases,
});

/** config.json values of each checkpoint (the fields that decide the tree). */
const CHECKPOINTS: Record<string, HfConfig> = {
  'bert-base-uncased': bert(30522, 768, 12, 3072, ['google-bert/bert-base-uncased']),
  'bert-base-cased': bert(28996, 768, 12, 3072, ['google-bert/bert-base-cased']),
  'bert-large-uncased': bert(30522, 1024, 24, 4096, ['google-bert/bert-large-uncased']),
  'bert-large-cased': bert(28996, 1024, 24, 4096, ['google-bert/bert-large-cased']),
  'bert-base-multilingual-cased': bert(119547, 768, 12, 3072, ['google-bert/bert-base-multilingual-cased']),
  'bert-base-multilingual-uncased': bert(105879, 768, 12, 3072, ['google-bert/bert-base-multilingual-uncased']),
  'bert-base-chinese': bert(21128, 768, 12, 3072, ['google-bert/bert-base-chinese']),
  'roberta-base': roberta(768, 12, 3072, ['FacebookAI/roberta-base']),
  'roberta-large': roberta(1024, 24, 4096, ['FacebookAI/roberta-large']),
  'distilroberta-base': roberta(768, 6, 3072, ['distilbert/distilroberta-base']),
  'distilbert-base-uncased': distilbert(30522, ['distilbert/distilbert-base-uncased']),
  'distilbert-base-cased': distilbert(28996, ['distilbert/distilbert-base-cased']),
  'distilbert-base-multilingual-cased': distilbert(119547, ['distilbert/distilbert-base-multilingual-cased']),
  'distilbert-base-uncased-finetuned-sst-2-english': distilbert(30522, ['distilbert/distilbert-base-uncased-finetuned-sst-2-english'], 2),
  gpt2: gpt2(768, 12, ['openai-community/gpt2']),
  'gpt2-medium': gpt2(1024, 24, ['openai-community/gpt2-medium']),
  'gpt2-large': gpt2(1280, 36, ['openai-community/gpt2-large']),
  'gpt2-xl': gpt2(1600, 48, ['openai-community/gpt2-xl']),
  distilgpt2: gpt2(768, 6, ['distilbert/distilgpt2']),
  'google/vit-base-patch16-224': vit(768, 12, 3072, 1000),
  'google/vit-base-patch16-224-in21k': vit(768, 12, 3072),
  'google/vit-large-patch16-224': vit(1024, 24, 4096, 1000),
  'openai/clip-vit-base-patch32': clip(32, { hidden: 768, layers: 12, inter: 3072 }, { hidden: 512, layers: 12, inter: 2048 }, 512),
  'openai/clip-vit-base-patch16': clip(16, { hidden: 768, layers: 12, inter: 3072 }, { hidden: 512, layers: 12, inter: 2048 }, 512),
  'openai/clip-vit-large-patch14': clip(14, { hidden: 1024, layers: 24, inter: 4096 }, { hidden: 768, layers: 12, inter: 3072 }, 768),
  't5-small': t5(512, 2048, 8, 6, ['google-t5/t5-small']),
  't5-base': t5(768, 3072, 12, 12, ['google-t5/t5-base']),
  't5-large': t5(1024, 4096, 16, 24, ['google-t5/t5-large']),
};

const ALIASES = new Map<string, string>();
for (const [name, cfg] of Object.entries(CHECKPOINTS)) for (const a of cfg.aliases ?? []) ALIASES.set(a, name);

function lookup(checkpoint: string): HfConfig | undefined {
  const name = ALIASES.get(checkpoint) ?? checkpoint;
  return Object.prototype.hasOwnProperty.call(CHECKPOINTS, name) ? CHECKPOINTS[name] : undefined;
}

// ------------------------------------------------------------ BERT, RoBERTa
// hidden_dropout_prob and attention_probs_dropout_prob are 0.1 in every
// checkpoint here; classifier_dropout is unset, so heads use 0.1 too.

const BERT_DROP = 0.1;

function bertModel(c: BertCfg, pooling: boolean): ModuleNode {
  const P = c.type === 'bert' ? 'Bert' : 'Roberta';
  const h = c.hidden;
  const ln = () => layerNorm(h);
  const layer = () =>
    node(`${P}Layer`, [
      ['attention', node(`${P}Attention`, [
        ['self', node(`${P}SelfAttention`, [['query', linear(h, h)], ['key', linear(h, h)], ['value', linear(h, h)], ['dropout', dropout(BERT_DROP)]])],
        ['output', node(`${P}SelfOutput`, [['dense', linear(h, h)], ['LayerNorm', ln()], ['dropout', dropout(BERT_DROP)]])],
      ])],
      ['intermediate', node(`${P}Intermediate`, [['dense', linear(h, c.inter)], ['intermediate_act_fn', act(ACT.gelu)]])],
      ['output', node(`${P}Output`, [['dense', linear(c.inter, h)], ['LayerNorm', ln()], ['dropout', dropout(BERT_DROP)]])],
    ]);
  return node(`${P}Model`, [
    ['embeddings', node(`${P}Embeddings`, [
      ['word_embeddings', embedding(c.vocab, h)],
      ['position_embeddings', embedding(c.maxPos, h)],
      ['token_type_embeddings', embedding(c.typeVocab, h)],
      ['LayerNorm', ln()],
      ['dropout', dropout(BERT_DROP)],
    ], [], 2 * c.maxPos)], // position_ids, token_type_ids
    ['encoder', node(`${P}Encoder`, [['layer', repeat(c.layers, layer)]])],
    pooling ? ['pooler', node(`${P}Pooler`, [['dense', linear(h, h)], ['activation', act('Tanh')]])] : undefined,
  ]);
}

/** BERT's MLM head: `decoder.weight` is `word_embeddings.weight`, `decoder.bias` is `predictions.bias`. */
function bertLmPrediction(c: BertCfg): ModuleNode {
  return node('BertLMPredictionHead', [
    ['transform', node('BertPredictionHeadTransform', [['dense', linear(c.hidden, c.hidden)], ['transform_act_fn', act(ACT.gelu)], ['LayerNorm', layerNorm(c.hidden)]])],
    ['decoder', tiedAll(linear(c.hidden, c.vocab))],
  ], [['bias', c.vocab]]);
}

function robertaLmHead(c: BertCfg): ModuleNode {
  return node('RobertaLMHead', [
    ['dense', linear(c.hidden, c.hidden)],
    ['layer_norm', layerNorm(c.hidden)],
    ['decoder', tiedAll(linear(c.hidden, c.vocab))],
  ], [['bias', c.vocab]]);
}

type Builder<C> = (c: C, numLabels: number) => ModuleNode | undefined;

const BERT_CLASSES: Record<string, Builder<BertCfg>> = {
  BertModel: (c) => bertModel(c, true),
  BertForSequenceClassification: (c, n) =>
    node('BertForSequenceClassification', [['bert', bertModel(c, true)], ['dropout', dropout(BERT_DROP)], ['classifier', linear(c.hidden, n)]]),
  BertForTokenClassification: (c, n) =>
    node('BertForTokenClassification', [['bert', bertModel(c, false)], ['dropout', dropout(BERT_DROP)], ['classifier', linear(c.hidden, n)]]),
  BertForQuestionAnswering: (c, n) => node('BertForQuestionAnswering', [['bert', bertModel(c, false)], ['qa_outputs', linear(c.hidden, n)]]),
  BertForMultipleChoice: (c) =>
    node('BertForMultipleChoice', [['bert', bertModel(c, true)], ['dropout', dropout(BERT_DROP)], ['classifier', linear(c.hidden, 1)]]),
  BertForMaskedLM: (c) => node('BertForMaskedLM', [['bert', bertModel(c, false)], ['cls', node('BertOnlyMLMHead', [['predictions', bertLmPrediction(c)]])]]),
  BertLMHeadModel: (c) => node('BertLMHeadModel', [['bert', bertModel(c, false)], ['cls', node('BertOnlyMLMHead', [['predictions', bertLmPrediction(c)]])]]),
  BertForPreTraining: (c) =>
    node('BertForPreTraining', [
      ['bert', bertModel(c, true)],
      ['cls', node('BertPreTrainingHeads', [['predictions', bertLmPrediction(c)], ['seq_relationship', linear(c.hidden, 2)]])],
    ]),
  BertForNextSentencePrediction: (c) =>
    node('BertForNextSentencePrediction', [['bert', bertModel(c, true)], ['cls', node('BertOnlyNSPHead', [['seq_relationship', linear(c.hidden, 2)]])]]),
};

const ROBERTA_CLASSES: Record<string, Builder<BertCfg>> = {
  RobertaModel: (c) => bertModel(c, true),
  RobertaForSequenceClassification: (c, n) =>
    node('RobertaForSequenceClassification', [
      ['roberta', bertModel(c, false)],
      ['classifier', node('RobertaClassificationHead', [['dense', linear(c.hidden, c.hidden)], ['dropout', dropout(BERT_DROP)], ['out_proj', linear(c.hidden, n)]])],
    ]),
  RobertaForTokenClassification: (c, n) =>
    node('RobertaForTokenClassification', [['roberta', bertModel(c, false)], ['dropout', dropout(BERT_DROP)], ['classifier', linear(c.hidden, n)]]),
  RobertaForQuestionAnswering: (c, n) => node('RobertaForQuestionAnswering', [['roberta', bertModel(c, false)], ['qa_outputs', linear(c.hidden, n)]]),
  RobertaForMultipleChoice: (c) =>
    node('RobertaForMultipleChoice', [['roberta', bertModel(c, true)], ['dropout', dropout(BERT_DROP)], ['classifier', linear(c.hidden, 1)]]),
  RobertaForMaskedLM: (c) => node('RobertaForMaskedLM', [['roberta', bertModel(c, false)], ['lm_head', robertaLmHead(c)]]),
  RobertaForCausalLM: (c) => node('RobertaForCausalLM', [['roberta', bertModel(c, false)], ['lm_head', robertaLmHead(c)]]),
};

// ---------------------------------------------------------------- DistilBERT
// dropout and attention_dropout 0.1, seq_classif_dropout 0.2, qa_dropout 0.1.

function distilBertModel(c: DistilBertCfg): ModuleNode {
  const d = c.dim;
  const block = () =>
    node('TransformerBlock', [
      ['attention', node('MultiHeadSelfAttention', [
        ['dropout', dropout(0.1)],
        ['q_lin', linear(d, d)],
        ['k_lin', linear(d, d)],
        ['v_lin', linear(d, d)],
        ['out_lin', linear(d, d)],
      ])],
      ['sa_layer_norm', layerNorm(d)],
      ['ffn', node('FFN', [['dropout', dropout(0.1)], ['lin1', linear(d, c.hiddenDim)], ['lin2', linear(c.hiddenDim, d)], ['activation', act(ACT.gelu)]])],
      ['output_layer_norm', layerNorm(d)],
    ]);
  return node('DistilBertModel', [
    ['embeddings', node('Embeddings', [
      ['word_embeddings', embedding(c.vocab, d)],
      ['position_embeddings', embedding(c.maxPos, d)],
      ['LayerNorm', layerNorm(d)],
      ['dropout', dropout(0.1)],
    ], [], c.maxPos)], // position_ids
    ['transformer', node('Transformer', [['layer', repeat(c.layers, block)]])],
  ]);
}

const DISTILBERT_CLASSES: Record<string, Builder<DistilBertCfg>> = {
  DistilBertModel: (c) => distilBertModel(c),
  DistilBertForSequenceClassification: (c, n) =>
    node('DistilBertForSequenceClassification', [
      ['distilbert', distilBertModel(c)],
      ['pre_classifier', linear(c.dim, c.dim)],
      ['classifier', linear(c.dim, n)],
      ['dropout', dropout(0.2)],
    ]),
  DistilBertForTokenClassification: (c, n) =>
    node('DistilBertForTokenClassification', [['distilbert', distilBertModel(c)], ['dropout', dropout(0.1)], ['classifier', linear(c.dim, n)]]),
  // Its constructor raises unless num_labels == 2.
  DistilBertForQuestionAnswering: (c, n) =>
    n !== 2 ? undefined : node('DistilBertForQuestionAnswering', [['distilbert', distilBertModel(c)], ['qa_outputs', linear(c.dim, n)], ['dropout', dropout(0.1)]]),
  DistilBertForMultipleChoice: (c) =>
    node('DistilBertForMultipleChoice', [
      ['distilbert', distilBertModel(c)],
      ['pre_classifier', linear(c.dim, c.dim)],
      ['classifier', linear(c.dim, 1)],
      ['dropout', dropout(0.2)],
    ]),
  // `vocab_projector.weight` is `word_embeddings.weight`; its bias is its own. The loss is a registered module.
  DistilBertForMaskedLM: (c) =>
    node('DistilBertForMaskedLM', [
      ['activation', act(ACT.gelu)],
      ['distilbert', distilBertModel(c)],
      ['vocab_transform', linear(c.dim, c.dim)],
      ['vocab_layer_norm', layerNorm(c.dim)],
      ['vocab_projector', { ...linear(c.dim, c.vocab), tied: c.dim * c.vocab }],
      ['mlm_loss_fct', act('CrossEntropyLoss')],
    ]),
};

// ------------------------------------------------------------------- GPT-2
// resid_pdrop, embd_pdrop and attn_pdrop are 0.1; n_inner unset (4 x n_embd).

function gpt2Model(c: Gpt2Cfg): ModuleNode {
  const e = c.nEmbd;
  const block = () =>
    node('GPT2Block', [
      ['ln_1', layerNorm(e)],
      ['attn', node('GPT2Attention', [
        ['c_attn', conv1d(3 * e, e)],
        ['c_proj', conv1d(e, e)],
        ['attn_dropout', dropout(0.1)],
        ['resid_dropout', dropout(0.1)],
      ], [], c.nPositions * c.nPositions + 1)], // bias (causal mask), masked_bias
      ['ln_2', layerNorm(e)],
      ['mlp', node('GPT2MLP', [['c_fc', conv1d(4 * e, e)], ['c_proj', conv1d(e, 4 * e)], ['act', act(ACT.gelu_new)], ['dropout', dropout(0.1)]])],
    ]);
  return node('GPT2Model', [
    ['wte', embedding(c.vocab, e)],
    ['wpe', embedding(c.nPositions, e)],
    ['drop', dropout(0.1)],
    ['h', repeat(c.nLayer, block)],
    ['ln_f', layerNorm(e)],
  ]);
}

const GPT2_CLASSES: Record<string, Builder<Gpt2Cfg>> = {
  GPT2Model: (c) => gpt2Model(c),
  GPT2LMHeadModel: (c) => node('GPT2LMHeadModel', [['transformer', gpt2Model(c)], ['lm_head', tiedAll(linear(c.nEmbd, c.vocab, false))]]),
  GPT2ForSequenceClassification: (c, n) => node('GPT2ForSequenceClassification', [['transformer', gpt2Model(c)], ['score', linear(c.nEmbd, n, false)]]),
  GPT2ForTokenClassification: (c, n) =>
    node('GPT2ForTokenClassification', [['transformer', gpt2Model(c)], ['dropout', dropout(0.1)], ['classifier', linear(c.nEmbd, n)]]),
  GPT2ForQuestionAnswering: (c, n) => node('GPT2ForQuestionAnswering', [['transformer', gpt2Model(c)], ['qa_outputs', linear(c.nEmbd, n)]]),
};

// --------------------------------------------------------------------- ViT
// hidden_dropout_prob and attention_probs_dropout_prob are 0.0; qkv_bias on.

function vitModel(c: VitCfg, pooling: boolean): ModuleNode {
  const h = c.hidden;
  const tokens = (c.image / c.patch) ** 2 + 1;
  const layer = () =>
    node('ViTLayer', [
      ['attention', node('ViTAttention', [
        ['attention', node('ViTSelfAttention', [['query', linear(h, h)], ['key', linear(h, h)], ['value', linear(h, h)], ['dropout', dropout(0)]])],
        ['output', node('ViTSelfOutput', [['dense', linear(h, h)], ['dropout', dropout(0)]])],
      ])],
      ['intermediate', node('ViTIntermediate', [['dense', linear(h, c.inter)], ['intermediate_act_fn', act(ACT.gelu)]])],
      ['output', node('ViTOutput', [['dense', linear(c.inter, h)], ['dropout', dropout(0)]])],
      ['layernorm_before', layerNorm(h)],
      ['layernorm_after', layerNorm(h)],
    ]);
  return node('ViTModel', [
    ['embeddings', node('ViTEmbeddings', [
      ['patch_embeddings', node('ViTPatchEmbeddings', [['projection', node('Conv2d', [], [['weight', h * 3 * c.patch * c.patch], ['bias', h]])]])],
      ['dropout', dropout(0)],
    ], [['cls_token', h], ['position_embeddings', tokens * h]])],
    ['encoder', node('ViTEncoder', [['layer', repeat(c.layers, layer)]])],
    ['layernorm', layerNorm(h)],
    pooling ? ['pooler', node('ViTPooler', [['dense', linear(h, h)], ['activation', act('Tanh')]])] : undefined,
  ]);
}

const VIT_CLASSES: Record<string, Builder<VitCfg>> = {
  ViTModel: (c) => vitModel(c, true),
  ViTForImageClassification: (c, n) =>
    node('ViTForImageClassification', [['vit', vitModel(c, false)], ['classifier', n > 0 ? linear(c.hidden, n) : act('Identity')]]),
};

// -------------------------------------------------------------------- CLIP
// attention_dropout 0.0 and no Dropout modules; hidden_act quick_gelu.

function clipEncoder(t: ClipTower): ModuleNode {
  const h = t.hidden;
  const layer = () =>
    node('CLIPEncoderLayer', [
      ['self_attn', node('CLIPAttention', [['k_proj', linear(h, h)], ['v_proj', linear(h, h)], ['q_proj', linear(h, h)], ['out_proj', linear(h, h)]])],
      ['layer_norm1', layerNorm(h)],
      ['mlp', node('CLIPMLP', [['activation_fn', act(ACT.quick_gelu)], ['fc1', linear(h, t.inter)], ['fc2', linear(t.inter, h)]])],
      ['layer_norm2', layerNorm(h)],
    ]);
  return node('CLIPEncoder', [['layers', repeat(t.layers, layer)]]);
}

function clipText(c: ClipCfg): ModuleNode {
  const t = c.text;
  return node('CLIPTextTransformer', [
    ['embeddings', node('CLIPTextEmbeddings', [['token_embedding', embedding(t.vocab, t.hidden)], ['position_embedding', embedding(t.maxPos, t.hidden)]], [], t.maxPos)],
    ['encoder', clipEncoder(t)],
    ['final_layer_norm', layerNorm(t.hidden)],
  ]);
}

function clipVision(c: ClipCfg): ModuleNode {
  const v = c.vision;
  const positions = (v.image / v.patch) ** 2 + 1;
  return node('CLIPVisionTransformer', [
    ['embeddings', node('CLIPVisionEmbeddings', [
      ['patch_embedding', node('Conv2d', [], [['weight', v.hidden * 3 * v.patch * v.patch]])],
      ['position_embedding', embedding(positions, v.hidden)],
    ], [['class_embedding', v.hidden]], positions)],
    ['pre_layrnorm', layerNorm(v.hidden)],
    ['encoder', clipEncoder(v)],
    ['post_layernorm', layerNorm(v.hidden)],
  ]);
}

const CLIP_CLASSES: Record<string, Builder<ClipCfg>> = {
  CLIPModel: (c) =>
    node('CLIPModel', [
      ['text_model', clipText(c)],
      ['vision_model', clipVision(c)],
      ['visual_projection', linear(c.vision.hidden, c.projection, false)],
      ['text_projection', linear(c.text.hidden, c.projection, false)],
    ], [['logit_scale', 1]]),
  CLIPTextModel: (c) => node('CLIPTextModel', [['text_model', clipText(c)]]),
  CLIPVisionModel: (c) => node('CLIPVisionModel', [['vision_model', clipVision(c)]]),
  CLIPTextModelWithProjection: (c) => node('CLIPTextModelWithProjection', [['text_model', clipText(c)], ['text_projection', linear(c.text.hidden, c.projection, false)]]),
  CLIPVisionModelWithProjection: (c) =>
    node('CLIPVisionModelWithProjection', [['vision_model', clipVision(c)], ['visual_projection', linear(c.vision.hidden, c.projection, false)]]),
};

// ---------------------------------------------------------------------- T5
// dropout_rate 0.1, feed_forward_proj relu, 32 relative-attention buckets
// (an Embedding in block 0's self-attention only), tie_word_embeddings on.

function t5Stack(c: T5Cfg, decoder: boolean): ModuleNode {
  const d = c.dModel;
  const inner = c.heads * c.dKv;
  const attention = (relBias: boolean) =>
    node('T5Attention', [
      ['q', linear(d, inner, false)],
      ['k', linear(d, inner, false)],
      ['v', linear(d, inner, false)],
      ['o', linear(inner, d, false)],
      relBias ? ['relative_attention_bias', embedding(32, c.heads)] : undefined,
    ]);
  const norm = () => node('T5LayerNorm', [], [['weight', d]]);
  const block = (i: number) =>
    node('T5Block', [
      ['layer', list([
        node('T5LayerSelfAttention', [['SelfAttention', attention(i === 0)], ['layer_norm', norm()], ['dropout', dropout(0.1)]]),
        ...(decoder ? [node('T5LayerCrossAttention', [['EncDecAttention', attention(false)], ['layer_norm', norm()], ['dropout', dropout(0.1)]])] : []),
        node('T5LayerFF', [
          ['DenseReluDense', node('T5DenseActDense', [['wi', linear(d, c.dFf, false)], ['wo', linear(c.dFf, d, false)], ['dropout', dropout(0.1)], ['act', act(ACT.relu)]])],
          ['layer_norm', norm()],
          ['dropout', dropout(0.1)],
        ]),
      ])],
    ]);
  return node('T5Stack', [
    ['embed_tokens', tiedAll(embedding(c.vocab, d))], // the `shared` module
    ['block', repeat(decoder ? c.decoderLayers : c.layers, block)],
    ['final_layer_norm', norm()],
    ['dropout', dropout(0.1)],
  ]);
}

const T5_CLASSES: Record<string, Builder<T5Cfg>> = {
  T5Model: (c) => node('T5Model', [['shared', embedding(c.vocab, c.dModel)], ['encoder', t5Stack(c, false)], ['decoder', t5Stack(c, true)]]),
  T5ForConditionalGeneration: (c) =>
    node('T5ForConditionalGeneration', [
      ['shared', embedding(c.vocab, c.dModel)],
      ['encoder', t5Stack(c, false)],
      ['decoder', t5Stack(c, true)],
      ['lm_head', tiedAll(linear(c.dModel, c.vocab, false))],
    ]),
  T5EncoderModel: (c) => node('T5EncoderModel', [['shared', embedding(c.vocab, c.dModel)], ['encoder', t5Stack(c, false)]]),
};

// ---------------------------------------------------------------- families

interface Family {
  /** Each family's builders take its own config type (hence `never` here). */
  classes: Record<string, Builder<never>>;
  /** The concrete class each Auto class picks for this model_type (4.30's auto mappings). */
  auto: Record<string, string>;
  /** The attribute that holds the base model in a head class (`base_model_prefix`), where there is one. */
  basePrefix?: string;
}

const FAMILIES: Record<HfConfig['type'], Family> = {
  bert: {
    classes: BERT_CLASSES,
    basePrefix: 'bert',
    auto: {
      AutoModel: 'BertModel',
      AutoModelForSequenceClassification: 'BertForSequenceClassification',
      AutoModelForTokenClassification: 'BertForTokenClassification',
      AutoModelForQuestionAnswering: 'BertForQuestionAnswering',
      AutoModelForMultipleChoice: 'BertForMultipleChoice',
      AutoModelForMaskedLM: 'BertForMaskedLM',
      AutoModelForCausalLM: 'BertLMHeadModel',
      AutoModelForPreTraining: 'BertForPreTraining',
      AutoModelForNextSentencePrediction: 'BertForNextSentencePrediction',
    },
  },
  roberta: {
    classes: ROBERTA_CLASSES,
    basePrefix: 'roberta',
    auto: {
      AutoModel: 'RobertaModel',
      AutoModelForSequenceClassification: 'RobertaForSequenceClassification',
      AutoModelForTokenClassification: 'RobertaForTokenClassification',
      AutoModelForQuestionAnswering: 'RobertaForQuestionAnswering',
      AutoModelForMultipleChoice: 'RobertaForMultipleChoice',
      AutoModelForMaskedLM: 'RobertaForMaskedLM',
      AutoModelForCausalLM: 'RobertaForCausalLM',
      AutoModelForPreTraining: 'RobertaForMaskedLM',
    },
  },
  distilbert: {
    classes: DISTILBERT_CLASSES,
    basePrefix: 'distilbert',
    auto: {
      AutoModel: 'DistilBertModel',
      AutoModelForSequenceClassification: 'DistilBertForSequenceClassification',
      AutoModelForTokenClassification: 'DistilBertForTokenClassification',
      AutoModelForQuestionAnswering: 'DistilBertForQuestionAnswering',
      AutoModelForMultipleChoice: 'DistilBertForMultipleChoice',
      AutoModelForMaskedLM: 'DistilBertForMaskedLM',
      AutoModelForPreTraining: 'DistilBertForMaskedLM',
    },
  },
  gpt2: {
    classes: GPT2_CLASSES,
    basePrefix: 'transformer',
    auto: {
      AutoModel: 'GPT2Model',
      AutoModelForCausalLM: 'GPT2LMHeadModel',
      AutoModelForSequenceClassification: 'GPT2ForSequenceClassification',
      AutoModelForTokenClassification: 'GPT2ForTokenClassification',
      AutoModelForQuestionAnswering: 'GPT2ForQuestionAnswering',
      AutoModelForPreTraining: 'GPT2LMHeadModel',
    },
  },
  vit: {
    classes: VIT_CLASSES,
    basePrefix: 'vit',
    auto: { AutoModel: 'ViTModel', AutoModelForImageClassification: 'ViTForImageClassification' },
  },
  clip: {
    classes: CLIP_CLASSES,
    auto: { AutoModel: 'CLIPModel' },
  },
  t5: {
    classes: T5_CLASSES,
    auto: { AutoModel: 'T5Model', AutoModelForSeq2SeqLM: 'T5ForConditionalGeneration', AutoModelForPreTraining: 'T5ForConditionalGeneration' },
  },
};

function resolve(className: string, checkpoint: string): { cfg: HfConfig; family: Family; cls: string } | undefined {
  const cfg = lookup(checkpoint);
  if (!cfg) return undefined;
  const family = FAMILIES[cfg.type];
  const cls = Object.prototype.hasOwnProperty.call(family.auto, className) ? family.auto[className] : className;
  if (!Object.prototype.hasOwnProperty.call(family.classes, cls)) return undefined;
  return { cfg, family, cls };
}

/**
 * The tree of `<className>.from_pretrained(checkpoint, num_labels=...)`;
 * undefined when the checkpoint or the class is not known here, or the
 * class does not take that checkpoint's model type.
 */
export function hfTree(className: string, checkpoint: string, opts: { numLabels?: number } = {}): ModuleNode | undefined {
  const r = resolve(className, checkpoint);
  if (!r) return undefined;
  const numLabels = opts.numLabels ?? r.cfg.numLabels ?? 2;
  if (!Number.isInteger(numLabels) || numLabels < 0) return undefined;
  return (r.family.classes[r.cls] as Builder<HfConfig>)(r.cfg, numLabels);
}

/** The concrete class `className` builds for `checkpoint` (`AutoModel` + `bert-base-uncased` → `BertModel`). */
export function hfConcreteClass(className: string, checkpoint: string): string | undefined {
  return resolve(className, checkpoint)?.cls;
}

/**
 * The path of the pretrained base model inside the built model: '' for a
 * base class, `bert`/`roberta`/`distilbert`/`transformer`/`vit` in a head
 * class; undefined where the model has no single base attribute (CLIP, T5).
 */
export function hfBasePath(className: string, checkpoint: string): string | undefined {
  const r = resolve(className, checkpoint);
  if (!r) return undefined;
  if (r.family.auto.AutoModel === r.cls) return '';
  return r.family.basePrefix;
}

/** Canonical checkpoint names (hub aliases such as `google-bert/…` resolve to these). */
export function hfCheckpoints(): string[] {
  return Object.keys(CHECKPOINTS);
}

/** Every class name accepted by `hfTree`: the Auto classes and the concrete ones. */
export function hfClasses(): string[] {
  const out = new Set<string>();
  for (const f of Object.values(FAMILIES)) {
    for (const a of Object.keys(f.auto)) out.add(a);
    for (const c of Object.keys(f.classes)) out.add(c);
  }
  return [...out];
}
