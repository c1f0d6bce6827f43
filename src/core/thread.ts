/**
 * Worker threads on Pippin's own modules. The compiled server (dist/server) loads a thread's module
 * as it is; from the sources, a thread first registers tsx through `thread-entry.mjs`, because on
 * Node 20 a worker thread does not inherit the main thread's TypeScript loader.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts a thread on `module` (a path without extension, relative to `from`, a module's import.meta.url). */
export function startThread(from: string, module: string, options: WorkerOptions = {}): Worker {
  if (from.endsWith('.js')) return new Worker(new URL(`${module}.js`, from), options);
  const threadModule = new URL(`${module}.ts`, from).href;
  return new Worker(new URL('./thread-entry.mjs', import.meta.url), { ...options, workerData: { ...(options.workerData as object), threadModule } });
}
