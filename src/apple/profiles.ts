/**
 * Enrolment profiles: typed payload objects (named as Apple names them in
 * apple/device-management `mdm/profiles/*.yaml`) → XML plist → CMS SignedData with the plist
 * attached, served as `application/x-apple-aspen-config`.
 */
import { randomUUID } from 'node:crypto';
import type { Identity } from './ca.js';
import { signAttached } from './cms.js';
import { toPlist } from './plist.js';

export const PROFILE_CONTENT_TYPE = 'application/x-apple-aspen-config';

/** `ServerCapabilities` values, Apple's rangelist only (com.apple.mdm.yaml). */
export const SERVER_CAPABILITIES = ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken', 'com.apple.mdm.token'] as const;
export type ServerCapability = (typeof SERVER_CAPABILITIES)[number];

/** Every AccessRights bit: what device (not User) enrolment asks for. */
export const ACCESS_RIGHTS_ALL = 8191;

/** A SCEP subject as Apple writes it: one RDN per entry, e.g. [['O', 'Example'], ['CN', 'Pippin request …']]. */
export type ScepSubject = Array<[type: string, value: string]>;

interface CommonPayload {
  PayloadType: string;
  PayloadVersion: 1;
  PayloadIdentifier: string;
  PayloadUUID: string;
  PayloadDisplayName?: string;
  PayloadDescription?: string;
  PayloadOrganization?: string;
}

/** `com.apple.security.scep` (com.apple.security.scep.yaml). */
export interface ScepPayload extends CommonPayload {
  PayloadType: 'com.apple.security.scep';
  PayloadContent: {
    URL: string;
    Name?: string;
    Subject?: Array<Array<[string, string]>>;
    Challenge?: string;
    Keysize: 1024 | 2048 | 4096;
    'Key Type': 'RSA';
    /** 1 signing, 4 encryption, 5 both. */
    'Key Usage': 1 | 4 | 5;
  };
}

/** `com.apple.mdm` (com.apple.mdm.yaml). */
export interface MdmPayload extends CommonPayload {
  PayloadType: 'com.apple.mdm';
  IdentityCertificateUUID: string;
  Topic: string;
  ServerURL: string;
  CheckInURL?: string;
  SignMessage?: boolean;
  CheckOutWhenRemoved?: boolean;
  ServerCapabilities?: ServerCapability[];
  AccessRights?: number;
  ManagedAppleID?: string;
  AssignedManagedAppleID?: string;
  EnrollmentMode?: 'BYOD' | 'ADDE';
}

/** The top level of a configuration profile (TopLevel.yaml). */
export interface ConfigurationProfile extends CommonPayload {
  PayloadType: 'Configuration';
  /** 1: iPhone/iPad (skips the target prompt on iOS). */
  TargetDeviceType?: number;
  PayloadContent: Array<ScepPayload | MdmPayload>;
}

export interface EnrollmentProfileInput {
  /** PIPPIN_PUBLIC_URL: ServerURL is `<public>/mdm/connect`, CheckInURL `<public>/mdm/checkin`. */
  serverUrl: string;
  /** The APNs topic (com.apple.mgmt.External.<uuid>). */
  topic: string;
  scep: {
    /** `<public>/mdm/scep`. */
    url: string;
    /** The request's single-use challenge. */
    challenge: string;
    subject: ScepSubject;
    /** The identity's name in the keychain. */
    name?: string;
  };
  /** Device enrolment: ACCESS_RIGHTS_ALL. Left out of the payload when absent (User Enrollment). */
  accessRights?: number;
  /** Profile-based User Enrollment (iOS 13.1–17). */
  managedAppleId?: string;
  /** Account-driven enrolment. */
  assignedManagedAppleId?: string;
  enrollmentMode?: 'BYOD' | 'ADDE';
  organisation: string;
  /** Reverse-DNS identifier of the profile, e.g. `com.example.pippin.enroll`; payload identifiers extend it. */
  identifier: string;
  displayName?: string;
  description?: string;
  /** By default all three of Apple's. `per-user-connections` can never be added or removed later. */
  serverCapabilities?: ServerCapability[];
  /** Payload UUIDs (random when absent); fixed ones make a re-issued profile replace the installed one in place. */
  uuids?: { profile?: string; scep?: string; mdm?: string };
}

function validate(input: EnrollmentProfileInput): void {
  if (!input.topic.startsWith('com.apple.mgmt.')) throw new Error(`The APNs topic must start with com.apple.mgmt. (got ${input.topic})`);
  if (input.accessRights !== undefined && (!Number.isInteger(input.accessRights) || input.accessRights < 1 || input.accessRights > ACCESS_RIGHTS_ALL)) {
    throw new Error('AccessRights must be an integer between 1 and 8191');
  }
  for (const c of input.serverCapabilities ?? []) if (!SERVER_CAPABILITIES.includes(c)) throw new Error(`Unknown server capability ${c}`);
}

/** The enrolment profile as typed payloads: a SCEP identity and the MDM payload that uses it. */
export function buildEnrollmentProfile(input: EnrollmentProfileInput): ConfigurationProfile {
  validate(input);
  const base = input.serverUrl.replace(/\/+$/, '');
  const scepUuid = input.uuids?.scep ?? randomUUID().toUpperCase();
  const mdmUuid = input.uuids?.mdm ?? randomUUID().toUpperCase();
  const scep: ScepPayload = {
    PayloadType: 'com.apple.security.scep',
    PayloadVersion: 1,
    PayloadIdentifier: `${input.identifier}.scep`,
    PayloadUUID: scepUuid,
    PayloadDisplayName: 'Device identity',
    PayloadOrganization: input.organisation,
    PayloadContent: {
      URL: input.scep.url,
      Name: input.scep.name,
      Subject: input.scep.subject.map(([k, v]) => [[k, v]]),
      Challenge: input.scep.challenge,
      Keysize: 2048,
      'Key Type': 'RSA',
      'Key Usage': 5,
    },
  };
  const mdm: MdmPayload = {
    PayloadType: 'com.apple.mdm',
    PayloadVersion: 1,
    PayloadIdentifier: `${input.identifier}.mdm`,
    PayloadUUID: mdmUuid,
    PayloadDisplayName: 'Device management',
    PayloadOrganization: input.organisation,
    IdentityCertificateUUID: scepUuid,
    Topic: input.topic,
    ServerURL: `${base}/mdm/connect`,
    CheckInURL: `${base}/mdm/checkin`,
    SignMessage: true,
    CheckOutWhenRemoved: true,
    ServerCapabilities: input.serverCapabilities ?? [...SERVER_CAPABILITIES],
    AccessRights: input.accessRights,
    ManagedAppleID: input.managedAppleId,
    AssignedManagedAppleID: input.assignedManagedAppleId,
    EnrollmentMode: input.enrollmentMode,
  };
  return {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: input.identifier,
    PayloadUUID: input.uuids?.profile ?? randomUUID().toUpperCase(),
    PayloadDisplayName: input.displayName ?? `${input.organisation} device management`,
    PayloadDescription: input.description,
    PayloadOrganization: input.organisation,
    PayloadContent: [scep, mdm],
  };
}

/** The profile as an XML plist (what a device installs once the signature is checked). */
export function profilePlist(profile: ConfigurationProfile): Buffer {
  return toPlist(profile as unknown as Parameters<typeof toPlist>[0]);
}

/** The profile signed: DER CMS SignedData with the plist attached. */
export function signProfile(profile: ConfigurationProfile, signer: Identity): Buffer {
  return signAttached(profilePlist(profile), signer);
}
