import type { Page, PageRequest } from '../core/paging.js';
import type { Device, DeviceListQuery, DeviceStatus } from './model.js';

/** A device row as check-ins need it (beyond the public shape). */
export interface DeviceRecord extends Device {
  accountId: string;
  certHash: string | null;
  topic: string | null;
  /** Account-driven enrolment: the hash of the access token every check-in must carry. */
  accessTokenHash: string | null;
  pushToken: string | null;
  pushMagic: string | null;
}

/** What Authenticate records of a new device (it is `authenticated` until its first TokenUpdate). */
export type NewDevice = Pick<Device, 'id' | 'userId' | 'platform' | 'enrollmentType' | 'enrollmentMethod' | 'enrollmentId' | 'udid' | 'serialNumber' | 'osVersion' | 'productName'> & {
  requestId: string;
  certHash: string;
  topic: string | null;
  accessTokenHash: string | null;
  authenticatePlist: string;
  at: string;
};

/** Devices of the bound account. */
export interface DeviceStore {
  get(id: string): Promise<DeviceRecord | null>;
  /** The account's device bound to this identity certificate hash, or null. */
  byCertHash(certHash: string): Promise<DeviceRecord | null>;
  list(query: DeviceListQuery, page: PageRequest): Promise<Page<Device>>;
  /** How many devices of the user are enrolled. */
  countEnrolled(userId: string): Promise<number>;
  insert(device: NewDevice): Promise<void>;
  /** A repeated Authenticate (the device enrolled again with the same identity): new details, status authenticated. */
  reauthenticate(id: string, d: Omit<NewDevice, 'id' | 'userId' | 'requestId' | 'certHash' | 'accessTokenHash'>): Promise<void>;
  /** Records a TokenUpdate: the push token and magic, the raw plist; `enrol` (the first one) makes the device enrolled. One statement. */
  tokenUpdate(id: string, u: { token: string | null; pushMagic: string | null; topic: string | null; plist: string; at: string; enrol: boolean }): Promise<void>;
  setStatus(id: string, status: DeviceStatus, at: string): Promise<void>;
  touch(id: string, at: string): Promise<void>;
}

/** Cross-account lookup of a check-in's device (system path "check-in resolution by certificate"). */
export interface DeviceResolver {
  /** The device bound to this identity certificate hash, or null. */
  byCertHash(certHash: string): Promise<DeviceRecord | null>;
  /** The account and request an identity certificate was issued for (through its SCEP challenge), and the access token of an account-driven enrolment, or null. */
  issuedFor(certHash: string): Promise<{ accountId: string; requestId: string; accessTokenHash: string | null } | null>;
}
