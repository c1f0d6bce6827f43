/**
 * DESIGN.md's "Request mode" and "User Enrollment rules", as pure functions shared by the console,
 * the API and Bulk Add rows. One predicate per rule (true = the rule holds); the evaluators report
 * every broken rule, in rule order, so overlapping rules fire together.
 */
import type { Account, AuthMode, RequestMode } from '../accounts/model.js';
import { COLUMNS, OWNERSHIP_LABELS, PLATFORM_LABELS, REQUEST_MODE_LABELS, AUTH_MODE_LABELS, isSupportedPlatform, type NamedPlatform, type Ownership } from './model.js';

/** The account settings the rules read; an `Account` will do. */
export type AccountFacts = Pick<Account, 'deploymentMode' | 'defaultRequestMode' | 'defaultAuthMode' | 'seamlessEnrollment'>;

/** What a request asks for. `undefined` means the value was not given (a blank cell, an absent field). */
export interface RequestFacts {
  platform: NamedPlatform;
  ownership: Ownership;
  userEnrollment: boolean;
  requestMode?: RequestMode | undefined;
  comments?: string | undefined;
  authMode?: AuthMode | undefined;
  seamless?: boolean | undefined;
}

/** The user the request names, as the directory holds them; `null` when there is no such user. */
export type UserFacts = { managedAppleId: string | null } | null;

export interface EnrollmentFacts {
  account: AccountFacts;
  request: RequestFacts;
  user: UserFacts;
}

export const UE_RULE_CODES = [
  'UE_IOS_ONLY',
  'UE_NOT_FOR_SPS',
  'UE_NOT_FOR_ACTIVATION',
  'UE_NOT_WITH_SEAMLESS',
  'UE_REQUIRES_EMPLOYEE_OWNED',
  'UE_REQUIRES_USER',
  'UE_REQUIRES_MANAGED_APPLE_ID',
  'UE_MIXED_MODE_REQUIRES_ENROLLMENT',
  'UE_NOT_WITH_AUTH_OVERRIDE',
] as const;
export type UeRuleCode = (typeof UE_RULE_CODES)[number];
export type RequestIssueCode = UeRuleCode | 'PLATFORM_NOT_SUPPORTED' | 'REQUEST_MODE_NOT_AVAILABLE';

/** A broken rule: its code, a sentence for people (no column prefix), and the file column it is about. */
export interface RuleIssue<C extends string = RequestIssueCode> {
  code: C;
  message: string;
  column: string;
}

// ── Resolving what the request leaves to the account ────────────────────────────────────────────

/**
 * The request's mode: `enrollment` in an mdm account and `activation` in an sps one, whatever the
 * request says; in a mixed account the mode given, else `enrollment` when the comment starts with
 * `MDM` (leading white space ignored, case as written), else the account's default.
 */
export function requestModeOf(account: AccountFacts, request: Pick<RequestFacts, 'requestMode' | 'comments'>): RequestMode {
  if (account.deploymentMode === 'mdm') return 'enrollment';
  if (account.deploymentMode === 'sps') return 'activation';
  if (request.requestMode) return request.requestMode;
  if (request.comments?.trimStart().startsWith('MDM')) return 'enrollment';
  return account.defaultRequestMode;
}

/**
 * The request's mode, or REQUEST_MODE_NOT_AVAILABLE when it names a mode the account's deployment
 * mode forbids (Activation in an mdm account, Enrollment in an sps one).
 */
export function resolveRequestMode(
  account: AccountFacts,
  request: Pick<RequestFacts, 'requestMode' | 'comments'>,
): { ok: true; mode: RequestMode } | { ok: false; issue: RuleIssue<'REQUEST_MODE_NOT_AVAILABLE'> } {
  const mode = requestModeOf(account, request);
  if (request.requestMode && request.requestMode !== mode) {
    const kind = account.deploymentMode === 'sps' ? 'an SPS' : 'an MDM';
    return {
      ok: false,
      issue: {
        code: 'REQUEST_MODE_NOT_AVAILABLE',
        column: COLUMNS.requestMode,
        message: `Request Mode ${REQUEST_MODE_LABELS[request.requestMode]} is not available in ${kind} account (only ${REQUEST_MODE_LABELS[mode]})`,
      },
    };
  }
  return { ok: true, mode };
}

/** Seamless as given, else the account's setting. */
export function seamlessOf(account: AccountFacts, request: Pick<RequestFacts, 'seamless'>): boolean {
  return request.seamless ?? account.seamlessEnrollment;
}

/** The authentication mode as given, else the account's default. */
export function authModeOf(account: AccountFacts, request: Pick<RequestFacts, 'authMode'>): AuthMode {
  return request.authMode ?? account.defaultAuthMode;
}

/** An authentication mode was given and differs from the account default. Giving the default is no override. */
export function authModeOverridden(account: AccountFacts, request: Pick<RequestFacts, 'authMode'>): boolean {
  return request.authMode !== undefined && request.authMode !== account.defaultAuthMode;
}

// ── The nine rules: each true when it holds ─────────────────────────────────────────────────────

