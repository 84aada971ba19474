// Hugging Face (transformers 4.30) and timm (0.9) module trees: totals
// against published parameter counts, and the names, heads, ties, buffers
// and dropout flags that the freeze analysis reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hfBasePath, hfCheckpoints, hfClasses, hfConcreteClass, hfTree } from '../../server/src/models/hf';
import { timmNames, timmTree } from '../../server/src/models/timm';
import { findNode, parameterNames, pathsWhere, subtreeBuffers, subtreeParams, walk, type ModuleNode } from '../../server/src/models/tree';

function hf(cls: string, checkpoint: string, numLabels?: number): ModuleNode {
  const t = hfTree(cls, checkpoint, { numLabels });
  assert.ok(t, `${cls} ${checkpoint}`);
  return t;
}

function timm(name: string, numClasses?: number): ModuleNode {
  const t = timmTree(name, { numClasses });
  assert.ok(t, name);
  return t;
}

function at(root: ModuleNode, path: string): ModuleNode {
  const n = findNode(root, path);
  assert.ok(n, path);
  return n;
}

// Block sums used in the derivations below (hidden h, FFN f, weights + biases):
//   encoder layer (BERT/RoBERTa/ViT/GPT-2 block) = 4(h² + h) + 2hf + f + h + 4h
//     h=768,  f=3072: 7,087,872      h=1024, f=4096: 12,596,224
test('Hugging Face totals match the published parameter counts', () => {
  const cases: [string, string, number | undefined, number, string][] = [
    // BertModel.from_pretrained('bert-base-uncased').num_parameters(), quoted on the HF forum and Stack Overflow.
    // Derivation: embeddings 30522·768 + 512·768 + 2·768 + 2·768 = 23,837,184; 12 layers 85,054,464; pooler 590,592.
    ['BertModel', 'bert-base-uncased', undefined, 109_482_240, 'HF num_parameters()'],
    // The same plus the classifier 768·2 + 2 = 1,538 (the pooler is kept), as torchinfo summaries of the model print.
    ['BertForSequenceClassification', 'bert-base-uncased', 2, 109_483_778, 'torchinfo summary in fine-tuning tutorials'],
    // BERT-large (paper: 340M); embeddings 31,782,912 + 24 · 12,596,224 + pooler 1,049,600.
    ['BertModel', 'bert-large-uncased', undefined, 335_141_888, 'HF num_parameters()'],
    // RobertaModel: embeddings 50265·768 + 514·768 + 768 + 1,536 = 39,000,576; layers 85,054,464; pooler 590,592.
    ['RobertaModel', 'roberta-base', undefined, 124_645_632, 'HF num_parameters()'],
    // RoBERTa-large (paper: 355M): 52,000,768 + 24 · 12,596,224 + 1,049,600.
    ['RobertaModel', 'roberta-large', undefined, 355_359_744, 'HF num_parameters()'],
    // GPT-2 small ("124M", nanoGPT README): wte 38,597,376 + wpe 786,432 + 12 · 7,087,872 + ln_f 1,536.
    ['GPT2Model', 'gpt2', undefined, 124_439_808, 'HF num_parameters(), nanoGPT'],
    // lm_head is wte itself, so the LM head model has the same count.
    ['GPT2LMHeadModel', 'gpt2', undefined, 124_439_808, 'HF num_parameters()'],
    // GPT-2 medium ("355M"): 51,463,168 + 1,048,576 + 24 · 12,596,224 + 2,048.
    ['GPT2Model', 'gpt2-medium', undefined, 354_823_168, 'HF num_parameters()'],
    // GPT-2 large / XL ("774M", "1.5B"): h=1280 (36 layers), h=1600 (48 layers).
    ['GPT2Model', 'gpt2-large', undefined, 774_030_080, 'HF num_parameters()'],
    ['GPT2Model', 'gpt2-xl', undefined, 1_557_611_200, 'HF num_parameters()'],
    // DistilBERT (paper: 66M): embeddings 30522·768 + 512·768 + 1,536 = 23,835,648; 6 · 7,087,872.
    ['DistilBertModel', 'distilbert-base-uncased', undefined, 66_362_880, 'HF num_parameters()'],
    // Plus pre_classifier 590,592 and classifier 1,538.
    ['DistilBertForSequenceClassification', 'distilbert-base-uncased', 2, 66_955_010, 'torchinfo summary in fine-tuning tutorials'],
    // T5-small (the T5 paper's "60M"): shared 16,449,536; encoder 6·3,146,752 + 256 + 512; decoder 6·4,195,840 + 256 + 512; lm_head tied.
    ['T5ForConditionalGeneration', 't5-small', undefined, 60_506_624, 'HF num_parameters()'],
    // T5-base ("220M"): shared 24,674,304; encoder 12·7,079,424 + 384 + 768; decoder 12·9,439,488 + 384 + 768.
    ['T5ForConditionalGeneration', 't5-base', undefined, 222_903_552, 'HF num_parameters()'],
    ['T5ForConditionalGeneration', 't5-large', undefined, 737_668_096, 'HF num_parameters()'],
    // OpenAI's CLIP notebook prints "Model parameters: 151,277,313" for ViT-B/32. Text tower 63,165,952
    // (49408·512 + 77·512 + 12·3,152,384 + 1,024), vision tower 87,456,000, projections 393,216 + 262,144, logit_scale 1.
    ['CLIPModel', 'openai/clip-vit-base-patch32', undefined, 151_277_313, 'OpenAI CLIP notebook'],
    ['CLIPModel', 'openai/clip-vit-large-patch14', undefined, 427_616_513, 'HF num_parameters()'],
    // ViT-B/16 (torchvision vit_b_16 docs num_params, same layers): patch 590,592 + cls 768 + pos 197·768
    // + 12 · 7,087,872 + LN 1,536 + classifier 769,000.
    ['ViTForImageClassification', 'google/vit-base-patch16-224', undefined, 86_567_656, 'torchvision vit_b_16 num_params'],
    ['ViTForImageClassification', 'google/vit-large-patch16-224', undefined, 304_326_632, 'torchvision vit_l_16 num_params'],
  ];
  for (const [cls, ckpt, n, expected, source] of cases) {
    assert.equal(subtreeParams(hf(cls, ckpt, n)), expected, `${cls}(${ckpt}) vs ${source}`);
  }
});

