import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COLUMNS,
  NAMED_PLATFORMS,
  NOTIFY_CHANNELS,
  OWNERSHIPS,
  REQUEST_MODES,
  AUTH_MODES,
  optional,
  parseAuthMode,
  parseNotify,
  parseOwnership,
  parsePlatform,
  parseRequestMode,
  parseYesNo,
  requestTypeOf,
  type Parsed,
} from '../../src/enrollments/model.js';

const ok = <T>(value: T) => ({ ok: true, value });

/** Asserts a refusal: VALUE_INVALID, naming the column in `column` and at the start of the message. */
function expectProblem(r: Parsed<unknown>, column: string, says?: string) {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.problem.code).toBe('VALUE_INVALID');
  expect(r.problem.column).toBe(column);
  expect(r.problem.message.startsWith(`${column}: `)).toBe(true);
  if (says) expect(r.problem.message).toContain(says);
}

const flipCase = (s: string, mask: boolean[]) => [...s].map((c, i) => (mask[i % mask.length] ? c.toUpperCase() : c.toLowerCase())).join('');

describe('Yes/No', () => {
  const column = COLUMNS.userEnrollment;
  it.each([
    ['Yes', true], ['yes', true], ['YES', true], ['y', true], ['Y', true], ['true', true], ['TRUE', true], ['True', true], ['1', true],
    ['No', false], ['no', false], ['NO', false], ['n', false], ['N', false], ['false', false], ['False', false], ['0', false],
    ['  yes\t', true], [' 0 ', false],
  ])('reads %j as %s', (raw, value) => {
    expect(parseYesNo(raw, column)).toEqual(ok(value));
  });

  it.each(['maybe', 'yes please', 'ye', '2', '-1', 'on', 'off', 'oui', '1.0', 'y e s', '__proto__'])('refuses %j naming the column', (raw) => {
    expectProblem(parseYesNo(raw, column), column, 'is not Yes or No');
  });

  it('names whichever column it reads (Seamless Enrollment too)', () => {
    expectProblem(parseYesNo('perhaps', COLUMNS.seamless), 'Seamless Enrollment', '"perhaps"');
  });

  it('calls a blank required value required', () => {
    expectProblem(parseYesNo('  ', column), column, 'required');
  });

  it('is case-insensitive for every accepted spelling', () => {
    fc.assert(
      fc.property(fc.constantFrom('yes', 'no', 'y', 'n', 'true', 'false'), fc.array(fc.boolean(), { minLength: 1 }), (word, mask) => {
        expect(parseYesNo(flipCase(word, mask), column)).toEqual(parseYesNo(word, column));
      }),
    );
  });
});

describe('Platform', () => {
  it.each([
    ['iOS', 'ios'], ['ios', 'ios'], [' IOS ', 'ios'], ['iPhone', 'ios'], ['IPHONE', 'ios'], ['iPad', 'ios'], ['ipad', 'ios'],
    ['iPadOS', 'ios'], ['IPADOS', 'ios'], ['macOS', 'macos'], ['MacOS', 'macos'], ['MACOS', 'macos'],
  ])('reads %j as %s', (raw, value) => {
    expect(parsePlatform(raw)).toEqual(ok(value));
  });

  it.each([
    ['Android', 'android'], ['ANDROID', 'android'], ['Windows', 'windows'], ['windows', 'windows'],
  ])('recognises %j as %s (refused later with PLATFORM_NOT_SUPPORTED)', (raw, value) => {
    expect(parsePlatform(raw)).toEqual(ok(value));
  });

  it.each(['Symbian', 'i OS', 'mac', 'OS X', 'iPod', 'tvOS', 'watchOS', 'iPhone 15', 'constructor', '__proto__'])('refuses %j naming the column', (raw) => {
    expectProblem(parsePlatform(raw), 'Platform', 'is not one of iOS, iPhone, iPad, iPadOS, macOS');
  });

  it('calls a blank platform required', () => {
    expectProblem(parsePlatform(''), 'Platform', 'required');
  });

  it('names the column the caller gives (the API names its field)', () => {
    expectProblem(parsePlatform('BlackBerry', 'platform'), 'platform');
  });
});

describe('Ownership', () => {
  it.each([
    ['Corporate Owned', 'corporate_owned'], ['corporate owned', 'corporate_owned'], ['CORPORATE OWNED', 'corporate_owned'],
    ['Employee Owned', 'employee_owned'], ['  employee   owned ', 'employee_owned'], ['employee_owned', 'employee_owned'],
    ['Corporate Shared', 'corporate_shared'], ['corporate_SHARED', 'corporate_shared'],
  ])('reads %j as %s', (raw, value) => {
    expect(parseOwnership(raw)).toEqual(ok(value));
  });

  it.each(['Employee', 'BYOD', 'Personal', 'Corporate', 'EmployeeOwned', 'Employee-Owned', 'Shared'])('refuses the unknown ownership %j naming the column', (raw) => {
    expectProblem(parseOwnership(raw), 'Ownership', 'Corporate Owned, Employee Owned, Corporate Shared');
  });

  it('calls a blank ownership required', () => {
    expectProblem(parseOwnership(' '), 'Ownership', 'required');
  });
});

