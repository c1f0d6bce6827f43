/** A listening Pippin serving the API and the built console, for browser tests. */
import type { Role } from '../../src/accounts/model.js';
import { operatorActor } from '../../src/accounts/service.js';
import { CONSOLE_DIR, createPippin, ensureFirstAccount } from '../../src/main.js';
import { testConfig, type Engine } from './db.js';
import { OWNER } from './app.js';

let seq = 0;

/** `env` adds environment settings (e.g. PIPPIN_ALLOW_TEST_TOPIC) to the test configuration. */
export async function startTestServer(opts: { engine?: Engine; env?: Record<string, string> } = {}) {
  const config = await testConfig(opts.engine ?? 'sqlite', opts.env);
  const pippin = await createPippin(config, { consoleDir: CONSOLE_DIR });
  const first = await ensureFirstAccount(pippin.services, config);
  if (!first.created) throw new Error('expected a fresh database');
  const address = await pippin.app.listen({ port: 0, host: '127.0.0.1' });
  const accounts = await pippin.services.uow.system('operator command', (s) => s.operator.listAccounts());
  return {
    url: address.replace('localhost', '127.0.0.1'),
    owner: { ...OWNER },
    pippin,
    async createAdmin(role: Role) {
      const email = `${role}-${++seq}@example.com`;
      const password = `${role}-password-${seq}`;
      await pippin.services.accounts.createAdmin(operatorActor(accounts[0]!.id), { email, role, password });
      return { email, password };
    },
    close: () => pippin.close(),
  };
}
