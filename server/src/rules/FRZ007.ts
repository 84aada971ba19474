import type { Rule } from './types';

/**
 * FRZ007 comparison-not-assignment
 *
 * `p.requires_grad == False` on a line of its own compares and throws the
 * result away: nothing is frozen. Almost always a typo for `=`.
 */
export const FRZ007: Rule = {
  meta: {
    id: 'FRZ007',
    name: 'comparison-not-assignment',
    type: 'problem',
    defaultSeverity: 'warning',
    docs: { description: '`p.requires_grad == False` used as a statement compares instead of assigning.' },
    fixable: true,
    messages: {
      comparison: '`{{receiver}}.requires_grad == {{value}}` compares and discards the result, so nothing changes. Did you mean `=`?',
    },
  },

  check({ analysis, report }) {
    for (const c of analysis.flagComparisons) {
      report({
        messageId: 'comparison',
        data: { receiver: c.receiverText, value: c.valueText },
        span: c.statement,
        fixes: [{ title: 'Change `==` to `=`', preferred: true, edits: [{ span: c.operator, newText: '=' }] }],
      });
    }
  },
};