describe('Request Mode', () => {
  it.each([
    ['Enrollment', 'enrollment'], ['enrollment', 'enrollment'], ['ENROLLMENT', 'enrollment'], ['Activation', 'activation'], [' activation ', 'activation'],
  ])('reads %j as %s', (raw, value) => {
    expect(parseRequestMode(raw)).toEqual(ok(value));
  });

  it.each(['Enrolment', 'MDM', 'SPS', 'Activate', 'Both'])('refuses %j naming the column', (raw) => {
    expectProblem(parseRequestMode(raw), 'Request Mode', 'Enrollment, Activation');
  });
});

describe('Authentication Mode', () => {
  it.each([
    ['Passcode', 'passcode'], ['PASSCODE', 'passcode'], ['passcode', 'passcode'], ['Local', 'local'], [' local ', 'local'],
  ])('reads %j as %s', (raw, value) => {
    expect(parseAuthMode(raw)).toEqual(ok(value));
  });

  it.each(['Corporate', 'SAML', 'Password', 'OTP', 'None'])('refuses %j naming the column', (raw) => {
    expectProblem(parseAuthMode(raw), 'Authentication Mode', 'Passcode, Local');
  });
});

describe('Notify', () => {
  it.each([
    ['Email', 'email'], ['EMAIL', 'email'], ['SMS', 'sms'], ['sms', 'sms'], ['Email+SMS', 'email_sms'], ['email + sms', 'email_sms'],
    ['EMAIL+sms', 'email_sms'], ['email_sms', 'email_sms'], ['None', 'none'], ['none', 'none'],
  ])('reads %j as %s', (raw, value) => {
    expect(parseNotify(raw)).toEqual(ok(value));
  });

  it.each(['Fax', 'Email,SMS', 'Email;SMS', 'SMS+Email', 'Mail', 'E-mail', 'No'])('refuses %j naming the column', (raw) => {
    expectProblem(parseNotify(raw), 'Notify', 'Email, SMS, Email+SMS, None');
  });
});

describe('optional columns', () => {
  it('reads a blank or absent cell as not given, and anything else with the parser', () => {
    expect(optional(undefined, parseRequestMode)).toEqual(ok(undefined));
    expect(optional('', parseAuthMode)).toEqual(ok(undefined));
    expect(optional(' \t ', parseNotify)).toEqual(ok(undefined));
    expect(optional('Local', parseAuthMode)).toEqual(ok('local'));
    expect(optional('no', (raw) => parseYesNo(raw, COLUMNS.seamless))).toEqual(ok(false));
    expectProblem(optional('Corporate', parseAuthMode), 'Authentication Mode');
  });
});

describe('problem messages', () => {
  it('quote a hostile cell escaped and cut short', () => {
    const r = parseNotify(`=HYPERLINK("x")\r\n${'a'.repeat(500)}`);
    expectProblem(r, 'Notify');
    if (r.ok) return;
    expect(r.problem.message).not.toMatch(/[\r\n]/);
    expect(r.problem.message.length).toBeLessThan(150);
    expect(r.problem.message).toContain('…');
  });
});

describe('every parser', () => {
  const parsers: [string, (raw: string) => Parsed<unknown>, readonly unknown[]][] = [
    ['Platform', parsePlatform, NAMED_PLATFORMS],
    ['Ownership', parseOwnership, OWNERSHIPS],
    ['Request Mode', parseRequestMode, REQUEST_MODES],
    ['Authentication Mode', parseAuthMode, AUTH_MODES],
    ['Notify', parseNotify, NOTIFY_CHANNELS],
    ['Enroll Using iOS User Enrollment', (raw) => parseYesNo(raw, COLUMNS.userEnrollment), [true, false]],
  ];

  it.each(parsers)('%s never throws; it gives a value of its vocabulary or a problem naming the column', (column, parse, vocabulary) => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), (s) => {
        const r = parse(s);
        if (r.ok) expect(vocabulary).toContain(r.value);
        else expectProblem(r, column);
      }),
      { numRuns: 500 },
    );
  });

  it.each(parsers)('%s ignores surrounding white space', (_column, parse) => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('', ' ', '\t', '  \u00a0'), fc.constantFrom('', ' ', '\t'), (s, before, after) => {
        expect(parse(`${before}${s}${after}`)).toEqual(parse(s));
      }),
    );
  });
});

describe('request type', () => {
  it.each([
    ['enrollment', false, 'MDM'],
    ['enrollment', true, 'MDM (Apple User Enrollment)'],
    ['activation', false, 'SPS Activation'],
    ['activation', true, 'SPS Activation'],
  ] as const)('%s with userEnrollment %s is %j', (requestMode, userEnrollment, type) => {
    expect(requestTypeOf({ requestMode, userEnrollment })).toBe(type);
  });
});
