import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { createPippin } from '../../src/main.js';
import { loadConfig } from '../../src/config.js';
import { tempDir } from '../support/db.js';

/** Runs a CLI command in-process against a data directory, capturing what it prints. */
async function cli(args: string[], env: Record<string, string>) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await runCli(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.env = saved;
  }
}

describe('the pippin CLI (operator commands on SQLite)', () => {
  let env: Record<string, string>;
  beforeEach(() => {
    env = { PIPPIN_DATA_DIR: tempDir('pippin-cli-') };
  });
  afterEach(() => vi.restoreAllMocks());

  it('migrates, creates an account, an admin and a token that works against the API', async () => {
    const m = await cli(['migrate'], env);
    expect(m.code).toBe(0);
    expect(m.out).toMatch(/Applied: 0001_foundation/);
    expect((await cli(['migrate'], env)).out).toMatch(/up to date/);

    const acc = await cli(['account', 'create', '--name', 'Acme', '--admin-email', 'boss@acme.example', '--json'], env);
    expect(acc.code).toBe(0);
    const created = JSON.parse(acc.out);
    expect(created.account.name).toBe('Acme');
    expect(created.password).toMatch(/^.{20}$/);

    const adm = await cli(['admin', 'create', '--email', 'help@acme.example', '--role', 'helpdesk', '--password', 'helpdesk-pass-1', '--json'], env);
    expect(adm.code).toBe(0);
    expect(JSON.parse(adm.out)).toMatchObject({ email: 'help@acme.example', role: 'helpdesk' });

    const tok = await cli(['token', 'create', '--admin', 'help@acme.example', '--name', 'script'], env);
    expect(tok.code).toBe(0);
    const token = tok.out.trim();
    expect(tok.out).toBe(`${token}\n`);
    expect(token).toMatch(/^pip_[A-Za-z0-9_-]+$/);

    const tokJson = await cli(['token', 'create', '--expires-in', '7', '--json'], env);
    expect(JSON.parse(tokJson.out)).toMatchObject({ role: 'owner', adminEmail: 'boss@acme.example', name: 'cli' });

    const pippin = await createPippin(loadConfig(env), { consoleDir: '/nonexistent' });
    try {
      const res = await pippin.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      expect(res.json().name).toBe('Acme');
      const refused = await pippin.app.inject({ method: 'PATCH', url: '/api/v1/account', headers: { authorization: `Bearer ${token}` }, payload: { name: 'x' } });
      expect(refused.statusCode).toBe(403);
    } finally {
      await pippin.close();
    }
  });

  it('asks for --account when there are several accounts, and reports operator errors with status 1', async () => {
    await cli(['account', 'create', '--name', 'One', '--admin-email', 'one@one.example'], env);
    await cli(['account', 'create', '--name', 'Two', '--admin-email', 'two@two.example'], env);
    const res = await cli(['admin', 'create', '--email', 'x@x.example'], env);
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/--account KEY/);
    const dup = await cli(['account', 'create', '--name', 'Dup', '--admin-email', 'ONE@one.example'], env);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/ADMIN_EXISTS/);
  });

  it('reports configuration problems together with status 1', async () => {
    const res = await cli(['migrate'], { ...env, PORT: 'x', DATABASE_URL: 'mysql://nope' });
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/PORT/);
    expect(res.err).toMatch(/DATABASE_URL/);
  });

  it('exits 2 on usage errors and prints help for every command', () => {
    const bin = path.resolve('bin/pippin.js');
    const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(run(['frobnicate']).status).toBe(2);
    expect(run(['admin', 'create', '--role', 'king', '--email', 'a@b.c']).status).toBe(2);
    for (const args of [['--help'], ['serve', '--help'], ['migrate', '--help'], ['account', 'create', '--help'], ['admin', 'create', '--help'], ['token', 'create', '--help']]) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: pippin/);
    }
  }, 60_000);
});
