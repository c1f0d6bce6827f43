import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { AppError } from '../errors.js';
import { ROLES, type Role } from '../accounts/model.js';
import { generatePassword } from '../accounts/passwords.js';
import { operatorActor } from '../accounts/service.js';
import { normaliseKey } from '../core/names.js';
import { openDatabase, runMigrations } from '../db/open.js';
import { createPippin, createServices, ensureFirstAccount, loadSecretKey, type Services } from '../main.js';

import { addDataCommands, EXIT } from './data-commands.js';

export { EXIT };
let exitCode: number = EXIT.ok;

function config(): Readonly<Config> {
  return loadConfig(process.env);
}

async function withServices<T>(fn: (services: Services) => Promise<T>): Promise<T> {
  const cfg = config();
  loadSecretKey(cfg);
  const db = await openDatabase(cfg);
  try {
    return await fn(createServices(db));
  } finally {
    await db.close();
  }
}

/** The account an operator command acts on: --account KEY, else the only one. */
async function pickAccount(services: Services, key?: string): Promise<{ id: string; key: string; name: string }> {
  const accounts = await services.uow.system('operator command', (s) => s.operator.listAccounts());
  if (key) {
    const found = accounts.find((a) => a.key === key);
    if (!found) throw new AppError('NOT_FOUND', `No account with key ${key}`);
    return found;
  }
  if (accounts.length === 1) return accounts[0]!;
  if (accounts.length === 0) throw new AppError('NOT_FOUND', 'There is no account yet: run `pippin serve` once or `pippin account create`');
  throw new AppError('VALIDATION_FAILED', `There are ${accounts.length} accounts: name one with --account KEY (${accounts.map((a) => a.key).join(', ')})`);
}

const positiveInt = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return Number(v);
};