test('timm totals match the published parameter counts', () => {
  // torchvision's weight docs list num_params for the same architectures (timm's resnet, efficientnet,
  // convnext and vit count the same parameters); timm's model cards round them (Params (M)).
  const cases: [string, number, string][] = [
    // 7x7 stem 9,408 + BN 128; BasicBlocks; fc 512·1000 + 1000.
    ['resnet18', 11_689_512, 'torchvision num_params; timm card 11.7M'],
    ['resnet34', 21_797_672, 'torchvision num_params; timm card 21.8M'],
    ['resnet50', 25_557_032, 'torchvision num_params; timm card 25.6M'],
    ['resnet101', 44_549_160, 'torchvision num_params; timm card 44.5M'],
    ['resnet152', 60_192_808, 'torchvision num_params; timm card 60.2M'],
    // resnet50 - 7x7 conv 9,408 + deep stem (864 + 64 + 9,216 + 64 + 18,432): timm card 25.6M.
    ['resnet50d', 25_576_264, 'timm card 25.6M; derived from resnet50'],
    ['efficientnet_b0', 5_288_548, 'torchvision num_params; timm card 5.3M'],
    ['efficientnet_b1', 7_794_184, 'torchvision num_params; timm card 7.8M'],
    ['efficientnet_b2', 9_109_994, 'torchvision num_params; timm card 9.1M'],
    ['efficientnet_b3', 12_233_232, 'torchvision num_params; timm card 12.2M'],
    // Block 8d² + 58d (dw 49d + d, LN 2d, MLP 8d² + 5d, gamma d); stem 4,896; downsamples; head LN + fc.
    ['convnext_tiny', 28_589_128, 'torchvision num_params; timm card 28.6M'],
    ['convnext_small', 50_223_688, 'torchvision num_params; timm card 50.2M'],
    ['convnext_base', 88_591_464, 'torchvision num_params; timm card 88.6M'],
    ['convnext_large', 197_767_336, 'torchvision num_params; timm card 197.8M'],
    ['vit_base_patch16_224', 86_567_656, 'torchvision vit_b_16 num_params; timm card 86.6M'],
    ['vit_base_patch32_224', 88_224_232, 'torchvision vit_b_32 num_params; timm card 88.2M'],
    ['vit_large_patch16_224', 304_326_632, 'torchvision vit_l_16 num_params; timm card 304.3M'],
    // timm card 22.1M. Patch 295,296 + cls 384 + pos 197·384 + 12 · 1,774,464 + LN 768 + head 385,000.
    ['vit_small_patch16_224', 22_050_664, 'timm card 22.1M; derived'],
  ];
  for (const [name, expected, source] of cases) assert.equal(subtreeParams(timm(name)), expected, `${name} vs ${source}`);
});

