#!/usr/bin/env node
// The `pippin` command. It runs the compiled server (dist/server, made by `npm run build`) when that
// is at least as new as every source file; otherwise it runs the TypeScript sources through tsx.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'server', 'cli', 'main.js');

function newestSource(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'console') newest = Math.max(newest, newestSource(p));
    } else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

const fresh = fs.existsSync(compiled) && process.env.PIPPIN_FROM_SOURCE !== '1' && fs.statSync(compiled).mtimeMs >= newestSource(path.join(root, 'src'));
// PIPPIN_FROM_SOURCE=0 asks for the compiled server only (the benchmarks: run from the sources,
// each thread loads tsx, the server idles ~100 MB higher and runs slower).
if (!fresh && process.env.PIPPIN_FROM_SOURCE === '0') {
  console.error('pippin: dist/server is missing or older than a source file, and PIPPIN_FROM_SOURCE=0 forbids running the sources: run `node scripts/build-server.mjs` (or `npm run build`)');
  process.exit(1);
}
if (fresh) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
