/** Enrollment notice inputs for tests: a User Enrollment request on iOS by email, with a passcode. */
import type { EnrollmentNoticeInputs } from '../../src/notify/enrollment-notice.js';

export const NOTICE_URL = 'https://mdm.example.com/enroll/9fQm2kP7xR4tY8wZ1aB3cD5eF6gH0jK';

export function notice(over: Partial<EnrollmentNoticeInputs> = {}): EnrollmentNoticeInputs {
  return {
    requestId: '0191f2a4-8b7c-7d2e-9f10-1a2b3c4d5e6f',
    channel: 'email',
    to: 'jane.doe@corp.example',
    accountName: 'Example Corp',
    username: 'jdoe',
    fullName: 'Jane Doe',
    url: NOTICE_URL,
    passcode: 'K7QM4XPT',
    platform: 'ios',
    userEnrollment: true,
    managedAppleId: 'jane.doe@appleid.example.com',
    authMode: 'passcode',
    seamless: false,
    expiresAt: '2031-01-08T14:00:00.000Z',
    resend: false,
    ...over,
  };
}