test('BERT: module paths, pooler per head, classifier shapes, dropout', () => {
  const base = hf('BertModel', 'bert-base-uncased');
  for (const p of [
    'embeddings.word_embeddings',
    'embeddings.LayerNorm',
    'encoder.layer.0.attention.self.query',
    'encoder.layer.11.attention.output.LayerNorm',
    'encoder.layer.11.intermediate.intermediate_act_fn',
    'encoder.layer.11.output.dense',
    'pooler.activation',
  ]) at(base, p);
  assert.equal(at(base, 'encoder.layer.11.intermediate.intermediate_act_fn').cls, 'GELUActivation');
  assert.equal(at(base, 'encoder.layer.3').cls, 'BertLayer');
  assert.equal(at(base, 'encoder.layer').children.length, 12);
  assert.deepEqual(
    parameterNames(base)?.slice(0, 6),
    ['embeddings.word_embeddings.weight', 'embeddings.position_embeddings.weight', 'embeddings.token_type_embeddings.weight', 'embeddings.LayerNorm.weight', 'embeddings.LayerNorm.bias', 'encoder.layer.0.attention.self.query.weight'],
  );
  assert.equal(parameterNames(base)?.length, 5 + 12 * 16 + 2);
  // position_ids and token_type_ids, 512 each.
  assert.equal(at(base, 'embeddings').buffers, 1024);
  assert.equal(subtreeBuffers(base), 1024);

  // Dropout: embeddings, then attention probs, attention output and layer output in each layer; all 0.1.
  const drops = pathsWhere(base, (n) => n.cls === 'Dropout');
  assert.equal(drops.length, 1 + 12 * 3);
  assert.ok(drops.every((p) => at(base, p).dropout === true));

  const seq = hf('BertForSequenceClassification', 'bert-base-uncased', 3);
  at(seq, 'bert.pooler.dense');
  assert.deepEqual(seq.children.map((c) => c.name), ['bert', 'dropout', 'classifier']);
  assert.equal(at(seq, 'dropout').dropout, true);
  const cls = at(seq, 'classifier');
  assert.deepEqual(cls.paramNames, ['weight', 'bias']);
  assert.equal(cls.params, 768 * 3 + 3);
  assert.equal(subtreeParams(seq), 109_482_240 + 768 * 3 + 3);

  // Token classification, QA and MLM heads build BertModel(add_pooling_layer=False).
  for (const c of ['BertForTokenClassification', 'BertForQuestionAnswering', 'BertForMaskedLM', 'BertLMHeadModel']) {
    const t = hf(c, 'bert-base-uncased');
    assert.equal(findNode(t, 'bert.pooler'), undefined, c);
  }
  assert.equal(subtreeParams(hf('BertForTokenClassification', 'bert-base-uncased', 9)), 109_482_240 - 590_592 + 768 * 9 + 9);
  assert.equal(at(hf('BertForQuestionAnswering', 'bert-base-uncased'), 'qa_outputs').params, 768 * 2 + 2);

  // MLM: decoder weight is word_embeddings, decoder bias is predictions.bias.
  const mlm = hf('BertForMaskedLM', 'bert-base-uncased');
  const dec = at(mlm, 'cls.predictions.decoder');
  assert.deepEqual(dec.paramNames, ['weight', 'bias']);
  assert.equal(dec.tied, dec.params);
  assert.deepEqual(at(mlm, 'cls.predictions').paramNames, ['bias']);
  // base without pooler 108,891,648 + transform 590,592 + 1,536 + bias 30,522.
  assert.equal(subtreeParams(mlm), 109_514_298);
});

