/** Enrolled devices, in domain words (DESIGN.md "Resource shapes": device). */
import type { Platform } from '../enrollments/model.js';

export const ENROLLMENT_TYPES = ['user', 'device'] as const;
export type EnrollmentType = (typeof ENROLLMENT_TYPES)[number];
export const ENROLLMENT_METHODS = ['account_driven', 'profile'] as const;
export type EnrollmentMethod = (typeof ENROLLMENT_METHODS)[number];
/**
 * `authenticated`: the device sent Authenticate but no TokenUpdate yet (not listed as enrolled);
 * `enrolled` after the first TokenUpdate; `checked_out` when the device removed its MDM profile.
 */
export const DEVICE_STATUSES = ['authenticated', 'enrolled', 'checked_out'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

export interface Device {
  id: string;
  userId: string | null;
  username: string | null;
  requestId: string | null;
  platform: Platform;
  enrollmentType: EnrollmentType;
  enrollmentMethod: EnrollmentMethod;
  /** User Enrollment: the device's EnrollmentID; never a UDID or serial number. */
  enrollmentId: string | null;
  udid: string | null;
  serialNumber: string | null;
  osVersion: string;
  productName: string;
  status: DeviceStatus;
  enrolledAt: string | null;
  lastSeenAt: string | null;
  createdAt: string;
}

export interface DeviceListQuery {
  userId?: string;
  status?: DeviceStatus;
  platform?: Platform;
}

/** What a check-in message says about the device (the plist's keys, as read). */
export interface CheckinMessage {
  messageType: 'Authenticate' | 'TokenUpdate' | 'CheckOut' | string;
  topic?: string;
  udid?: string;
  enrollmentId?: string;
  serialNumber?: string;
  osVersion?: string;
  productName?: string;
  /** TokenUpdate: the APNs token (base64 of the data), PushMagic. */
  token?: string;
  pushMagic?: string;
}

/** Reads the check-in keys Pippin uses from a parsed plist dict; anything unexpected is left out. */
export function readCheckin(dict: Record<string, unknown>): CheckinMessage | null {
  const str = (k: string) => (typeof dict[k] === 'string' ? (dict[k] as string) : undefined);
  const type = str('MessageType');
  if (!type) return null;
  const token = dict.Token;
  return {
    messageType: type,
    topic: str('Topic'),
    udid: str('UDID'),
    enrollmentId: str('EnrollmentID'),
    serialNumber: str('SerialNumber'),
    osVersion: str('OSVersion'),
    productName: str('ProductName'),
    token: Buffer.isBuffer(token) ? token.toString('base64') : typeof token === 'string' ? token : undefined,
    pushMagic: str('PushMagic'),
  };
}
