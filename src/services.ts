/**
 * The services and the stores they work through, bound together: everything a thread needs to do
 * Pippin's work without serving HTTP (the job worker builds exactly this).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import { systemClock, systemRandom, type Clock, type Random } from './core/clock.js';
import type { Database } from './db/database.js';
import { accountStore, adminStore, operatorLookup, sessionStore, signInLookup, tokenStore } from './accounts/store.kysely.js';
import { auditStore } from './audit/store.kysely.js';
import { userStore } from './directory/store.kysely.js';
import { requestLinks, requestStore, requestSweep } from './enrollments/store.kysely.js';
import { deviceResolver, deviceStore } from './devices/store.kysely.js';
import { challengeClaims, challengeStore } from './enrollments/challenges.js';
import { accessTokenStore, accountDrivenLookup } from './enrollments/account-driven-store.js';
import { pushCertificateStore } from './apple/push/store.kysely.js';
import { createPushCertificateService } from './apple/push/service.js';
import { jobClaims, jobStore } from './jobs/store.kysely.js';
import { outboxClaims, outboxStore } from './notify/store.kysely.js';
import { createOutboxSender, fileTransport, smtpTransport } from './notify/sender.js';
import { fileSmsTransport, webhookSmsTransport } from './notify/sms.js';
import { createOutboxService } from './notify/service.js';
import { enqueueImportSummary } from './notify/import-summary.js';
import { createDirectoryService } from './directory/service.js';
import { createEnrollmentService, type EnqueueNotices } from './enrollments/service.js';
import { ENROLLMENT_NOTICE, enqueueEnrollmentNotices, type EnrollmentNoticeInputs } from './notify/enrollment-notice.js';
import { runBulkAdd } from './enrollments/bulk-add.js';
import { createDeviceService } from './devices/service.js';
import { createCheckinService } from './devices/checkin.js';
import { createPki } from './apple/ca.js';
import { createScepServer } from './apple/scep.js';
import { deviceAuthenticator } from './apple/device-auth.js';
import { scepRedeemer } from './enrollments/scep-redeemer.js';
import { createPortalService } from './enrollments/portal.js';
import { createAccountDrivenService } from './enrollments/account-driven.js';
import { accessTokenHash } from './enrollments/secrets.js';
import { enrollmentProfiles } from './apple/enrollment-profiles.js';
import { createAccountService } from './accounts/service.js';
import { createAuthService } from './accounts/auth.js';
import { SignInThrottle } from './accounts/throttle.js';
import { createAuditService } from './audit/service.js';
import { generatePassword } from './accounts/passwords.js';
import type { UnitOfWork } from './stores.js';
import { accountNumbers } from './db/account-numbers.js';
import { CACHE_MAX_AGE_MS, createFileStore } from './bulk/file-store.js';
import { createJobRunner, type RunnerOptions } from './jobs/runner.js';
import { createJobService } from './jobs/service.js';
import { createPoller } from './core/poller.js';
import { runUsersImport } from './directory/import.js';
import type { ImportLimits } from './jobs/table-job.js';

/** Binds every feature's Kysely store to one transaction. */
export function kyselyUnitOfWork(db: Database): UnitOfWork {
  const numbers = accountNumbers();
  return {
    inAccount: (accountId, fn) =>
      db.forAccount(accountId, (tx) =>
        fn({
          account: accountStore(tx, accountId),
          admins: adminStore(tx, accountId),
          sessions: sessionStore(tx, accountId),
          tokens: tokenStore(tx, accountId),
          audit: auditStore(tx, accountId),
          users: userStore(tx, accountId, db.caps, numbers),
          jobs: jobStore(tx, accountId),
          outbox: outboxStore(tx, accountId, db.caps),
          requests: requestStore(tx, accountId, db.caps),
          devices: deviceStore(tx, accountId, db.caps),
          challenges: challengeStore(tx, accountId),
          accessTokens: accessTokenStore(tx, accountId),
          pushCertificates: pushCertificateStore(tx, accountId),
        }),
      ),
    system: (systemPath, fn) =>
      db.system(systemPath, (tx) => fn({ signIn: signInLookup(tx), operator: operatorLookup(tx), jobClaims: jobClaims(tx, db.caps), outboxClaims: outboxClaims(tx, db.caps), requestSweep: requestSweep(tx), deviceResolver: deviceResolver(tx, db.caps), challengeClaims: challengeClaims(tx), requestLinks: requestLinks(tx), accountDriven: accountDrivenLookup(tx) })),
  };
}

