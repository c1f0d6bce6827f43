import path from 'node:path';

/**
 * Pippin's configuration, read from the environment once at startup. Every problem is collected and
 * reported together (ConfigError lists them all); the result is frozen.
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  publicUrl: string;
  /** 32+ bytes; undefined means "use or create the key file in the data directory". */
  secretKey?: Buffer;
  databaseUrl?: string;
  databaseMigrationUrl?: string;
  smtpUrl?: string;
  smtpFrom: string;
  smsWebhookUrl?: string;
  smsWebhookToken?: string;
  /** PIPPIN_NOTIFY_RATE: at most this many emails and SMS a second leave the outbox sender (1..1000). */
  notifyRate: number;
  adminEmail: string;
  adminPassword?: string;
  profileSigningCert?: string;
  profileSigningKey?: string;
  clientCertHeader?: string;
  trustedProxies: string[];
  allowTestTopic: boolean;
  importMaxRows: number;
  importMaxBytes: number;
  xlsxMaxRows: number;
  xlsxMaxInflatedBytes: number;
  /** Warnings to log at startup (not errors). */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Pippin cannot start: ${problems.length} configuration problem${problems.length === 1 ? '' : 's'}:\n` +
      problems.map((p) => `  - ${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${v}")`);
      return def;
    }
    return Number(v);
  };
  const bool = (name: string): boolean => {
    const v = str(name);
    if (v === undefined) return false;
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    problems.push(`${name} must be true or false (got "${v}")`);
    return false;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) {
        problems.push(`${name} must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL (got "${u.protocol}")`);
      }
    } catch {
      problems.push(`${name} is not a valid URL`);
    }
    return v;
  };

  const port = int('PORT', 8080, 1, 65535);
  const host = str('PIPPIN_HOST') ?? '0.0.0.0';
  const dataDir = path.resolve(str('PIPPIN_DATA_DIR') ?? './data');
  let publicUrl = url('PIPPIN_PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`;
  publicUrl = publicUrl.replace(/\/+$/, '');
  if (publicUrl.startsWith('http:')) {
    warnings.push(`PIPPIN_PUBLIC_URL is ${publicUrl}: real devices need https; http is for local testing only`);
  }

  let secretKey: Buffer | undefined;
  const rawKey = str('PIPPIN_SECRET_KEY');
  if (rawKey !== undefined) {
    secretKey = decodeKey(rawKey);
    if (!secretKey) problems.push('PIPPIN_SECRET_KEY must be at least 32 bytes, given as 64+ hex characters or 43+ base64 characters');
  }
  const databaseUrl = url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const databaseMigrationUrl = url('DATABASE_MIGRATION_URL', ['postgres:', 'postgresql:']);
  if (databaseMigrationUrl && !databaseUrl) problems.push('DATABASE_MIGRATION_URL is set but DATABASE_URL is not');
  if (databaseUrl && !rawKey) {
    problems.push('PIPPIN_SECRET_KEY is required with DATABASE_URL (every node must share it)');
  }
  const smtpUrl = url('SMTP_URL', ['smtp:', 'smtps:']);
  const smsWebhookUrl = url('SMS_WEBHOOK_URL', ['http:', 'https:']);
  const adminEmail = str('PIPPIN_ADMIN_EMAIL') ?? 'admin@localhost';
  if (!/^[^\s@]+@[^\s@]+$/.test(adminEmail)) problems.push(`PIPPIN_ADMIN_EMAIL is not an email address (got "${adminEmail}")`);
  const adminPassword = env.PIPPIN_ADMIN_PASSWORD || undefined;
  if (adminPassword !== undefined && adminPassword.length < 10) problems.push('PIPPIN_ADMIN_PASSWORD must be at least 10 characters');
  const profileSigningCert = str('PIPPIN_PROFILE_SIGNING_CERT');
  const profileSigningKey = str('PIPPIN_PROFILE_SIGNING_KEY');
  if (!!profileSigningCert !== !!profileSigningKey) {
    problems.push('PIPPIN_PROFILE_SIGNING_CERT and PIPPIN_PROFILE_SIGNING_KEY must be set together');
  }
  const trustedProxies = (str('PIPPIN_TRUSTED_PROXIES') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const clientCertHeader = str('PIPPIN_CLIENT_CERT_HEADER');
  if (clientCertHeader && trustedProxies.length === 0) {
    problems.push('PIPPIN_CLIENT_CERT_HEADER needs PIPPIN_TRUSTED_PROXIES (the header is honoured only from them)');
  }

  const config: Config = {
    port,
    host,
    dataDir,
    publicUrl,
    secretKey,
    databaseUrl,
    databaseMigrationUrl,
    smtpUrl,
    smtpFrom: str('SMTP_FROM') ?? `Pippin <pippin@${hostOf(publicUrl)}>`,
    smsWebhookUrl,
    smsWebhookToken: str('SMS_WEBHOOK_TOKEN'),
    notifyRate: int('PIPPIN_NOTIFY_RATE', 20, 1, 1000),
    adminEmail,
    adminPassword,
    profileSigningCert,
    profileSigningKey,
    clientCertHeader,
    trustedProxies,
    allowTestTopic: bool('PIPPIN_ALLOW_TEST_TOPIC'),
    importMaxRows: int('PIPPIN_IMPORT_MAX_ROWS', 2_000_000, 1, 100_000_000),
    importMaxBytes: int('PIPPIN_IMPORT_MAX_BYTES', 512 * 1024 * 1024, 1, 2 ** 40),
    xlsxMaxRows: int('PIPPIN_XLSX_MAX_ROWS', 200_000, 1, 1_048_575),
    xlsxMaxInflatedBytes: int('PIPPIN_XLSX_MAX_INFLATED_BYTES', 200 * 1024 * 1024, 1, 2 ** 40),
    warnings,
  };
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(config);
}

function decodeKey(raw: string): Buffer | undefined {
  const buf = /^[0-9a-f]+$/i.test(raw) && raw.length % 2 === 0 ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  return buf.length >= 32 ? buf : undefined;
}

function hostOf(u: string): string {
  try {
    return new URL(u).hostname;
  } catch {
    return 'localhost';
  }
}
