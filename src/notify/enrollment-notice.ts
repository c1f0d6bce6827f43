import { qrPng } from './qr-png.js';
import type { Clock, Random } from '../core/clock.js';
import type { Stores } from '../stores.js';
import { escapeHtml } from '../core/html.js';
import { oneLine, PermanentSendError, type Email, type Sms } from './message.js';
import { seal } from './seal.js';

export const ENROLLMENT_NOTICE = 'enrollment_notice';

/** Everything one enrollment request's email or SMS says; sealed in the outbox until it is sent. */
export interface EnrollmentNoticeInputs {
  requestId: string;
  channel: 'email' | 'sms';
  /** The email address, or the phone number as the admin typed it. */
  to: string;
  accountName: string;
  username: string;
  fullName: string;
  url: string;
  /** Null when no passcode is needed (seamless, or auth mode local: sign in with the directory password). */
  passcode: string | null;
  platform: 'ios' | 'macos';
  userEnrollment: boolean;
  managedAppleId: string | null;
  authMode: 'passcode' | 'local';
  seamless: boolean;
  expiresAt: string;
  /** A resend: the message says it replaces the earlier one. */
  resend: boolean;
}

/**
 * Queues notices (one per channel) in the caller's transaction, so a request and its messages
 * commit together — many at once for Bulk Add. The inputs, passcode included, are sealed under the
 * secret key; each message names its request (`ref_id`).
 */
export function enqueueEnrollmentNotices(s: Stores, notices: EnrollmentNoticeInputs[], deps: { secretKey: Buffer; clock: Clock; random: Random }): Promise<void> {
  return enqueueSealedNotices(s, notices.map((n) => ({ requestId: n.requestId, sealed: seal(deps.secretKey, n) })), deps);
}

/** Queues notices sealed already (by `seal`, as `enqueueEnrollmentNotices` seals them: Bulk Add seals on a thread). */
export async function enqueueSealedNotices(s: Stores, notices: { requestId: string; sealed: string }[], deps: { clock: Clock; random: Random }): Promise<void> {
  if (!notices.length) return;
  const at = deps.clock.now().toISOString();
  await s.outbox.enqueueMany(notices.map((n) => ({ id: deps.random.id(), kind: ENROLLMENT_NOTICE, sealed: n.sealed, at, refId: n.requestId })));
}

/** Queues one notice. */
export const enqueueEnrollmentNotice = (s: Stores, inputs: EnrollmentNoticeInputs, deps: { secretKey: Buffer; clock: Clock; random: Random }) =>
  enqueueEnrollmentNotices(s, [inputs], deps);

/** A piece of an instruction: plain words, or a value to type or tap (bold in HTML). */
type Part = string | { value: string };
type Step = Part[];

const value = (v: string): Part => ({ value: v });
const stepText = (step: Step) => step.map((p) => (typeof p === 'string' ? p : p.value)).join('');
const stepHtml = (step: Step) => step.map((p) => (typeof p === 'string' ? escapeHtml(p) : `<strong>${escapeHtml(p.value)}</strong>`)).join('');

/** What proves who the employee is, once the link is open; null when the link alone is enough. */
function signInStep(i: EnrollmentNoticeInputs, ifAsked: boolean): Step | null {
  const when = ifAsked ? 'If you are asked' : 'When asked';
  if (i.seamless) return null;
  if (i.authMode === 'local') return [`${when}, sign in with your username `, value(i.username), ` and your ${oneLine(i.accountName)} password.`];
  if (i.passcode) return [`${when}, enter the passcode `, value(i.passcode), '.'];
  return null;
}

const isUserEnrollment = (i: EnrollmentNoticeInputs) => i.userEnrollment && i.platform === 'ios';
const deviceName = (i: EnrollmentNoticeInputs) => (i.platform === 'macos' ? 'Mac' : 'iPhone or iPad');

interface Section {
  heading: string | null;
  steps: Step[];
}