/** 1. The platform is iOS (iPhone, iPad). */
export const platformIsIos = (f: EnrollmentFacts) => f.request.platform === 'ios';
/** 2. The account is not an SPS account. */
export const accountIsNotSps = (f: EnrollmentFacts) => f.account.deploymentMode !== 'sps';
/** 3. The request is not a device activation. */
export const requestIsNotActivation = (f: EnrollmentFacts) => requestModeOf(f.account, f.request) !== 'activation';
/** 4. The request is not seamless (as given, else by the account's setting). */
export const requestIsNotSeamless = (f: EnrollmentFacts) => !seamlessOf(f.account, f.request);
/** 5. The ownership is Employee Owned. */
export const ownershipIsEmployeeOwned = (f: EnrollmentFacts) => f.request.ownership === 'employee_owned';
/** 6. The request names a user that exists in the directory. */
export const userExists = (f: EnrollmentFacts) => f.user !== null;
/** 7. That user has a linked Managed Apple ID. Holds trivially when there is no user: rule 6 reports that. */
export const userHasManagedAppleId = (f: EnrollmentFacts) => f.user === null || !!f.user.managedAppleId;
/** 8. In a mixed account, the resolved request mode is Enrollment. */
export const mixedModeIsEnrollment = (f: EnrollmentFacts) =>
  f.account.deploymentMode !== 'mixed' || requestModeOf(f.account, f.request) === 'enrollment';
/** 9. The request does not override the account's authentication mode. */
export const authModeNotOverridden = (f: EnrollmentFacts) => !authModeOverridden(f.account, f.request);

export interface UeRule {
  number: number;
  code: UeRuleCode;
  holds: (f: EnrollmentFacts) => boolean;
  /** Why the rule is broken, in words; called only when it is. */
  explain: (f: EnrollmentFacts) => string;
  column: string;
}

/** DESIGN.md's table, in its order. */
export const UE_RULES: readonly UeRule[] = [
  {
    number: 1,
    code: 'UE_IOS_ONLY',
    holds: platformIsIos,
    column: COLUMNS.platform,
    explain: (f) => `User Enrollment is for iOS devices (iPhone, iPad) only; this request is for ${PLATFORM_LABELS[f.request.platform]}`,
  },
  {
    number: 2,
    code: 'UE_NOT_FOR_SPS',
    holds: accountIsNotSps,
    column: COLUMNS.userEnrollment,
    explain: () => 'User Enrollment is not available in an SPS account',
  },
  {
    number: 3,
    code: 'UE_NOT_FOR_ACTIVATION',
    holds: requestIsNotActivation,
    column: COLUMNS.requestMode,
    explain: () => 'User Enrollment cannot be used for a device activation (Request Mode Activation)',
  },
  {
    number: 4,
    code: 'UE_NOT_WITH_SEAMLESS',
    holds: requestIsNotSeamless,
    column: COLUMNS.seamless,
    explain: (f) =>
      `User Enrollment cannot be used with seamless enrollment${f.request.seamless === undefined ? " (the account's default; set Seamless Enrollment to No)" : ''}`,
  },
  {
    number: 5,
    code: 'UE_REQUIRES_EMPLOYEE_OWNED',
    holds: ownershipIsEmployeeOwned,
    column: COLUMNS.ownership,
    explain: (f) => `User Enrollment requires Ownership Employee Owned; this request is ${OWNERSHIP_LABELS[f.request.ownership]}`,
  },
  {
    number: 6,
    code: 'UE_REQUIRES_USER',
    holds: userExists,
    column: COLUMNS.username,
    explain: () => 'User Enrollment requires a user that exists in the directory',
  },
  {
    number: 7,
    code: 'UE_REQUIRES_MANAGED_APPLE_ID',
    holds: userHasManagedAppleId,
    column: COLUMNS.username,
    explain: () => 'User Enrollment requires the user to have a linked Managed Apple ID',
  },
  {
    number: 8,
    code: 'UE_MIXED_MODE_REQUIRES_ENROLLMENT',
    holds: mixedModeIsEnrollment,
    column: COLUMNS.requestMode,
    explain: (f) =>
      `In a mixed-mode account User Enrollment requires Request Mode Enrollment; this request is an Activation${f.request.requestMode ? '' : " (the account's default request mode)"}`,
  },
  {
    number: 9,
    code: 'UE_NOT_WITH_AUTH_OVERRIDE',
    holds: authModeNotOverridden,
    column: COLUMNS.authMode,
    explain: (f) =>
      `User Enrollment cannot be used with an overridden authentication mode: ${AUTH_MODE_LABELS[authModeOf(f.account, f.request)]} differs from the account's default ${AUTH_MODE_LABELS[f.account.defaultAuthMode]}`,
  },
];

/** Every User Enrollment rule the facts break, in rule order (whether or not the request asks for User Enrollment). */
export function userEnrollmentIssues(f: EnrollmentFacts): RuleIssue<UeRuleCode>[] {
  return UE_RULES.filter((r) => !r.holds(f)).map((r) => ({ code: r.code, message: r.explain(f), column: r.column }));
}

/**
 * Every code that applies to a request, UE or not: PLATFORM_NOT_SUPPORTED (Android, Windows),
 * REQUEST_MODE_NOT_AVAILABLE, then — when it asks for User Enrollment — each broken UE rule.
 * Empty when the request may be created.
 */
export function requestIssues(f: EnrollmentFacts): RuleIssue[] {
  const issues: RuleIssue[] = [];
  if (!isSupportedPlatform(f.request.platform)) {
    issues.push({
      code: 'PLATFORM_NOT_SUPPORTED',
      column: COLUMNS.platform,
      message: `${PLATFORM_LABELS[f.request.platform]} devices cannot be enrolled yet (iOS and macOS only)`,
    });
  }
  const mode = resolveRequestMode(f.account, f.request);
  if (!mode.ok) issues.push(mode.issue);
  if (f.request.userEnrollment) issues.push(...userEnrollmentIssues(f));
  return issues;
}
