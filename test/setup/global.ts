import { execSync } from 'node:child_process';
import fs from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startCluster, type Cluster } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL of a PostgreSQL server for tests, or '' when none could be had. */
    pgAdminUrl: string;
    /** Why PostgreSQL tests are skipped, when they are. */
    pgSkipReason: string;
    chromiumPath: string;
  }
}

let cluster: Cluster | undefined;

export default async function setup(project: TestProject) {
  let url = process.env.PIPPIN_TEST_DATABASE_URL ?? '';
  let reason = '';
  if (!url) {
    try {
      cluster = await startCluster();
      url = cluster.url;
    } catch (e) {
      reason = `no PostgreSQL for tests (${(e as Error).message.split('\n')[0]})`;
      if (process.env.CI) throw new Error(`CI must run the PostgreSQL tests: ${reason}`);
      console.warn(`\n\n*** SKIPPING POSTGRESQL TESTS: ${reason}. Install postgresql or set PIPPIN_TEST_DATABASE_URL. ***\n\n`);
    }
  }
  const chromium = process.env.PIPPIN_CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) {
    if (process.env.CI) throw new Error(`CI must run the browser tests: ${chromium} is missing (apt-get install chromium)`);
    console.warn(`\n\n*** SKIPPING BROWSER TESTS: ${chromium} is missing (apt-get install chromium). ***\n\n`);
  }
  // The browser tests drive the built console: build it when it is missing.
  if (fs.existsSync(chromium) && !fs.existsSync('dist/console/index.html')) {
    execSync('npx vite build --config console/vite.config.ts', { stdio: 'inherit' });
  }
  project.provide('pgAdminUrl', url);
  project.provide('pgSkipReason', reason);
  project.provide('chromiumPath', fs.existsSync(chromium) ? chromium : '');
  return () => cluster?.stop();
}
