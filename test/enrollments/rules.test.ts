import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUTH_MODES, COLUMNS, DEPLOYMENT_MODES, NAMED_PLATFORMS, OWNERSHIPS, REQUEST_MODES } from '../../src/enrollments/model.js';
import {
  UE_RULES,
  UE_RULE_CODES,
  accountIsNotSps,
  authModeNotOverridden,
  authModeOf,
  authModeOverridden,
  mixedModeIsEnrollment,
  ownershipIsEmployeeOwned,
  platformIsIos,
  requestIsNotActivation,
  requestIsNotSeamless,
  requestIssues,
  requestModeOf,
  resolveRequestMode,
  seamlessOf,
  userEnrollmentIssues,
  userExists,
  userHasManagedAppleId,
  type AccountFacts,
  type EnrollmentFacts,
  type RequestFacts,
  type UeRuleCode,
  type UserFacts,
} from '../../src/enrollments/rules.js';

/** A User Enrollment request that breaks no rule: an mdm account with DESIGN.md's defaults, an iPhone, BYOD, a user with a MAID. */
const MDM_ACCOUNT: AccountFacts = { deploymentMode: 'mdm', defaultRequestMode: 'enrollment', defaultAuthMode: 'passcode', seamlessEnrollment: false };
const UE_REQUEST: RequestFacts = { platform: 'ios', ownership: 'employee_owned', userEnrollment: true };
const MAID_USER: UserFacts = { managedAppleId: 'jane@appleid.example.com' };

function facts(change: { account?: Partial<AccountFacts>; request?: Partial<RequestFacts>; user?: UserFacts } = {}): EnrollmentFacts {
  return {
    account: { ...MDM_ACCOUNT, ...change.account },
    request: { ...UE_REQUEST, ...change.request },
    user: change.user === undefined ? MAID_USER : change.user,
  };
}
const codes = (f: EnrollmentFacts) => userEnrollmentIssues(f).map((i) => i.code);
const allCodes = (f: EnrollmentFacts) => requestIssues(f).map((i) => i.code);

/** Each rule's predicate, by its code, as exported one by one. */
const PREDICATES: [UeRuleCode, (f: EnrollmentFacts) => boolean][] = [
  ['UE_IOS_ONLY', platformIsIos],
  ['UE_NOT_FOR_SPS', accountIsNotSps],
  ['UE_NOT_FOR_ACTIVATION', requestIsNotActivation],
  ['UE_NOT_WITH_SEAMLESS', requestIsNotSeamless],
  ['UE_REQUIRES_EMPLOYEE_OWNED', ownershipIsEmployeeOwned],
  ['UE_REQUIRES_USER', userExists],
  ['UE_REQUIRES_MANAGED_APPLE_ID', userHasManagedAppleId],
  ['UE_MIXED_MODE_REQUIRES_ENROLLMENT', mixedModeIsEnrollment],
  ['UE_NOT_WITH_AUTH_OVERRIDE', authModeNotOverridden],
];
const failingPredicates = (f: EnrollmentFacts) => PREDICATES.filter(([, holds]) => !holds(f)).map(([code]) => code);

