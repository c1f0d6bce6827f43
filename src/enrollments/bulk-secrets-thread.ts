/** The thread of `offThreadSecrets`: does each piece of secrets work it is sent and answers with its id. */
import { parentPort, workerData } from 'node:worker_threads';
import { doSecretsWork, type SecretsWork } from './bulk-secrets.js';

const secretKey = Buffer.from((workerData as { secretKeyHex: string }).secretKeyHex, 'hex');
parentPort!.on('message', ({ id, work }: { id: number; work: SecretsWork }) => {
  parentPort!.postMessage({ id, done: doSecretsWork(secretKey, work) });
});