test('RoBERTa and DistilBERT heads', () => {
  const seq = hf('RobertaForSequenceClassification', 'roberta-base');
  assert.equal(findNode(seq, 'roberta.pooler'), undefined);
  const head = at(seq, 'classifier');
  assert.equal(head.cls, 'RobertaClassificationHead');
  assert.deepEqual(head.children.map((c) => c.name), ['dense', 'dropout', 'out_proj']);
  assert.equal(at(seq, 'classifier.out_proj').params, 768 * 2 + 2);
  // RobertaModel without pooler + dense 590,592 + out_proj 1,538.
  assert.equal(subtreeParams(seq), 124_645_632 - 590_592 + 590_592 + 1_538);
  assert.equal(at(seq, 'roberta.embeddings.position_embeddings').params, 514 * 768);
  assert.equal(at(seq, 'roberta.embeddings').buffers, 2 * 514);
  const lm = hf('RobertaForMaskedLM', 'roberta-base');
  assert.equal(at(lm, 'lm_head.decoder').tied, 768 * 50265 + 50265);
  assert.equal(subtreeParams(lm), 124_697_433);

  const dseq = hf('DistilBertForSequenceClassification', 'distilbert-base-uncased');
  assert.deepEqual(dseq.children.map((c) => c.name), ['distilbert', 'pre_classifier', 'classifier', 'dropout']);
  assert.deepEqual(
    at(dseq, 'distilbert.transformer.layer.5').children.map((c) => c.name),
    ['attention', 'sa_layer_norm', 'ffn', 'output_layer_norm'],
  );
  assert.deepEqual(at(dseq, 'distilbert.transformer.layer.0.attention').children.map((c) => c.name), ['dropout', 'q_lin', 'k_lin', 'v_lin', 'out_lin']);
  assert.equal(at(dseq, 'distilbert.embeddings').buffers, 512);
  assert.equal(at(dseq, 'distilbert.embeddings').cls, 'Embeddings');
  // DistilBertForQuestionAnswering raises unless num_labels == 2.
  assert.ok(hfTree('DistilBertForQuestionAnswering', 'distilbert-base-uncased'));
  assert.equal(hfTree('DistilBertForQuestionAnswering', 'distilbert-base-uncased', { numLabels: 3 }), undefined);
  const dmlm = hf('AutoModelForMaskedLM', 'distilbert-base-uncased');
  assert.equal(dmlm.cls, 'DistilBertForMaskedLM');
  assert.equal(at(dmlm, 'vocab_projector').tied, 768 * 30522);
  assert.equal(at(dmlm, 'mlm_loss_fct').cls, 'CrossEntropyLoss');
  assert.equal(subtreeParams(dmlm), 66_985_530);
});

test('GPT-2: tied lm_head, causal-mask buffers, heads', () => {
  const lm = hf('GPT2LMHeadModel', 'gpt2');
  const head = at(lm, 'lm_head');
  assert.equal(head.tied, 768 * 50257);
  assert.equal(head.params, head.tied);
  assert.deepEqual(head.paramNames, ['weight']);
  assert.equal(at(lm, 'transformer.h.11.mlp.act').cls, 'NewGELUActivation');
  assert.equal(at(lm, 'transformer.h.0.attn.c_attn').cls, 'Conv1D');
  assert.equal(at(lm, 'transformer.h.0.attn.c_attn').params, 768 * 2304 + 2304);
  // `bias` (1, 1, 1024, 1024) and `masked_bias` (scalar) in every attention.
  assert.equal(at(lm, 'transformer.h.0.attn').buffers, 1024 * 1024 + 1);
  assert.equal(subtreeBuffers(lm), 12 * (1024 * 1024 + 1));
  assert.equal(hf('AutoModelForCausalLM', 'openai-community/gpt2').cls, 'GPT2LMHeadModel');
  const seq = hf('AutoModelForSequenceClassification', 'gpt2', 5);
  assert.equal(seq.cls, 'GPT2ForSequenceClassification');
  assert.deepEqual(at(seq, 'score').paramNames, ['weight']);
  assert.equal(at(seq, 'score').params, 768 * 5);
  assert.ok(pathsWhere(lm, (n) => n.cls === 'Dropout').every((p) => at(lm, p).dropout === true));
});

