/**
 * The profile an enrollment request's device installs: a SCEP identity with the request's
 * single-use challenge and the MDM payload on the account's push topic, signed by the profile
 * signer. Device enrolment gets every access right; profile-based User Enrollment (iOS 13.1–17)
 * names the user's Managed Apple ID (ManagedAppleID) and gets none; account-driven User Enrollment
 * (iOS 15+) assigns it (AssignedManagedAppleID, EnrollmentMode BYOD) and gets none. No push topic (no certificate, test topics not
 * allowed) means no profile.
 */
import type { Account } from '../accounts/model.js';
import type { ProfileMaker } from '../enrollments/portal.js';
import type { EnrollmentRequest } from '../enrollments/model.js';
import type { Pki } from './ca.js';
import { ACCESS_RIGHTS_ALL, buildEnrollmentProfile, signProfile } from './profiles.js';

export function enrollmentProfiles(deps: { pki: Pki; publicUrl: string; pushTopic: (accountId: string) => Promise<{ topic: string } | null> }): ProfileMaker {
  const base = deps.publicUrl.replace(/\/+$/, '');
  const host = new URL(base).hostname.split('.').reverse().join('.') || 'localhost';
  return {
    async available(accountId) {
      return (await deps.pushTopic(accountId)) !== null;
    },
    async make(account: Account, request: EnrollmentRequest, challenge: string, opts: { accountDriven?: boolean } = {}) {
      const push = await deps.pushTopic(account.id);
      if (!push) throw new Error('No push topic for this account');
      const profile = buildEnrollmentProfile({
        serverUrl: base,
        topic: push.topic,
        scep: { url: `${base}/mdm/scep`, challenge, subject: [['O', account.name], ['CN', `Pippin device ${request.id}`]], name: `${account.name} device identity` },
        ...(opts.accountDriven
          ? { assignedManagedAppleId: request.managedAppleId ?? undefined, enrollmentMode: 'BYOD' as const }
          : request.userEnrollment
            ? { managedAppleId: request.managedAppleId ?? undefined }
            : { accessRights: ACCESS_RIGHTS_ALL }),
        organisation: account.name,
        identifier: `${host}.pippin.${account.key}.enroll`,
        displayName: `${account.name} device management`,
        description: request.userEnrollment
          ? `Enrols this device with User Enrollment for ${request.managedAppleId ?? request.username}.`
          : `Lets ${account.name} manage this ${request.platform === 'macos' ? 'Mac' : 'device'}.`,
      });
      return signProfile(profile, await deps.pki.profileSigner());
    },
  };
}
