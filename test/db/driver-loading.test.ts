/**
 * The PostgreSQL driver is loaded only when a PostgreSQL database is opened: a server on SQLite (the
 * default) never holds it. Run in a child process, since this one has loaded it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const PROBE = `
import { createRequire } from 'node:module';
import { loadConfig } from './src/config.ts';
import { createPippin } from './src/main.ts';
const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/pg/'));
const pippin = await createPippin(loadConfig({ PIPPIN_DATA_DIR: process.env.PROBE_DIR, PIPPIN_SECRET_KEY: '07'.repeat(32) }), { jobs: 'none', consoleDir: '/nonexistent' });
const before = loaded();
const { pgPool } = await import('./src/db/database.ts');
await pgPool('postgres://nobody@127.0.0.1:1/none').end();
console.log(JSON.stringify({ sqlite: before, afterPool: loaded() }));
await pippin.close();
`;

describe('the PostgreSQL driver', () => {
  it('is not loaded on SQLite, and is loaded when a pool is first made', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-driver-'));
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], {
        cwd: path.resolve('.'),
        env: { ...process.env, PROBE_DIR: dir },
        encoding: 'utf8',
      });
      expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ sqlite: false, afterPool: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
