/**
 * The job worker thread yields the CPU to the HTTP thread: on Linux it lowers its own nice value
 * (a per-thread attribute there), and only its own.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startJobWorker } from '../../src/main.js';
import { testConfig } from '../support/db.js';

/** The nice value of each thread of this process, by thread id (field 19 of /proc/self/task/<tid>/stat). */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

describe('the job worker thread', () => {
  it.runIf(process.platform === 'linux')('runs at nice 10 on Linux while the HTTP thread keeps its priority', async () => {
    const before = niceByThread();
    const worker = await startJobWorker(await testConfig('sqlite'), Buffer.alloc(32, 7));
    try {
      const after = niceByThread();
      const niced = [...after].filter(([tid, nice]) => !before.has(tid) && nice === 10);
      expect(niced).toHaveLength(1);
      expect(after.get(process.pid)).toBe(before.get(process.pid));
      expect([...after].filter(([tid, nice]) => before.has(tid) && nice !== before.get(tid))).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
