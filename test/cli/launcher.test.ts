/**
 * The `pippin` launcher (bin/pippin): it sets glibc's malloc thresholds unless the caller set them,
 * keeps other tunables, bounds the HTTP thread's heap and sizes V8's helper threads to the machine
 * unless NODE_OPTIONS does, finds pippin.js beside itself when npm links it elsewhere, and execs
 * Node.
 * A stand-in `node` first on PATH prints what it was given.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/db.js';

const launcher = path.resolve('bin/pippin');
const OURS = 'glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';

const HEAP = '--max-old-space-size=1024';
const POOL = '--v8-pool-size=0';
const JS = path.resolve('bin/pippin.js');

function run(script: string, tunables: string | undefined, args: string[] = ['serve', '--x'], nodeOptions?: string) {
  const dir = tempDir('pippin-launcher-');
  fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\nprintf "%s\\n" "${GLIBC_TUNABLES-<unset>}" "$@"\n', { mode: 0o755 });
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
  delete env.NODE_OPTIONS;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
  if (tunables === undefined) delete env.GLIBC_TUNABLES;
  else env.GLIBC_TUNABLES = tunables;
  const r = spawnSync(script, args, { env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trimEnd().split('\n');
}

describe('the pippin launcher', () => {
  it('sets both malloc thresholds when nothing is set, and passes the arguments on', () => {
    expect(run(launcher, undefined)).toEqual([OURS, HEAP, POOL, JS, 'serve', '--x']);
    expect(run(launcher, '')[0]).toBe(OURS);
    expect(run(launcher, undefined, ['users', 'import', 'a file.csv', '--wait']).slice(1)).toEqual([HEAP, POOL, JS, 'users', 'import', 'a file.csv', '--wait']);
  });

  it("keeps the caller's tunables, adding only the thresholds they did not set", () => {
    expect(run(launcher, 'glibc.malloc.arena_max=2')[0]).toBe(`glibc.malloc.arena_max=2:${OURS}`);
    expect(run(launcher, 'glibc.malloc.mmap_threshold=65536')[0]).toBe('glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072');
    expect(run(launcher, 'glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=65536')[0]).toBe('glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=65536');
  });

  it('leaves the heap limit and the helper threads to NODE_OPTIONS when that sets them', () => {
    expect(run(launcher, undefined, ['serve'], '--max-old-space-size=2048').slice(1)).toEqual([POOL, JS, 'serve']);
    expect(run(launcher, undefined, ['serve'], '--enable-source-maps --max_old_space_size=512').slice(1)).toEqual([POOL, JS, 'serve']);
    expect(run(launcher, undefined, ['serve'], '--enable-source-maps').slice(1)).toEqual([HEAP, POOL, JS, 'serve']);
    expect(run(launcher, undefined, ['serve'], '--v8-pool-size=3').slice(1)).toEqual([HEAP, JS, 'serve']);
    expect(run(launcher, undefined, ['serve'], '--v8-pool-size=3 --max-old-space-size=2048').slice(1)).toEqual([JS, 'serve']);
  });

  it('gives Node the arguments of PIPPIN_NODE_ARGS before pippin.js', () => {
    const dir = tempDir('pippin-launcher-');
    fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
    const r = spawnSync(launcher, ['serve'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', PATH: `${dir}:${process.env.PATH}`, PIPPIN_NODE_ARGS: '--cpu-prof --cpu-prof-dir=/tmp/p' } });
    expect(r.stdout.trimEnd().split('\n')).toEqual([HEAP, POOL, '--cpu-prof', '--cpu-prof-dir=/tmp/p', JS, 'serve']);
  });

  it('runs the pippin.js beside it when npm links it into node_modules/.bin', () => {
    const bin = path.join(tempDir('pippin-bin-'), '.bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(launcher, path.join(bin, 'pippin'));
    expect(run(path.join(bin, 'pippin'), undefined)[3]).toBe(JS);
  });

  it('runs the real CLI', () => {
    const r = spawnSync(launcher, ['--help'], { encoding: 'utf8', env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: pippin/);
  }, 60_000);
});