describe('the User Enrollment rules', () => {
  it('pass a request that meets them all', () => {
    expect(userEnrollmentIssues(facts())).toEqual([]);
    expect(requestIssues(facts())).toEqual([]);
  });

  it('are DESIGN.md’s table, numbered and in order', () => {
    expect(UE_RULES.map((r) => [r.number, r.code])).toEqual(UE_RULE_CODES.map((c, i) => [i + 1, c]));
  });

  // Each rule alone. Rules 2, 3 and 8 cannot break alone (DESIGN.md: an SPS account breaks 2 and 3;
  // an activation in a mixed account breaks 3 and 8), so their rows list the overlap.
  it.each<[string, Parameters<typeof facts>[0], UeRuleCode[]]>([
    ['1 macOS', { request: { platform: 'macos' } }, ['UE_IOS_ONLY']],
    ['2+3 SPS account', { account: { deploymentMode: 'sps' } }, ['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']],
    ['3+8 mixed, Activation', { account: { deploymentMode: 'mixed' }, request: { requestMode: 'activation' } }, ['UE_NOT_FOR_ACTIVATION', 'UE_MIXED_MODE_REQUIRES_ENROLLMENT']],
    ['4 seamless asked', { request: { seamless: true } }, ['UE_NOT_WITH_SEAMLESS']],
    ['4 seamless by the account default', { account: { seamlessEnrollment: true } }, ['UE_NOT_WITH_SEAMLESS']],
    ['5 Corporate Owned', { request: { ownership: 'corporate_owned' } }, ['UE_REQUIRES_EMPLOYEE_OWNED']],
    ['5 Corporate Shared', { request: { ownership: 'corporate_shared' } }, ['UE_REQUIRES_EMPLOYEE_OWNED']],
    ['6 unknown user', { user: null }, ['UE_REQUIRES_USER']],
    ['7 user without a MAID', { user: { managedAppleId: null } }, ['UE_REQUIRES_MANAGED_APPLE_ID']],
    ['9 Local over the default Passcode', { request: { authMode: 'local' } }, ['UE_NOT_WITH_AUTH_OVERRIDE']],
    ['9 Passcode over the default Local', { account: { defaultAuthMode: 'local' }, request: { authMode: 'passcode' } }, ['UE_NOT_WITH_AUTH_OVERRIDE']],
  ])('rule %s breaks exactly that', (_name, change, expected) => {
    const f = facts(change);
    expect(codes(f)).toEqual(expected);
    expect(failingPredicates(f)).toEqual(expected);
  });

  it('each single-rule function is broken by its own case and holds for the passing request', () => {
    for (const [, holds] of PREDICATES) expect(holds(facts())).toBe(true);
    expect(platformIsIos(facts({ request: { platform: 'android' } }))).toBe(false);
    expect(accountIsNotSps(facts({ account: { deploymentMode: 'sps' } }))).toBe(false);
    expect(accountIsNotSps(facts({ account: { deploymentMode: 'mixed' } }))).toBe(true);
    expect(requestIsNotActivation(facts({ account: { deploymentMode: 'mixed', defaultRequestMode: 'activation' } }))).toBe(false);
    expect(requestIsNotSeamless(facts({ request: { seamless: true } }))).toBe(false);
    expect(ownershipIsEmployeeOwned(facts({ request: { ownership: 'corporate_owned' } }))).toBe(false);
    expect(userExists(facts({ user: null }))).toBe(false);
    expect(userHasManagedAppleId(facts({ user: { managedAppleId: null } }))).toBe(false);
    expect(mixedModeIsEnrollment(facts({ account: { deploymentMode: 'mixed' }, request: { requestMode: 'activation' } }))).toBe(false);
    expect(mixedModeIsEnrollment(facts({ account: { deploymentMode: 'sps' } }))).toBe(true); // rule 8 is for mixed accounts only
    expect(authModeNotOverridden(facts({ request: { authMode: 'local' } }))).toBe(false);
  });

  it('rule 4: an explicit No overrides an account that enrols seamlessly; an explicit Yes breaks it in any account', () => {
    expect(codes(facts({ account: { seamlessEnrollment: true }, request: { seamless: false } }))).toEqual([]);
    expect(codes(facts({ account: { seamlessEnrollment: false }, request: { seamless: true } }))).toEqual(['UE_NOT_WITH_SEAMLESS']);
    expect(seamlessOf(MDM_ACCOUNT, {})).toBe(false);
    expect(seamlessOf({ ...MDM_ACCOUNT, seamlessEnrollment: true }, {})).toBe(true);
  });

  it('rule 9: naming the account default is no override', () => {
    expect(codes(facts({ request: { authMode: 'passcode' } }))).toEqual([]);
    expect(codes(facts({ account: { defaultAuthMode: 'local' }, request: { authMode: 'local' } }))).toEqual([]);
    expect(codes(facts({ account: { defaultAuthMode: 'local' } }))).toEqual([]);
    expect(authModeOverridden(MDM_ACCOUNT, {})).toBe(false);
    expect(authModeOverridden(MDM_ACCOUNT, { authMode: 'local' })).toBe(true);
    expect(authModeOf(MDM_ACCOUNT, {})).toBe('passcode');
    expect(authModeOf(MDM_ACCOUNT, { authMode: 'local' })).toBe('local');
  });

  it('rule 7 treats an empty MAID as none, and does not repeat rule 6 for a missing user', () => {
    expect(codes(facts({ user: { managedAppleId: '' } }))).toEqual(['UE_REQUIRES_MANAGED_APPLE_ID']);
    expect(codes(facts({ user: null }))).not.toContain('UE_REQUIRES_MANAGED_APPLE_ID');
  });

  it('report every broken rule at once, in rule order, each in words with its column', () => {
    const f = facts({
      account: { deploymentMode: 'mixed', defaultRequestMode: 'activation', seamlessEnrollment: true },
      request: { platform: 'android', ownership: 'corporate_shared', authMode: 'local' },
      user: null,
    });
    const issues = userEnrollmentIssues(f);
    expect(issues.map((i) => i.code)).toEqual([
      'UE_IOS_ONLY',
      'UE_NOT_FOR_ACTIVATION',
      'UE_NOT_WITH_SEAMLESS',
      'UE_REQUIRES_EMPLOYEE_OWNED',
      'UE_REQUIRES_USER',
      'UE_MIXED_MODE_REQUIRES_ENROLLMENT',
      'UE_NOT_WITH_AUTH_OVERRIDE',
    ]);
    expect(issues.map((i) => i.message)).toEqual([
      'User Enrollment is for iOS devices (iPhone, iPad) only; this request is for Android',
      'User Enrollment cannot be used for a device activation (Request Mode Activation)',
      "User Enrollment cannot be used with seamless enrollment (the account's default; set Seamless Enrollment to No)",
      'User Enrollment requires Ownership Employee Owned; this request is Corporate Shared',
      'User Enrollment requires a user that exists in the directory',
      "In a mixed-mode account User Enrollment requires Request Mode Enrollment; this request is an Activation (the account's default request mode)",
      "User Enrollment cannot be used with an overridden authentication mode: Local differs from the account's default Passcode",
    ]);
    expect(issues.map((i) => i.column)).toEqual([
      COLUMNS.platform,
      COLUMNS.requestMode,
      COLUMNS.seamless,
      COLUMNS.ownership,
      COLUMNS.username,
      COLUMNS.requestMode,
      COLUMNS.authMode,
    ]);
    expect(allCodes(f)).toEqual(['PLATFORM_NOT_SUPPORTED', ...issues.map((i) => i.code)]);
  });
});

