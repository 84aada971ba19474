// Bundles the client, the server, the CLI and the webview into dist/ with esbuild,
// and copies the data the server and CLI read at run time into dist/data/.
import * as fs from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // `vscode` is provided by the editor at run time; onnxruntime's native binding and tfjs load from
  // node_modules (a .node file cannot be bundled, and tfjs's CommonJS build registers its gradients itself).
  // The wasm backend finds its .wasm files beside its own module; the native ones are optional and may be absent.
  external: ['vscode', 'onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  // Prefer ES module builds: jsonc-parser's UMD build hides its requires from the bundler.
  mainFields: ['module', 'main'],
};

/** A webview's UI: one browser bundle, everything it loads local (the webviews' CSP allows nothing remote). */
function webview(entry, outfile) {
  return { bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: !production, minify: production, logLevel: 'warning', entryPoints: [entry], outfile };
}

const builds = [
  { ...node, entryPoints: ['client/src/extension.ts'], outfile: 'dist/client/extension.js' },
  { ...node, entryPoints: ['server/src/lsp/server.ts'], outfile: 'dist/server/server.js' },
  { ...node, entryPoints: ['server/src/cli/main.ts'], outfile: 'dist/cli/freezelens.js' },
  // The experiment process (server/src/experiment/process.ts forks it).
  { ...node, entryPoints: ['server/src/experiment/worker.ts'], outfile: 'dist/experiment/worker.js' },
  webview('webview/src/main.ts', 'dist/webview/main.js'),
  webview('webview/src/onnx.ts', 'dist/webview/onnx.js'),
];

// Data the server and CLI read at run time (server/src/models/catalog.ts looks in dist/data/).
const dataFiles = ['server/data/torchvision-catalog.json'];
fs.mkdirSync('dist/data', { recursive: true });
for (const f of dataFiles) fs.copyFileSync(f, `dist/data/${f.split('/').pop()}`);
// The PyTorch runner ships as a Python file beside the bundles (server/src/experiment/torch.ts starts it).
fs.mkdirSync('dist/runner', { recursive: true });
fs.copyFileSync('server/runner/freezelens_runner.py', 'dist/runner/freezelens_runner.py');

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('esbuild: watching');
} else {
  const started = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`esbuild: built ${builds.length} bundles into dist/ in ${Date.now() - started} ms`);
}