export function buildCli(): Command {
  const program = new Command('pippin')
    .description('Pippin: device management for Apple User Enrollment')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('Serve the console and API (migrates the database first; first start creates the account and its owner)')
    .action(async () => {
      const cfg = config();
      // Test hooks (never set in production): stop the job worker dead after batch k; take over a job sooner; smaller batches.
      const hang = Number(process.env.PIPPIN_TEST_HANG_AFTER_BATCH) || undefined;
      const staleMs = Number(process.env.PIPPIN_TEST_JOB_STALE_MS) || undefined;
      const batchRows = Number(process.env.PIPPIN_TEST_IMPORT_BATCH_ROWS) || undefined;
      const pippin = await createPippin(cfg, { logger: { level: process.env.LOG_LEVEL ?? 'info' }, jobs: 'worker', hangAfterBatch: hang, runner: { staleMs, batchRows } });
      for (const w of cfg.warnings) pippin.app.log.warn(w);
      const first = await ensureFirstAccount(pippin.services, cfg);
      await pippin.app.listen({ port: cfg.port, host: cfg.host });
      const lines = [`Pippin is ready at ${cfg.publicUrl}`];
      if (first.created) {
        lines.push(`Created the account "Default" with the owner ${first.email}.`);
        if (first.generatedPassword) lines.push(`Sign in with ${first.email} and this password (shown once): ${first.generatedPassword}`);
        else lines.push(`Sign in with ${first.email} and PIPPIN_ADMIN_PASSWORD.`);
      }
      process.stdout.write(lines.join('\n') + '\n');
      const stop = async () => {
        await pippin.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program
    .command('migrate')
    .description('Apply database migrations (as DATABASE_MIGRATION_URL, else DATABASE_URL, else the SQLite file) and exit')
    .action(async () => {
      const applied = await runMigrations(config());
      process.stdout.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'The database is up to date\n');
    });

  const account = program.command('account').description('Operator commands on accounts');
  account
    .command('create')
    .description('Create an account with its first owner')
    .requiredOption('--name <name>', 'the account name')
    .requiredOption('--admin-email <email>', "the owner's email (also sets the default domain)")
    .option('--admin-password <password>', 'the owner password (default: generated and printed once)')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; adminEmail: string; adminPassword?: string; json?: boolean }) => {
      const password = o.adminPassword ?? generatePassword();
      const { account: created, owner } = await withServices((s) =>
        s.accounts.createAccount({ name: o.name, ownerEmail: o.adminEmail, ownerPassword: password }),
      );
      const out = { account: { id: created.id, key: created.key, name: created.name }, owner: { id: owner.id, email: owner.email }, ...(o.adminPassword ? {} : { password }) };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n' : `Created account "${created.name}" (key ${created.key}) with the owner ${owner.email}${o.adminPassword ? '' : `, password: ${password}`}\n`);
    });

  const admin = program.command('admin').description('Operator commands on admins');
  admin
    .command('create')
    .description('Add an admin to an account')
    .requiredOption('--email <email>', "the admin's email")
    .addOption(new Option('--role <role>', 'the role').choices([...ROLES]).default('admin'))
    .option('--password <password>', 'the password (default: generated and printed once)')
    .option('--account <key>', 'the account key (needed when there are several)')
    .option('--json', 'print JSON')
    .action(async (o: { email: string; role: Role; password?: string; account?: string; json?: boolean }) => {
      const password = o.password ?? generatePassword();
      const created = await withServices(async (s) => {
        const acc = await pickAccount(s, o.account);
        return s.accounts.createAdmin(operatorActor(acc.id), { email: o.email, role: o.role, password });
      });
      const out = { id: created.id, email: created.email, role: created.role, ...(o.password ? {} : { password }) };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n' : `Created ${created.role} ${created.email}${o.password ? '' : `, password: ${password}`}\n`);
    });

  const token = program.command('token').description('Operator commands on API tokens');
  token
    .command('create')
    .description("Create an API token acting as an admin (with that admin's role); prints only the token")
    .option('--admin <email>', 'the admin the token acts as (default: the oldest owner)')
    .option('--name <name>', 'a name to recognise it by', 'cli')
    .option('--expires-in <days>', 'expire after this many days', positiveInt)
    .option('--account <key>', 'the account key (needed when there are several)')
    .option('--json', 'print JSON')
    .action(async (o: { admin?: string; name: string; expiresIn?: number; account?: string; json?: boolean }) => {
      const created = await withServices(async (s) => {
        const acc = await pickAccount(s, o.account);
        const actor = operatorActor(acc.id);
        let adminId: string | undefined;
        if (o.admin) {
          const found = await s.uow.system('sign-in lookup by email', (x) => x.signIn.findAdminByEmailKey(normaliseKey(o.admin!)));
          if (!found || found.admin.accountId !== acc.id) throw new AppError('NOT_FOUND', `No admin ${o.admin} in account ${acc.key}`);
          adminId = found.admin.id;
        } else {
          const admins = await s.accounts.listAdmins(actor, { limit: 200 });
          adminId = admins.items.filter((a) => a.role === 'owner' && !a.disabled).sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0]?.id;
          if (!adminId) throw new AppError('NOT_FOUND', 'The account has no active owner: name an admin with --admin');
        }
        return s.auth.createToken(actor, { name: o.name, expiresInDays: o.expiresIn, forAdminId: adminId });
      });
      const { accountId: _a, ...shown } = created;
      process.stdout.write(o.json ? JSON.stringify(shown) + '\n' : created.token + '\n');
    });

  addDataCommands(program, { stdout: process.stdout, stderr: process.stderr, isTTY: !!process.stdout.isTTY, setExit: (c) => (exitCode = c) });
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildCli();
  exitCode = EXIT.ok;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof ConfigError) process.stderr.write(e.message + '\n');
    else if (e instanceof AppError) process.stderr.write(`${e.code}: ${e.message}\n`);
    else process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    return EXIT.failed;
  }
}

const isMain = process.argv[1] && /(cli[\\/]main\.[jt]s|bin[\\/]pippin\.js|[\\/]pippin)$/.test(process.argv[1]);
if (isMain) {
  const args = process.argv.slice(2);
  runCli(args).then((code) => {
    // serve keeps the process alive; every other command exits with its status.
    if (args[0] !== 'serve' || code !== 0) process.exit(code);
  });
}
