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

/**
 * Asks a thread started on one of Pippin's modules to stop (`{ type: 'stop' }`), waits until it
 * answers `{ type: 'stopped' }` or exits, at most `withinMs`, then terminates it. A thread that has
 * exited already (its `threadId` is then -1) is left as it is: stopping twice is harmless.
 */
export async function stopThread(thread: Worker, withinMs: number): Promise<void> {
  if (thread.threadId === -1) return;
  const stopped = new Promise<void>((resolve) => {
    thread.on('message', (m: { type: string }) => m.type === 'stopped' && resolve());
    thread.once('exit', () => resolve());
  });
  thread.postMessage({ type: 'stop' });
  await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, withinMs))]);
  await thread.terminate();
}