describe('overlapping rules fire together', () => {
  it('an SPS account breaks 2 and 3 (and not 8, which is for mixed accounts)', () => {
    expect(codes(facts({ account: { deploymentMode: 'sps' } }))).toEqual(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']);
    expect(codes(facts({ account: { deploymentMode: 'sps', defaultRequestMode: 'enrollment' } }))).toEqual(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']);
    expect(codes(facts({ account: { deploymentMode: 'sps' }, request: { comments: 'MDM rollout' } }))).toEqual(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']);
  });

  it('an activation in a mixed account breaks 3 and 8', () => {
    expect(codes(facts({ account: { deploymentMode: 'mixed' }, request: { requestMode: 'activation' } }))).toEqual([
      'UE_NOT_FOR_ACTIVATION',
      'UE_MIXED_MODE_REQUIRES_ENROLLMENT',
    ]);
  });

  it('an Android row breaks 1 and is PLATFORM_NOT_SUPPORTED; so is Windows', () => {
    expect(allCodes(facts({ request: { platform: 'android' } }))).toEqual(['PLATFORM_NOT_SUPPORTED', 'UE_IOS_ONLY']);
    expect(allCodes(facts({ request: { platform: 'windows' } }))).toEqual(['PLATFORM_NOT_SUPPORTED', 'UE_IOS_ONLY']);
    expect(requestIssues(facts({ request: { platform: 'android' } }))[0]).toEqual({
      code: 'PLATFORM_NOT_SUPPORTED',
      column: 'Platform',
      message: 'Android devices cannot be enrolled yet (iOS and macOS only)',
    });
  });

  it('macOS is supported, so a macOS UE row breaks rule 1 only', () => {
    expect(allCodes(facts({ request: { platform: 'macos' } }))).toEqual(['UE_IOS_ONLY']);
  });
});

describe('a request that does not ask for User Enrollment', () => {
  const plain = (change: Parameters<typeof facts>[0] = {}) => {
    const f = facts(change);
    return allCodes({ ...f, request: { ...f.request, userEnrollment: false } });
  };
  it('is checked only for its platform and its mode', () => {
    expect(plain({ request: { platform: 'macos', ownership: 'corporate_owned', seamless: true, authMode: 'local' }, user: null })).toEqual([]);
    expect(plain({ account: { deploymentMode: 'sps' } })).toEqual([]);
    expect(plain({ request: { platform: 'android' } })).toEqual(['PLATFORM_NOT_SUPPORTED']);
    expect(plain({ request: { requestMode: 'activation' } })).toEqual(['REQUEST_MODE_NOT_AVAILABLE']);
  });
});

describe('request mode', () => {
  it.each<[string, Partial<AccountFacts>, Pick<RequestFacts, 'requestMode' | 'comments'>, 'enrollment' | 'activation']>([
    ['mdm, blank', { deploymentMode: 'mdm' }, {}, 'enrollment'],
    ['mdm, even with an activation default', { deploymentMode: 'mdm', defaultRequestMode: 'activation' }, {}, 'enrollment'],
    ['sps, blank', { deploymentMode: 'sps' }, {}, 'activation'],
    ['sps, MDM comment', { deploymentMode: 'sps' }, { comments: 'MDM please' }, 'activation'],
    ['mixed, Activation given', { deploymentMode: 'mixed' }, { requestMode: 'activation' }, 'activation'],
    ['mixed, Enrollment given over an activation default', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { requestMode: 'enrollment' }, 'enrollment'],
    ['mixed, the given value beats the MDM comment', { deploymentMode: 'mixed' }, { requestMode: 'activation', comments: 'MDM' }, 'activation'],
    ['mixed, blank, default Enrollment', { deploymentMode: 'mixed' }, {}, 'enrollment'],
    ['mixed, blank, default Activation', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, {}, 'activation'],
    ['mixed, blank, comment "MDM"', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { comments: 'MDM' }, 'enrollment'],
    ['mixed, blank, comment "MDM pilot"', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { comments: 'MDM pilot' }, 'enrollment'],
    ['mixed, blank, comment "  MDM" (leading space)', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { comments: '  MDM' }, 'enrollment'],
    ['mixed, blank, comment "mdm" (case matters)', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { comments: 'mdm' }, 'activation'],
    ['mixed, blank, comment "Not MDM"', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { comments: 'Not MDM' }, 'activation'],
    ['mixed, blank, empty comment', { deploymentMode: 'mixed', defaultRequestMode: 'activation' }, { comments: '' }, 'activation'],
  ])('%s → %s', (_name, account, request, mode) => {
    expect(requestModeOf({ ...MDM_ACCOUNT, ...account }, request)).toBe(mode);
  });

  it('refuses a mode the deployment mode forbids with REQUEST_MODE_NOT_AVAILABLE', () => {
    expect(resolveRequestMode(MDM_ACCOUNT, { requestMode: 'activation' })).toEqual({
      ok: false,
      issue: { code: 'REQUEST_MODE_NOT_AVAILABLE', column: 'Request Mode', message: 'Request Mode Activation is not available in an MDM account (only Enrollment)' },
    });
    expect(resolveRequestMode({ ...MDM_ACCOUNT, deploymentMode: 'sps' }, { requestMode: 'enrollment' })).toEqual({
      ok: false,
      issue: { code: 'REQUEST_MODE_NOT_AVAILABLE', column: 'Request Mode', message: 'Request Mode Enrollment is not available in an SPS account (only Activation)' },
    });
  });

  it('accepts the one mode an mdm or sps account allows, blank, and anything in a mixed account', () => {
    expect(resolveRequestMode(MDM_ACCOUNT, { requestMode: 'enrollment' })).toEqual({ ok: true, mode: 'enrollment' });
    expect(resolveRequestMode({ ...MDM_ACCOUNT, deploymentMode: 'sps' }, { requestMode: 'activation' })).toEqual({ ok: true, mode: 'activation' });
    expect(resolveRequestMode({ ...MDM_ACCOUNT, deploymentMode: 'sps' }, {})).toEqual({ ok: true, mode: 'activation' });
    for (const requestMode of REQUEST_MODES) {
      expect(resolveRequestMode({ ...MDM_ACCOUNT, deploymentMode: 'mixed' }, { requestMode })).toEqual({ ok: true, mode: requestMode });
    }
  });
});

describe('SPS accounts', () => {
  const sps = { deploymentMode: 'sps' } as const;
  it('refuse User Enrollment with rules 2 and 3, however the row is filled', () => {
    expect(allCodes(facts({ account: sps }))).toEqual(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']);
    expect(allCodes(facts({ account: sps, request: { requestMode: 'activation' } }))).toEqual(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']);
  });
  it('refuse a row asking for Enrollment with REQUEST_MODE_NOT_AVAILABLE too', () => {
    expect(allCodes(facts({ account: sps, request: { requestMode: 'enrollment' } }))).toEqual([
      'REQUEST_MODE_NOT_AVAILABLE',
      'UE_NOT_FOR_SPS',
      'UE_NOT_FOR_ACTIVATION',
    ]);
  });
});

describe('mixed accounts', () => {
  const mixed = { deploymentMode: 'mixed' } as const;
  const mixedActivationDefault = { deploymentMode: 'mixed', defaultRequestMode: 'activation' } as const;
  const ACTIVATION_CODES = ['UE_NOT_FOR_ACTIVATION', 'UE_MIXED_MODE_REQUIRES_ENROLLMENT'];

  it('with Request Mode Activation break 3 and 8', () => {
    expect(allCodes(facts({ account: mixed, request: { requestMode: 'activation' } }))).toEqual(ACTIVATION_CODES);
  });
  it('with a blank mode and the account default Activation break 3 and 8', () => {
    expect(allCodes(facts({ account: mixedActivationDefault }))).toEqual(ACTIVATION_CODES);
  });
  it('with a blank mode and a Comments value starting "MDM" pass (the legacy convention means Enrollment)', () => {
    expect(allCodes(facts({ account: mixedActivationDefault, request: { comments: 'MDM - BYOD phones' } }))).toEqual([]);
  });
  it('with Request Mode Enrollment pass, whatever the default', () => {
    expect(allCodes(facts({ account: mixedActivationDefault, request: { requestMode: 'enrollment' } }))).toEqual([]);
  });
  it('with a blank mode and the default Enrollment pass', () => {
    expect(allCodes(facts({ account: mixed }))).toEqual([]);
  });
});

// ── Properties over arbitrary facts ────────────────────────────────────────────────────────────

const accountArb: fc.Arbitrary<AccountFacts> = fc.record({
  deploymentMode: fc.constantFrom(...DEPLOYMENT_MODES),
  defaultRequestMode: fc.constantFrom(...REQUEST_MODES),
  defaultAuthMode: fc.constantFrom(...AUTH_MODES),
  seamlessEnrollment: fc.boolean(),
});
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const requestArb: fc.Arbitrary<RequestFacts> = fc.record({
  platform: fc.constantFrom(...NAMED_PLATFORMS),
  ownership: fc.constantFrom(...OWNERSHIPS),
  userEnrollment: fc.boolean(),
  requestMode: maybe(fc.constantFrom(...REQUEST_MODES)),
  comments: maybe(fc.oneof(fc.string(), fc.string().map((s) => `MDM${s}`), fc.constantFrom('MDM', ' MDM', 'mdm', ''))),
  authMode: maybe(fc.constantFrom(...AUTH_MODES)),
  seamless: maybe(fc.boolean()),
});
const userArb: fc.Arbitrary<UserFacts> = fc.option(fc.record({ managedAppleId: fc.option(fc.constantFrom('jane@appleid.example.com', 'x@corp.example'), { nil: null }) }), { nil: null });
const factsArb = fc.record({ account: accountArb, request: requestArb, user: userArb });

describe('properties', () => {
  it('the evaluator reports exactly the rules whose single-rule functions fail, in rule order, with words and a column', () => {
    fc.assert(
      fc.property(factsArb, (f) => {
        const issues = userEnrollmentIssues(f);
        expect(issues.map((i) => i.code)).toEqual(failingPredicates(f));
        for (const i of issues) {
          expect(i.message.length).toBeGreaterThan(20);
          expect(i.message).not.toMatch(/[A-Z]{2,}_[A-Z_]+/); // words, not codes
          expect(Object.values(COLUMNS)).toContain(i.column);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a request gets its platform and mode codes, plus the UE codes exactly when it asks for User Enrollment', () => {
    fc.assert(
      fc.property(factsArb, (f) => {
        const expected: string[] = [];
        if (f.request.platform === 'android' || f.request.platform === 'windows') expected.push('PLATFORM_NOT_SUPPORTED');
        if (!resolveRequestMode(f.account, f.request).ok) expected.push('REQUEST_MODE_NOT_AVAILABLE');
        if (f.request.userEnrollment) expected.push(...failingPredicates(f));
        expect(allCodes(f)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('overlaps hold everywhere: SPS → 2 and 3; 3 and 8 together in mixed accounts; never 6 with 7; Android and Windows always PLATFORM_NOT_SUPPORTED', () => {
    fc.assert(
      fc.property(factsArb, (f) => {
        const c = codes(f);
        const all = allCodes(f);
        if (f.account.deploymentMode === 'sps') expect(c).toEqual(expect.arrayContaining(['UE_NOT_FOR_SPS', 'UE_NOT_FOR_ACTIVATION']));
        else expect(c).not.toContain('UE_NOT_FOR_SPS');
        if (f.account.deploymentMode === 'mixed') expect(c.includes('UE_NOT_FOR_ACTIVATION')).toBe(c.includes('UE_MIXED_MODE_REQUIRES_ENROLLMENT'));
        else expect(c).not.toContain('UE_MIXED_MODE_REQUIRES_ENROLLMENT');
        if (f.account.deploymentMode === 'mdm') expect(c).not.toContain('UE_NOT_FOR_ACTIVATION');
        expect(c.includes('UE_REQUIRES_USER') && c.includes('UE_REQUIRES_MANAGED_APPLE_ID')).toBe(false);
        expect(all.includes('PLATFORM_NOT_SUPPORTED')).toBe(f.request.platform === 'android' || f.request.platform === 'windows');
        expect(new Set(all).size).toBe(all.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('a request that satisfies every fact passes', () => {
    const passing = fc
      .record({
        deploymentMode: fc.constantFrom('mdm', 'mixed'),
        defaultRequestMode: fc.constantFrom(...REQUEST_MODES),
        defaultAuthMode: fc.constantFrom(...AUTH_MODES),
        seamlessEnrollment: fc.boolean(),
        modeHow: fc.constantFrom('given', 'comment', 'default'),
        comments: fc.string(),
        authGiven: fc.boolean(),
        maid: fc.constantFrom('jane@appleid.example.com', 'j.doe@school.appleid.com'),
      })
      .map(({ modeHow, comments, authGiven, maid, ...account }): EnrollmentFacts => {
        const a: AccountFacts = { ...account, defaultRequestMode: modeHow === 'default' ? 'enrollment' : account.defaultRequestMode };
        return {
          account: a,
          request: {
            platform: 'ios',
            ownership: 'employee_owned',
            userEnrollment: true,
            requestMode: modeHow === 'given' ? 'enrollment' : undefined,
            comments: modeHow === 'comment' ? `MDM ${comments}` : comments,
            authMode: authGiven ? a.defaultAuthMode : undefined,
            seamless: a.seamlessEnrollment ? false : undefined,
          },
          user: { managedAppleId: maid },
        };
      });
    fc.assert(
      fc.property(passing, (f) => {
        expect(requestIssues(f)).toEqual([]);
      }),
    );
  });

  it('mdm accounts always enrol and sps accounts always activate, whatever the request says', () => {
    fc.assert(
      fc.property(accountArb, requestArb, (account, request) => {
        const mode = requestModeOf(account, request);
        if (account.deploymentMode === 'mdm') expect(mode).toBe('enrollment');
        if (account.deploymentMode === 'sps') expect(mode).toBe('activation');
        if (account.deploymentMode === 'mixed' && request.requestMode) expect(mode).toBe(request.requestMode);
      }),
    );
  });
});
