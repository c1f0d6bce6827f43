// Compiles the server (src/, without the console) to plain JavaScript under dist/server, one file
// per module, so `pippin serve` and its job worker run without a TypeScript loader in either thread.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const out = path.join(root, 'dist', 'server');

const entries = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (p !== path.join(src, 'console')) walk(p);
    } else if (/\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name)) entries.push(p);
  }
})(src);

fs.rmSync(out, { recursive: true, force: true });
await build({ entryPoints: entries, outdir: out, outbase: src, format: 'esm', platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' });
console.log(`server: ${entries.length} modules → ${path.relative(root, out)}`);