test('ViT and CLIP', () => {
  const vit = hf('AutoModelForImageClassification', 'google/vit-base-patch16-224');
  assert.equal(vit.cls, 'ViTForImageClassification');
  assert.equal(at(vit, 'classifier').params, 768 * 1000 + 1000);
  assert.equal(findNode(vit, 'vit.pooler'), undefined);
  assert.deepEqual(at(vit, 'vit.embeddings').paramNames, ['cls_token', 'position_embeddings']);
  at(vit, 'vit.encoder.layer.11.attention.attention.query');
  at(vit, 'vit.embeddings.patch_embeddings.projection');
  // ViT checkpoints train without dropout: the Dropout modules have p=0.
  const drops = pathsWhere(vit, (n) => n.cls === 'Dropout');
  assert.ok(drops.length > 0 && drops.every((p) => at(vit, p).dropout === false));
  assert.equal(at(hf('ViTForImageClassification', 'google/vit-base-patch16-224', 10), 'classifier').params, 7_690);
  assert.equal(at(hf('ViTForImageClassification', 'google/vit-base-patch16-224', 0), 'classifier').cls, 'Identity');
  // The in21k checkpoint has no id2label: num_labels defaults to 2; AutoModel keeps the pooler.
  assert.equal(at(hf('ViTForImageClassification', 'google/vit-base-patch16-224-in21k'), 'classifier').params, 768 * 2 + 2);
  at(hf('AutoModel', 'google/vit-base-patch16-224-in21k'), 'pooler.dense');
  assert.equal(hfTree('AutoModelForSequenceClassification', 'google/vit-base-patch16-224'), undefined);

  const clip = hf('CLIPModel', 'openai/clip-vit-base-patch32');
  assert.deepEqual(clip.children.map((c) => c.name), ['text_model', 'vision_model', 'visual_projection', 'text_projection']);
  assert.deepEqual(clip.paramNames, ['logit_scale']);
  at(clip, 'vision_model.pre_layrnorm');
  at(clip, 'text_model.encoder.layers.11.self_attn.q_proj');
  assert.equal(at(clip, 'vision_model.encoder.layers.0.mlp.activation_fn').cls, 'QuickGELUActivation');
  assert.deepEqual(at(clip, 'vision_model.embeddings').paramNames, ['class_embedding']);
  assert.equal(at(clip, 'vision_model.embeddings').buffers, 50);
  assert.equal(at(clip, 'text_model.embeddings').buffers, 77);
  assert.equal(subtreeParams(hf('CLIPVisionModel', 'openai/clip-vit-base-patch32')), 87_456_000);
  assert.equal(subtreeParams(hf('CLIPTextModel', 'openai/clip-vit-base-patch32')), 63_165_952);
  assert.equal(subtreeParams(hf('CLIPVisionModelWithProjection', 'openai/clip-vit-base-patch32')), 87_456_000 + 768 * 512);
  assert.equal(pathsWhere(clip, (n) => n.cls === 'Dropout').length, 0);
});

test('T5: relative attention bias in block 0 only, tied embeddings', () => {
  const t5 = hf('T5ForConditionalGeneration', 't5-small');
  assert.deepEqual(t5.children.map((c) => c.name), ['shared', 'encoder', 'decoder', 'lm_head']);
  assert.equal(pathsWhere(t5, (n) => n.cls === 'T5Block').length, 12);
  assert.deepEqual(
    [...walk(t5)].filter(([, n]) => n.name === 'relative_attention_bias').map(([p]) => p),
    ['encoder.block.0.layer.0.SelfAttention.relative_attention_bias', 'decoder.block.0.layer.0.SelfAttention.relative_attention_bias'],
  );
  at(t5, 'decoder.block.5.layer.1.EncDecAttention.q');
  at(t5, 'decoder.block.5.layer.2.DenseReluDense.wi');
  assert.equal(findNode(t5, 'encoder.block.5.layer.2'), undefined);
  assert.equal(at(t5, 'lm_head').tied, 512 * 32128);
  assert.equal(at(t5, 'encoder.embed_tokens').tied, 512 * 32128);
  assert.equal(at(t5, 'shared').tied, undefined);
  assert.deepEqual(at(t5, 'encoder.final_layer_norm').paramNames, ['weight']);
  assert.equal(at(t5, 'encoder.block.0.layer.0.SelfAttention.q').params, 512 * 512);
  assert.equal(subtreeParams(hf('T5EncoderModel', 'google-t5/t5-small')), 16_449_536 + 6 * 3_146_752 + 256 + 512);
  assert.equal(hf('AutoModelForSeq2SeqLM', 't5-base').cls, 'T5ForConditionalGeneration');
  assert.equal(hf('AutoModel', 't5-base').cls, 'T5Model');
});

