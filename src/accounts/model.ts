/** The account (tenant) and its admins, in domain words. */

export const DEPLOYMENT_MODES = ['mdm', 'sps', 'mixed'] as const;
export const REQUEST_MODES = ['enrollment', 'activation'] as const;
export const AUTH_MODES = ['passcode', 'local'] as const;
export const ROLES = ['owner', 'admin', 'helpdesk', 'auditor'] as const;

export type DeploymentMode = (typeof DEPLOYMENT_MODES)[number];
export type RequestMode = (typeof REQUEST_MODES)[number];
export type AuthMode = (typeof AUTH_MODES)[number];
export type Role = (typeof ROLES)[number];

export interface Account {
  id: string;
  key: string;
  name: string;
  deploymentMode: DeploymentMode;
  defaultRequestMode: RequestMode;
  defaultDomain: string;
  managedAppleIdDomains: string[];
  defaultAuthMode: AuthMode;
  seamlessEnrollment: boolean;
  requestExpiryHours: number;
  passcodeLength: number;
  useEmailAsManagedAppleId: boolean;
  requireGenuineAppleDevices: boolean;
  createdAt: string;
  updatedAt: string;
}

/** The fields an owner may change. */
export type AccountSettings = Omit<Account, 'id' | 'key' | 'createdAt' | 'updatedAt'>;

export const ACCOUNT_LIMITS = {
  nameMax: 200,
  requestExpiryHours: { min: 1, max: 8760 },
  passcodeLength: { min: 6, max: 16 },
  managedAppleIdDomainsMax: 50,
} as const;

/** DESIGN.md's defaults for a new account. */
export function defaultSettings(name: string, defaultDomain: string): AccountSettings {
  return {
    name,
    deploymentMode: 'mdm',
    defaultRequestMode: 'enrollment',
    defaultDomain,
    managedAppleIdDomains: [],
    defaultAuthMode: 'passcode',
    seamlessEnrollment: false,
    requestExpiryHours: 168,
    passcodeLength: 8,
    useEmailAsManagedAppleId: false,
    requireGenuineAppleDevices: false,
  };
}

export interface Admin {
  id: string;
  accountId: string;
  email: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastSignInAt: string | null;
}

export const PASSWORD_LIMITS = { min: 10, max: 200 } as const;
export const EMAIL_MAX = 254;

export interface ApiToken {
  id: string;
  accountId: string;
  adminId: string;
  adminEmail: string;
  role: Role;
  name: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

/** The domain of an email address, lower-cased (the part after the last @). */
export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).trim().toLowerCase();
}