/** The numbered instructions for this request's platform and kind of enrolment. */
function instructions(i: EnrollmentNoticeInputs): Section[] {
  const compact = (steps: (Step | null)[]) => steps.filter((s): s is Step => s !== null);
  const profileSteps = (openIn: string, install: Step) =>
    compact([[`Open this link in Safari on ${openIn}: `, value(i.url), ' (or scan the QR code with its camera).'], signInStep(i, false), install]);
  const iosInstall: Step = ['Allow the download, then open Settings ▸ Profile Downloaded, tap Install and follow the prompts.'];
  if (i.platform === 'macos') {
    return [
      {
        heading: null,
        steps: profileSteps('your Mac', ['Allow the download, then open System Settings ▸ Privacy & Security ▸ Profiles, double-click the downloaded profile, click Install and follow the prompts.']),
      },
    ];
  }
  if (!isUserEnrollment(i)) return [{ heading: null, steps: profileSteps('your iPhone or iPad', iosInstall) }];
  const maid = i.managedAppleId ?? 'your Managed Apple ID';
  return [
    {
      heading: 'On iOS 15 or later (the only way on iOS 18 and later):',
      steps: compact([
        ['Open Settings ▸ General ▸ VPN & Device Management ▸ Sign In to Work or School Account and enter ', value(maid), '.'],
        signInStep(i, true),
        ['Follow the prompts. Your work apps and data then live in a separate space on the device.'],
      ]),
    },
    { heading: 'Or, on iOS 13 to 17:', steps: profileSteps('your iPhone or iPad', iosInstall) },
  ];
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** `2025-01-08T14:00:00Z` → `Wednesday 8 January 2025, 14:00 UTC` (spelt out here, so no ICU version changes it). */
function formatExpiry(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const hm = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${hm} UTC`;
}

/** The content id of the inline QR code image. */
const qrCid = (i: EnrollmentNoticeInputs) => `enrol-${i.requestId.replace(/[^\w.-]/g, '')}@pippin`;

const EMAIL_ADDRESS = /^[^\s@<>"(),;:\\[\]]+@[^\s@<>"(),;:\\[\]]+\.[^\s@<>"(),;:\\[\]]+$/;

/**
 * The invitation email: subject, text and HTML (every value escaped) with the link, the passcode,
 * the steps for the platform, the expiry, and the link again as an inline QR code (PNG, `cid:`).
 * An address that cannot receive mail is a PermanentSendError.
 */
export async function renderEnrollmentEmail(i: EnrollmentNoticeInputs): Promise<Email> {
  const address = i.to.trim();
  if (!EMAIL_ADDRESS.test(address)) throw new PermanentSendError(`Email Address "${oneLine(address)}" is not a valid email address`);
  const account = oneLine(i.accountName);
  const name = oneLine(i.fullName) || oneLine(i.username);
  const device = deviceName(i);
  const ue = isUserEnrollment(i);
  const intro = ue
    ? `${account} invites you to enrol your ${device} with Apple User Enrollment, made for personal devices: ${account} manages only a separate work space on it and never sees your personal apps, photos or messages.`
    : `${account} invites you to enrol your ${device} in its device management.`;
  const replaces = i.resend ? 'This invitation replaces any earlier one: use the link and passcode below.' : null;
  const passcodeLine = i.seamless ? 'No passcode is needed: the link alone identifies you.' : i.passcode ? `Your passcode: ${i.passcode}` : null;
  const expiry = `The invitation expires on ${formatExpiry(i.expiresAt)}. After that, ask your IT team for a new one.`;
  const caution = 'Keep the link and passcode to yourself: they let whoever has them enrol a device in your name.';
  const sections = instructions(i);
  const qr = qrPng(i.url, { errorCorrectionLevel: 'M', margin: 4, scale: 6 });

  const text = [
    `Hello ${name},`,
    '',
    intro,
    ...(replaces ? [replaces] : []),
    '',
    `Enrolment link: ${i.url}`,
    ...(passcodeLine ? [passcodeLine] : []),
    '',
    ...sections.flatMap((s) => [...(s.heading ? [s.heading] : []), ...s.steps.map((step, n) => `  ${n + 1}. ${stepText(step)}`), '']),
    expiry,
    caution,
  ].join('\n');

  const p = (body: string) => `<p style="font-family:sans-serif">${body}</p>`;
  const html = [
    p(`Hello ${escapeHtml(name)},`),
    p(escapeHtml(intro)),
    replaces ? p(`<em>${escapeHtml(replaces)}</em>`) : '',
    p(`<a href="${escapeHtml(i.url)}" style="font-size:1.1em">Enrol your ${escapeHtml(device)}</a><br><span style="color:#555">${escapeHtml(i.url)}</span>`),
    passcodeLine ? p(i.passcode && !i.seamless ? `Your passcode: <strong style="font-family:monospace;font-size:1.2em">${escapeHtml(i.passcode)}</strong>` : escapeHtml(passcodeLine)) : '',
    ...sections.map(
      (s) =>
        `${s.heading ? p(`<strong>${escapeHtml(s.heading)}</strong>`) : ''}<ol style="font-family:sans-serif">${s.steps.map((step) => `<li>${stepHtml(step)}</li>`).join('')}</ol>`,
    ),
    p(`The same link as a QR code, for the camera of your ${escapeHtml(device)}:<br><img src="cid:${escapeHtml(qrCid(i))}" alt="QR code of the enrolment link" width="180" height="180">`),
    p(escapeHtml(expiry)),
    p(`<small>${escapeHtml(caution)}</small>`),
  ]
    .filter(Boolean)
    .join('\n');

  return {
    to: { name, address },
    subject: oneLine(`${i.resend ? 'Reminder: ' : ''}${account}: enrol your ${device}${ue ? ' (User Enrollment)' : ''}`),
    text,
    html,
    attachments: [{ filename: 'enrolment-qr.png', content: qr, contentType: 'image/png', cid: qrCid(i) }],
  };
}

/**
 * The invitation SMS: short, plain ASCII (a `▸` or a curly quote would switch the whole message to
 * UCS-2 and cut each segment from 160 characters to 70), with the link, the passcode or sign-in
 * hint, and for User Enrollment the Settings path and the Managed Apple ID.
 */
export function renderEnrollmentSms(i: EnrollmentNoticeInputs): Sms {
  const account = oneLine(i.accountName);
  const signIn = i.seamless ? '' : i.authMode === 'local' ? ` Sign in as ${oneLine(i.username)}.` : i.passcode ? ` Passcode: ${i.passcode}.` : '';
  const expires = i.expiresAt.slice(0, 10);
  const again = i.resend ? ' (replaces earlier link)' : '';
  const body = isUserEnrollment(i)
    ? `${account}: enrol your iPhone/iPad${again}. iOS 15+: Settings > General > VPN & Device Management > Sign In to Work or School Account, enter ${i.managedAppleId ?? 'your Managed Apple ID'}. iOS 13-17: open ${i.url} in Safari.${signIn} Expires ${expires}.`
    : `${account}: enrol your ${i.platform === 'macos' ? 'Mac' : 'iPhone/iPad'}${again}: open ${i.url} in Safari.${signIn} Expires ${expires}.`;
  return { to: i.to, body };
}