test('checkpoint and class resolution', () => {
  assert.equal(subtreeParams(hf('AutoModel', 'google-bert/bert-base-uncased')), 109_482_240);
  assert.equal(subtreeParams(hf('AutoModel', 'FacebookAI/roberta-base')), 124_645_632);
  assert.equal(subtreeParams(hf('AutoModel', 'distilbert/distilbert-base-uncased')), 66_362_880);
  assert.equal(hfConcreteClass('AutoModelForSequenceClassification', 'roberta-large'), 'RobertaForSequenceClassification');
  assert.equal(hfConcreteClass('AutoModelForCausalLM', 'bert-base-cased'), 'BertLMHeadModel');
  // Unknown checkpoints and classes, and a class of another model type, give no tree.
  assert.equal(hfTree('AutoModel', 'bert-base-uncased-typo'), undefined);
  assert.equal(hfTree('AutoModel', 'someone/my-finetuned-bert'), undefined);
  assert.equal(hfTree('AutoModelForMagic', 'bert-base-uncased'), undefined);
  assert.equal(hfTree('BertModel', 'gpt2'), undefined);
  assert.equal(hfTree('AutoModelForCausalLM', 'distilbert-base-uncased'), undefined);
  assert.equal(hfTree('toString', 'gpt2'), undefined);
  assert.equal(hfTree('AutoModel', 'constructor'), undefined);
  assert.equal(hfBasePath('BertForSequenceClassification', 'bert-base-uncased'), 'bert');
  assert.equal(hfBasePath('AutoModelForCausalLM', 'gpt2'), 'transformer');
  assert.equal(hfBasePath('AutoModel', 'gpt2'), '');
  for (const ckpt of ['bert-base-uncased', 'gpt2', 't5-small', 'openai/clip-vit-base-patch16', 'google/vit-base-patch16-224-in21k']) {
    assert.ok(hfCheckpoints().includes(ckpt), ckpt);
  }
  for (const cls of ['AutoModel', 'CLIPVisionModelWithProjection', 'T5EncoderModel', 'DistilBertForSequenceClassification']) {
    assert.ok(hfClasses().includes(cls), cls);
  }
  // Every supported pair builds a tree with every count known.
  for (const ckpt of hfCheckpoints()) {
    for (const cls of hfClasses()) {
      const t = hfTree(cls, ckpt);
      if (t) assert.ok(subtreeParams(t)! > 0 && parameterNames(t) !== undefined, `${cls} ${ckpt}`);
    }
  }
});

