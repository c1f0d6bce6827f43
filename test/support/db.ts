/**
 * Databases for tests: every test file (or every call) gets its own, so tests never share a tenant.
 * `ENGINES` lists the engines the store suites run on; PostgreSQL is left out (loudly, by global
 * setup) only when no server could be had outside CI.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import type { Config } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';

export type Engine = 'sqlite' | 'postgres';

export const ENGINES: Engine[] = inject('pgAdminUrl') ? ['sqlite', 'postgres'] : ['sqlite'];

let counter = 0;

/** Creates an empty PostgreSQL database and returns its superuser URL. */
export async function createPgDatabase(): Promise<string> {
  const admin = inject('pgAdminUrl');
  const name = `pippin_t_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

export function tempDir(prefix = 'pippin-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A full config for a test instance on the engine, with its own data directory and database. */
export async function testConfig(engine: Engine, env: Record<string, string> = {}): Promise<Readonly<Config>> {
  const base: Record<string, string> = {
    PIPPIN_DATA_DIR: tempDir(),
    PIPPIN_PUBLIC_URL: 'http://127.0.0.1:8080',
    PIPPIN_ADMIN_EMAIL: 'owner@example.com',
    PIPPIN_ADMIN_PASSWORD: 'owner-password-1',
  };
  if (engine === 'postgres') {
    base.DATABASE_URL = await createPgDatabase();
    base.PIPPIN_SECRET_KEY = 'a'.repeat(64);
  }
  return loadConfig({ ...base, ...env });
}
