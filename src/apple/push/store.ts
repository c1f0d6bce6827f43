import type { PushCertificate } from './model.js';

/** A certificate as stored: the public part and its private key sealed under the secret key. */
export interface StoredPushCertificate extends PushCertificate {
  keySealed: string;
}

/** The push certificate of the bound account (one at most). */
export interface PushCertificateStore {
  /** The account's certificate, or null when none was uploaded. */
  get(): Promise<StoredPushCertificate | null>;
  /** Stores the account's certificate, replacing the one before (a renewal). */
  put(cert: StoredPushCertificate): Promise<void>;
  /** How many of the account's devices are enrolled (status 'enrolled'): they hold the current topic. */
  countEnrolledDevices(): Promise<number>;
}
