import type { GradFlagWrite } from '../analysis/facts';
import { formatMessage, type Fix, type Rule, type RuleContext } from './types';

/**
 * FRZ004 module-requires-grad-attribute
 *
 * `nn.Module` has no `requires_grad` attribute: assigning one creates a plain
 * Python attribute and leaves every parameter trainable. Misspellings such as
 * `require_grad` do the same on tensors and modules alike (both accept
 * arbitrary attributes). The receiver's kind decides the message and the fix;
 * where it cannot be decided the message says so.
 */
export const FRZ004: Rule = {
  meta: {
    id: 'FRZ004',
    name: 'module-requires-grad-attribute',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: 'Setting `requires_grad` on an nn.Module, or a misspelling of it, freezes nothing.' },
    fixable: true,
    messages: {
      moduleAttribute:
        '`{{target}}` is an nn.Module ({{reason}}): assigning `requires_grad` only sets a plain Python attribute, so {{effect}}. Use `{{target}}.requires_grad_({{value}})`.',
      inferredSubmoduleAttribute:
        '`{{target}}` looks like a submodule of the nn.Module `{{owner}}` (its name is not a parameter\'s). Assigning `requires_grad` to a module only sets a plain Python attribute, so {{effect}}; `{{target}}.requires_grad_({{value}})` is right for a submodule and a parameter alike.',
      likelyModuleAttribute:
        '`{{target}}` is most likely an nn.Module ({{reason}}). If so, assigning `requires_grad` only sets a plain Python attribute, so {{effect}}. `{{target}}.requires_grad_({{value}})` is right for a module and a tensor alike.',
      misspelledOnTensor:
        '`{{attribute}}` is not a tensor attribute (did you mean `requires_grad`?): this only adds a Python attribute to `{{target}}`, so {{effect}}.',
      misspelledOnModule:
        '`{{attribute}}` is not an nn.Module attribute (did you mean `requires_grad_()`?): this only sets a plain Python attribute on `{{target}}`, so {{effect}}.',
      misspelledOnUnknown:
        '`{{attribute}}` is not a PyTorch attribute (did you mean `requires_grad`?). FreezeLens cannot tell whether `{{target}}` is a tensor or an nn.Module, but on either this only sets a plain Python attribute, so {{effect}}.',
      relatedOrigin: '`{{target}}` is created here',
    },
  },

  check(context: RuleContext) {
    for (const write of context.analysis.gradFlagWrites) {
      const kind = write.receiverKind;
      const misspelled = write.attribute !== 'requires_grad';
      const data = {
        target: write.receiverText,
        attribute: write.attribute,
        value: write.valueText,
        reason: kind.reason ?? 'an nn.Module',
        owner: kind.owner ?? '',
        effect: effectOf(write.valueText),
      };
      const related =
        kind.origin && kind.kind === 'module'
          ? [{ span: { unit: kind.origin.unit, from: kind.origin.node.from, to: kind.origin.node.to }, message: formatMessage(FRZ004.meta.messages.relatedOrigin, { target: kind.owner ?? write.receiverText }) }]
          : [];
      if (!misspelled) {
        if (kind.kind !== 'module') continue; // on a tensor this is exactly right
        context.report({
          messageId: kind.certain ? 'moduleAttribute' : kind.owner ? 'inferredSubmoduleAttribute' : 'likelyModuleAttribute',
          data,
          span: write.assignment,
          related,
          fixes: [callRequiresGradFix(write, true)].filter(isFix),
        });
        continue;
      }
      if (kind.kind === 'other') continue; // a config object or similar: its own attribute
      if (kind.kind === 'unknown' && looksLikeConfig(write.receiverText)) continue;
      const messageId = kind.kind === 'tensor' ? 'misspelledOnTensor' : kind.kind === 'module' ? 'misspelledOnModule' : 'misspelledOnUnknown';
      const fixes: (Fix | undefined)[] =
        kind.kind === 'tensor'
          ? [respellFix(write, true), callRequiresGradFix(write, false)]
          : [callRequiresGradFix(write, true), kind.kind === 'unknown' ? respellFix(write, false) : undefined];
      context.report({ messageId, data, span: write.attributeSpan, related, fixes: fixes.filter(isFix) });
    }
  },
};

function effectOf(value: string): string {
  if (value === 'False') return 'nothing is frozen';
  if (value === 'True') return 'nothing is unfrozen';
  return 'no parameter changes whether it trains';
}

/** `args.require_grad = ...` on an argparse namespace or config object is that object's business. */
function looksLikeConfig(receiver: string): boolean {
  return /^(self\.)?(args|arguments|opt|opts|options|cfg|conf|config|hparams|hp|params|settings|flags)\b/i.test(receiver);
}

function callRequiresGradFix(write: GradFlagWrite, preferred: boolean): Fix | undefined {
  if (write.chained) return undefined;
  return {
    title: `Call ${write.receiverText}.requires_grad_(${write.valueText})`,
    preferred,
    edits: [{ span: write.assignment, newText: `${write.receiverText}.requires_grad_(${write.valueText})` }],
  };
}

function respellFix(write: GradFlagWrite, preferred: boolean): Fix {
  return {
    title: `Change \`${write.attribute}\` to \`requires_grad\``,
    preferred,
    edits: [{ span: write.attributeSpan, newText: 'requires_grad' }],
  };
}

function isFix(f: Fix | undefined): f is Fix {
  return f !== undefined;
}
