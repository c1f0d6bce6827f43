import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('0.0.0.0');
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.adminEmail).toBe('admin@localhost');
    expect(c.importMaxRows).toBe(2_000_000);
    expect(c.importMaxBytes).toBe(512 * 1024 * 1024);
    expect(c.xlsxMaxRows).toBe(200_000);
    expect(c.xlsxMaxInflatedBytes).toBe(200 * 1024 * 1024);
    expect(c.notifyRate).toBe(20);
    expect(c.warnings.join()).toMatch(/https/);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('follows PORT into the default public URL and trims a trailing slash', () => {
    expect(loadConfig({ PORT: '9000' }).publicUrl).toBe('http://localhost:9000');
    const c = loadConfig({ PIPPIN_PUBLIC_URL: 'https://mdm.example.com/' });
    expect(c.publicUrl).toBe('https://mdm.example.com');
    expect(c.warnings).toEqual([]);
  });

  it('reports every problem together', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        PORT: 'eighty',
        PIPPIN_PUBLIC_URL: 'ftp://x',
        DATABASE_URL: 'mysql://x',
        PIPPIN_SECRET_KEY: 'short',
        PIPPIN_ALLOW_TEST_TOPIC: 'maybe',
        PIPPIN_IMPORT_MAX_ROWS: '-5',
        PIPPIN_PROFILE_SIGNING_CERT: '/tmp/cert.pem',
        PIPPIN_ADMIN_EMAIL: 'not-an-email',
        PIPPIN_ADMIN_PASSWORD: 'short',
        PIPPIN_CLIENT_CERT_HEADER: 'x-client-cert',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.problems.join('\n');
    for (const name of [
      'PORT', 'PIPPIN_PUBLIC_URL', 'DATABASE_URL', 'PIPPIN_SECRET_KEY', 'PIPPIN_ALLOW_TEST_TOPIC', 'PIPPIN_IMPORT_MAX_ROWS',
      'PIPPIN_PROFILE_SIGNING_KEY', 'PIPPIN_ADMIN_EMAIL', 'PIPPIN_ADMIN_PASSWORD', 'PIPPIN_TRUSTED_PROXIES',
    ]) {
      expect(text).toContain(name);
    }
    expect(error!.problems.length).toBeGreaterThanOrEqual(10);
    expect(error!.message).toMatch(/configuration problems/);
  });

  it('takes PIPPIN_NOTIFY_RATE as a whole number of messages a second from 1 to 1000', () => {
    expect(loadConfig({ PIPPIN_NOTIFY_RATE: '1' }).notifyRate).toBe(1);
    expect(loadConfig({ PIPPIN_NOTIFY_RATE: '1000' }).notifyRate).toBe(1000);
    for (const bad of ['0', '1001', '2.5', 'fast', '-3']) {
      expect(() => loadConfig({ PIPPIN_NOTIFY_RATE: bad })).toThrow(/PIPPIN_NOTIFY_RATE must be a whole number from 1 to 1000/);
    }
  });

  it('requires a shared secret key with PostgreSQL', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@h/db' })).toThrow(/PIPPIN_SECRET_KEY is required/);
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db', PIPPIN_SECRET_KEY: 'ab'.repeat(32) }).secretKey?.length).toBe(32);
  });
});
