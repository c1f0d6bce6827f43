import { createHash } from 'node:crypto';
import { PUSH_TOPIC_PREFIX } from './model.js';

/**
 * The test topic of an account (PIPPIN_ALLOW_TEST_TOPIC): `com.apple.mgmt.External.<uuid>` like a
 * real one, derived from the account id so every node and every restart agrees without storing it.
 */
export function testTopicFor(accountId: string): string {
  const h = createHash('sha256').update('pippin test push topic\0').update(accountId).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${PUSH_TOPIC_PREFIX}External.${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
