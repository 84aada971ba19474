import * as vscode from 'vscode';

/**
 * A FreezeLens webview's page: one script from dist/webview/ under a nonce,
 * optional stylesheets from there, and a strict CSP (nothing remote, no
 * inline script; styles only from the extension or the nonce; images from
 * the extension or data: URLs, as thumbnails are sent).
 */
export function webviewHtml(webview: vscode.Webview, o: { title: string; script: vscode.Uri; stylesheets?: vscode.Uri[]; style?: string; body: string }): string {
  const nonce = Array.from({ length: 32 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 62)]).join('');
  const csp = [`default-src 'none'`, `script-src 'nonce-${nonce}'`, `style-src ${webview.cspSource} 'nonce-${nonce}'`, `font-src ${webview.cspSource}`, `img-src ${webview.cspSource} data:`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${o.title}</title>
${(o.stylesheets ?? []).map((s) => `<link rel="stylesheet" href="${webview.asWebviewUri(s)}">`).join('\n')}
${o.style ? `<style nonce="${nonce}">${o.style}</style>` : ''}
</head>
<body>
${o.body}
<script nonce="${nonce}" src="${webview.asWebviewUri(o.script)}"></script>
</body>
</html>`;
}