test('timm: names, heads, BatchNorm and num_classes=0', () => {
  const r50 = timm('resnet50');
  assert.deepEqual(r50.children.map((c) => c.name), ['conv1', 'bn1', 'act1', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'global_pool', 'fc']);
  assert.deepEqual(
    at(r50, 'layer1.0').children.map((c) => c.name),
    ['conv1', 'bn1', 'act1', 'conv2', 'bn2', 'drop_block', 'act2', 'aa', 'conv3', 'bn3', 'act3', 'downsample'],
  );
  assert.deepEqual(at(r50, 'global_pool').children.map((c) => c.name), ['pool', 'flatten']);
  assert.equal(at(r50, 'layer4.0.downsample.1').runningStats, true);
  assert.equal(at(r50, 'bn1').buffers, 2 * 64 + 1);
  assert.equal(pathsWhere(r50, (n) => n.runningStats === true).length, 53);
  assert.deepEqual(parameterNames(r50)?.slice(0, 4), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'layer1.0.conv1.weight']);
  assert.equal(parameterNames(r50)?.length, 161);
  const r18 = timm('resnet18');
  assert.deepEqual(at(r18, 'layer1.0').children.map((c) => c.name), ['conv1', 'bn1', 'drop_block', 'act1', 'aa', 'conv2', 'bn2', 'act2']);
  at(r18, 'layer2.0.downsample.0');
  assert.equal(at(timm('resnet50d'), 'layer2.0.downsample.0').cls, 'AvgPool2d');
  assert.equal(at(timm('resnet50d'), 'conv1').cls, 'Sequential');

  const headless = timm('resnet50', 0);
  assert.equal(at(headless, 'fc').cls, 'Identity');
  assert.equal(subtreeParams(headless), 25_557_032 - 2048 * 1000 - 1000);
  assert.equal(at(timm('resnet50', 10), 'fc').params, 2048 * 10 + 10);

  const eff = timm('efficientnet_b0');
  assert.deepEqual(eff.children.map((c) => c.name), ['conv_stem', 'bn1', 'blocks', 'conv_head', 'bn2', 'global_pool', 'classifier']);
  assert.deepEqual(at(eff, 'bn1').children.map((c) => c.name), ['drop', 'act']);
  assert.equal(at(eff, 'bn1').cls, 'BatchNormAct2d');
  assert.equal(at(eff, 'bn1').runningStats, true);
  assert.equal(at(eff, 'blocks.0.0').cls, 'DepthwiseSeparableConv');
  assert.deepEqual(at(eff, 'blocks.1.0.se').children.map((c) => c.name), ['conv_reduce', 'act1', 'conv_expand', 'gate']);
  assert.equal(at(eff, 'blocks.1.0.se.conv_reduce').params, 96 * 4 + 4);
  assert.deepEqual(at(eff, 'blocks').children.map((s) => s.children.length), [1, 2, 2, 3, 3, 4, 1]);
  assert.deepEqual(at(timm('efficientnet_b3'), 'blocks').children.map((s) => s.children.length), [2, 3, 3, 5, 5, 6, 2]);
  assert.equal(at(timm('efficientnet_b0', 0), 'classifier').cls, 'Identity');

  const cnx = timm('convnext_tiny');
  assert.deepEqual(at(cnx, 'stages.1.blocks.0').paramNames, ['gamma']);
  assert.deepEqual(at(cnx, 'stages.1.blocks.0.mlp').children.map((c) => c.name), ['fc1', 'act', 'drop1', 'norm', 'fc2', 'drop2']);
  assert.deepEqual(at(cnx, 'head').children.map((c) => c.name), ['global_pool', 'norm', 'flatten', 'pre_logits', 'drop', 'fc']);
  assert.equal(at(cnx, 'stages.0.downsample').cls, 'Identity');
  assert.equal(at(cnx, 'stages.2.downsample.0').cls, 'LayerNorm2d');
  at(cnx, 'norm_pre');

  const vit = timm('vit_base_patch16_224');
  assert.deepEqual(parameterNames(vit)?.slice(0, 3), ['cls_token', 'pos_embed', 'patch_embed.proj.weight']);
  assert.deepEqual(
    at(vit, 'blocks.11').children.map((c) => c.name),
    ['norm1', 'attn', 'ls1', 'drop_path1', 'norm2', 'mlp', 'ls2', 'drop_path2'],
  );
  assert.deepEqual(at(vit, 'blocks.0.attn').children.map((c) => c.name), ['qkv', 'q_norm', 'k_norm', 'attn_drop', 'proj', 'proj_drop']);
  for (const p of ['norm', 'fc_norm', 'head_drop', 'head']) at(vit, p);
  // drop_rate and attn/proj drop default to 0: no Dropout module drops.
  assert.ok(pathsWhere(vit, (n) => n.cls === 'Dropout').every((p) => at(vit, p).dropout === false));
  assert.equal(at(timm('vit_small_patch16_224', 0), 'head').cls, 'Identity');

  // Hub prefixes and in1k tags; a tag with another class count needs num_classes.
  assert.equal(subtreeParams(timm('timm/resnet50.a1_in1k')), 25_557_032);
  assert.equal(subtreeParams(timm('hf-hub:timm/convnext_tiny.fb_in22k_ft_in1k')), 28_589_128);
  assert.equal(timmTree('vit_base_patch16_224.augreg_in21k'), undefined);
  assert.ok(timmTree('vit_base_patch16_224.augreg_in21k', { numClasses: 5 }));
  assert.equal(timmTree('resnet9000'), undefined);
  assert.equal(timmTree('toString'), undefined);
  assert.ok(timmNames().includes('efficientnet_b0') && timmNames().includes('vit_tiny_patch16_224'));
});
