/**
 * `npm run bench`: runs the benchmarks, prints each figure beside the raw floor measured in the same
 * run, and writes the figures as JSON under bench/results/ (one file per benchmark, plus a dated copy).
 * Benchmarks are not tests: nothing here fails on time; the budgets are reported, not asserted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDirectoryList } from './directory-list.js';
import { benchUsersImport, benchUsersImportPostgres } from './users-import.js';
import { benchBulkAdd } from './enrollments-bulk-add.js';
import { benchApple } from './apple.js';
import { benchCheckins } from './checkins.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const all: Record<string, () => Promise<object>> = { 'directory-list': benchDirectoryList, 'users-import': benchUsersImport, 'users-import-postgres': benchUsersImportPostgres, 'enrollments-bulk-add': benchBulkAdd, apple: benchApple, checkins: benchCheckins };

for (const [name, run] of Object.entries(all)) {
  if (only.length && !only.includes(name)) continue;
  console.log(`\n== ${name} ==`);
  const figures = { ...(await run()), machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version }, at: new Date().toISOString() };
  const dir = path.join(here, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(figures, null, 2) + '\n');
  console.log(`wrote bench/results/${name}.json`);
}
