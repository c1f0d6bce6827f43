// A thread's entry when tsx runs the sources (see thread.ts): register tsx, then load the module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.threadModule);
