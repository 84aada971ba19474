// Builds the .vsix for this machine's platform (`npm run package`).
//
// The bundles in dist/ load onnxruntime-node (a native binding) and tfjs
// (whose backends register into one shared tfjs-core) from node_modules at
// run time, so the .vsix carries them: this script stages their run-time
// files into dist/node_modules/ (where a require from dist/ finds them),
// packages with `vsce --target <platform>` because onnxruntime's binary is
// per platform, and removes the staged copy again so that the development
// tree resolves them from the top-level node_modules as before.
//
// Usage: node scripts/package.mjs [--out FILE.vsix]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const staged = path.join(root, 'dist', 'node_modules');

/** The packages the bundles leave to node_modules (see scripts/build.mjs); tfjs-node is optional and not shipped. */
// '@tensorflow/tfjs' (the union package) because its Node build is where tfjs's gradients are registered (see trainer.ts).
const RUNTIME = ['onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'];

/** onnxruntime-node's binaries exist for these; VS Code's platform-specific targets are named the same way. */
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];

/**
 * The files of a package the bundles need. tfjs ships every build (ESM
 * trees, minified, es2017) and source maps: only the Node entry point and
 * the wasm binaries run. onnxruntime-node ships every platform's binaries:
 * only this one's. Elsewhere, all but maps and type declarations.
 */
function wanted(pkg, relative, target) {
  if (relative === 'package.json' || /^LICENSE/i.test(relative)) return true;
  if (/\.(map|ts|md)$/.test(relative) && relative !== 'README.md') return false;
  if (pkg.startsWith('@tensorflow/')) {
    const main = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')).main;
    return relative === path.normalize(main) || /^dist\/[^/]+\.wasm$/.test(relative);
  }
  if (pkg === 'onnxruntime-node') {
    if (relative.startsWith('bin/')) return relative.startsWith(`bin/napi-v6/${target.replace('-', '/')}/`);
    return relative.startsWith('dist/');
  }
  return true;
}

/** A package and what it requires at run time (its dependencies, transitively; type packages left out). */
function closure(names, seen = new Set()) {
  for (const name of names) {
    if (seen.has(name) || name.startsWith('@types/') || name === '@webgpu/types') continue;
    seen.add(name);
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8'));
    closure(runtimeDependencies(name, manifest), seen);
  }
  return seen;
}

/**
 * What a package requires when it runs. onnxruntime-node's own dependencies
 * download binaries at install time; at run time it needs only
 * onnxruntime-common. A tfjs package ships as one Node bundle: what that
 * file requires (the union package's manifest also lists its command-line
 * tools' dependencies, which the bundle never loads).
 */
function runtimeDependencies(name, manifest) {
  if (name === 'onnxruntime-node') return ['onnxruntime-common'];
  if (name.startsWith('@tensorflow/')) {
    const main = fs.readFileSync(path.join(root, 'node_modules', name, manifest.main), 'utf8');
    const required = [...main.matchAll(/require\(['"]([^'"./][^'"]*)['"]\)/g)].map((m) => m[1]);
    return [...new Set(required)].filter((r) => fs.existsSync(path.join(root, 'node_modules', r, 'package.json')));
  }
  return Object.keys(manifest.dependencies ?? {});
}

function walk(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : walk(full, base);
    return [path.relative(base, full).split(path.sep).join('/')];
  });
}

/** Copies the run-time packages into dist/node_modules/; returns the bytes staged per package. */
export function stageRuntime(target) {
  fs.rmSync(staged, { recursive: true, force: true });
  const sizes = {};
  for (const pkg of closure(RUNTIME)) {
    const from = path.join(root, 'node_modules', pkg);
    let bytes = 0;
    for (const f of walk(from)) {
      if (!wanted(pkg, f, target)) continue;
      const to = path.join(staged, pkg, f);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(path.join(from, f), to);
      bytes += fs.statSync(to).size;
    }
    sizes[pkg] = bytes;
  }
  return sizes;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = `${process.platform}-${process.arch}`;
  if (!TARGETS.includes(target)) {
    console.error(`freezelens: onnxruntime-node ships no binary for ${target}; a .vsix can be built on ${TARGETS.join(', ')}`);
    process.exit(1);
  }
  const outIndex = process.argv.indexOf('--out');
  const out = outIndex > 0 ? path.resolve(process.argv[outIndex + 1]) : path.join(root, `freezelens-${target}.vsix`);
  // vsce runs the production build itself (vscode:prepublish); it leaves dist/node_modules/ alone.
  try {
    const sizes = stageRuntime(target);
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    console.log(`staged the experiment runtime for ${target}: ${Object.keys(sizes).length} packages, ${(total / 1e6).toFixed(1)} MB`);
    execFileSync(process.execPath, [path.join(root, 'node_modules/@vscode/vsce/vsce'), 'package', '--no-dependencies', '--no-rewrite-relative-links', '--target', target, '--out', out], { cwd: root, stdio: 'inherit' });
  } finally {
    fs.rmSync(staged, { recursive: true, force: true });
  }
}