export interface ServiceOptions {
  clock?: Clock;
  random?: Random;
  dataDir?: string;
  secretKey?: Buffer;
  mail?: { smtpUrl?: string; from: string; publicUrl: string };
  /** SMS_WEBHOOK_URL and SMS_WEBHOOK_TOKEN (without a URL, SMS are written under data/outbox/sms), PIPPIN_NOTIFY_RATE. */
  notify?: { smsWebhookUrl?: string; smsWebhookToken?: string; rate?: number };
  limits?: ImportLimits;
  runner?: Partial<RunnerOptions>;
  /** PIPPIN_ALLOW_TEST_TOPIC: without a push certificate, profiles use a generated test topic. */
  allowTestTopic?: boolean;
  /** PIPPIN_PROFILE_SIGNING_CERT and _KEY (PEM files); without them profiles are signed by a certificate from Pippin's CA. */
  profileSigning?: { certFile?: string; keyFile?: string };
}

export function createServices(db: Database, opts: ServiceOptions = {}) {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const uow = kyselyUnitOfWork(db);
  const dataDir = opts.dataDir ?? path.resolve('data');
  const limits = opts.limits ?? { maxBytes: 512 * 1024 * 1024, maxRows: 2_000_000, xlsxMaxRows: 200_000, xlsxMaxInflatedBytes: 200 * 1024 * 1024 };
  const files = createFileStore(db, dataDir, db.caps.rowLevelSecurity ? 'database' : 'disk');
  const secretKey = opts.secretKey ?? Buffer.alloc(32);
  const mail = opts.mail ?? { from: 'Pippin <pippin@localhost>', publicUrl: 'http://localhost:8080' };
  const outbox = createOutboxSender({
    uow,
    clock,
    secretKey,
    transport: mail.smtpUrl ? smtpTransport(mail.smtpUrl) : fileTransport(path.join(dataDir, 'outbox')),
    sms: opts.notify?.smsWebhookUrl
      ? webhookSmsTransport({ url: opts.notify.smsWebhookUrl, token: opts.notify.smsWebhookToken })
      : fileSmsTransport(path.join(dataDir, 'outbox', 'sms')),
    rate: opts.notify?.rate,
    // A notice that gave up fails its request, visibly, with the reason.
    onGaveUp: async (m, reason) => {
      if (m.kind === ENROLLMENT_NOTICE) await enrollments.notificationFailed(m.accountId, (m.inputs as EnrollmentNoticeInputs).requestId, reason);
    },
    from: mail.from,
    publicUrl: mail.publicUrl,
  });
  const notices: EnqueueNotices = (s, list) => enqueueEnrollmentNotices(s, list, { secretKey, clock, random });
  const enrollments = createEnrollmentService({ uow, clock, random, secretKey, publicUrl: mail.publicUrl, enqueueNotices: notices });
  const runner = createJobRunner(
    {
      uow,
      clock,
      random,
      handlers: {
        users_import: async (work, hooks) =>
          runUsersImport({ uow, clock, random, limits, filePath: await files.localPath(work.accountId, work.fileId!), work, planAhead: db.caps.serverProcess, ...hooks }),
        enrollment_bulk_add: async (work, hooks) =>
          runBulkAdd(
            { uow, clock, random, limits, filePath: await files.localPath(work.accountId, work.fileId!), work, ...hooks },
            { secretKey, publicUrl: mail.publicUrl },
          ),
      },
      onFinish: async (s, job) => {
        await enqueueImportSummary(s, job, { secretKey, clock, random });
        setImmediate(() => outbox.kick());
        // An import can change the directory's size a thousandfold: the planner's statistics follow.
        setImmediate(() => void db.optimize().catch((e) => console.error('optimize after a job:', (e as Error).message)));
      },
      discardFile: (accountId, fileId) => files.discard(accountId, fileId),
    },
    { node: `${os.hostname()}:${process.pid}`, ...opts.runner },
  );
  /**
   * Every minute, Pending requests past their expiry become Expired, and this node's copies of
   * uploads older than a day go (FileStore.sweepCache).
   */
  const sweeper = createPoller(
    async () => {
      await enrollments.sweepExpired();
      await files.sweepCache(CACHE_MAX_AGE_MS, clock.now());
      return false;
    },
    { pollMs: 60_000, onError: (e) => console.error('expiry sweep:', e) },
  );
  /** The installation CA and the profile-signing identity, loaded on first use. */
  const pki = createPki({ db, secretKey, clock, signing: opts.profileSigning });
  const profiles = enrollmentProfiles({ pki, publicUrl: mail.publicUrl, pushTopic: (accountId) => pushCertificates.pushTopic(accountId) });
  const scep = createScepServer({ ca: pki.ca, redeemer: scepRedeemer({ uow, clock, random, secretKey }), clock });
  /** Apple setup: the APNs push certificate, and the topic profiles carry (`pushTopic`). */
  const pushCertificates = createPushCertificateService({ uow, clock, random, secretKey, allowTestTopic: opts.allowTestTopic ?? false });
  const services = {
    /** Wakes whatever runs the jobs (this thread's runner, or the worker thread). */
    wake: () => {
      runner.kick();
      outbox.kick();
    },
    /** The background work of a process that runs jobs: the job runner, the outbox sender and the expiry sweep. */
    background: {
      start() {
        runner.start();
        outbox.start();
        sweeper.start();
      },
      async stop() {
        await Promise.all([runner.stop(), outbox.stop(), sweeper.stop()]);
      },
    },
    uow,
    files,
    runner,
    outbox,
    jobs: createJobService({ uow, clock, random, files, kick: () => services.wake() }),
    accounts: createAccountService({ uow, clock, random }),
    auth: createAuthService({ uow, clock, random, throttle: new SignInThrottle(clock) }),
    audit: createAuditService({ uow }),
    directory: createDirectoryService({ uow, clock, random }),
    /** Outbox figures for admins (the sender itself is `outbox`). */
    notifications: createOutboxService({ uow }),
    enrollments,
    devices: createDeviceService({ uow }),
    checkins: createCheckinService({ uow, clock, random, hashToken: (token) => accessTokenHash(secretKey, token) }),
    pki,
    scep,
    deviceAuth: deviceAuthenticator({ pki, clock }),
    portal: createPortalService({ uow, clock, random, secretKey, profiles }),
    accountDriven: createAccountDrivenService({ uow, clock, random, secretKey, publicUrl: mail.publicUrl, profiles }),
    pushCertificates,
  };
  return services;
}

export type Services = ReturnType<typeof createServices>;

/** The secret key: PIPPIN_SECRET_KEY, else a key file in the data directory created on first start. */
export function loadSecretKey(config: Pick<Config, 'secretKey' | 'dataDir'>): Buffer {
  if (config.secretKey) return config.secretKey;
  const file = path.join(config.dataDir, 'secret.key');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
}

/**
 * First start: when there is no account yet, create `Default` with its owner (PIPPIN_ADMIN_EMAIL,
 * PIPPIN_ADMIN_PASSWORD or a generated one). Returns the generated password when one was made.
 */
export async function ensureFirstAccount(services: Services, config: Pick<Config, 'adminEmail' | 'adminPassword'>): Promise<{ created: boolean; email: string; generatedPassword?: string }> {
  const existing = await services.uow.system('operator command', (s) => s.operator.listAccounts());
  if (existing.length > 0) return { created: false, email: config.adminEmail };
  const generated = config.adminPassword ? undefined : generatePassword();
  await services.accounts.createAccount({ name: 'Default', ownerEmail: config.adminEmail, ownerPassword: config.adminPassword ?? generated! });
  return { created: true, email: config.adminEmail, generatedPassword: generated };
}

