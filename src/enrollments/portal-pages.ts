/**
 * The portal's pages: small, mobile-first HTML that works without JavaScript (the device's own
 * browser installs the profile), branded with the account's name. Every value is escaped.
 */
import type { EnrollmentRequest } from './model.js';
import type { PortalView } from './portal.js';
import { escapeHtml } from '../core/html.js';

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f6f8;color:#1d2329}
header{background:#0b7a6e;color:#fff;padding:14px 20px;font-weight:600;font-size:17px}
main{max-width:520px;margin:0 auto;padding:20px}
.card{background:#fff;border-radius:12px;padding:20px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:16px}
h1{font-size:22px;margin:0 0 12px}p{margin:0 0 12px}ol{padding-left:22px;margin:0 0 12px}li{margin-bottom:6px}
label{display:block;font-weight:600;margin:12px 0 4px}
input[type=text],input[type=password]{width:100%;font-size:18px;padding:12px;border:1px solid #c5ccd3;border-radius:8px}
input.code{letter-spacing:.25em;text-transform:uppercase;font-family:ui-monospace,Menlo,monospace}
button{width:100%;margin-top:16px;font-size:17px;font-weight:600;padding:14px;border:0;border-radius:10px;background:#0b7a6e;color:#fff}
.error{background:#fdecea;color:#a12a1f;border-radius:8px;padding:10px 12px;margin-bottom:12px}
.muted{color:#5b6670;font-size:14px}b.value{font-family:ui-monospace,Menlo,monospace;word-break:break-all}
`;

export function page(title: string, brand: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><header>${escapeHtml(brand)}</header><main>${body}</main></body></html>`;
}

const device = (r: EnrollmentRequest) => (r.platform === 'macos' ? 'Mac' : 'iPhone or iPad');

function installSteps(r: EnrollmentRequest): string {
  if (r.platform === 'macos') {
    return `<ol><li>Click <b>Download profile</b>. The profile is saved to your Downloads folder.</li>
<li>Open <b>System Settings ▸ General ▸ Device Management</b> (on macOS 13 and 14: <b>System Settings ▸ Privacy &amp; Security ▸ Profiles</b>).</li>
<li>Double-click the downloaded profile, then click <b>Install</b> and enter your Mac's password.</li></ol>`;
  }
  return `<ol><li>Tap <b>Download profile</b>, then <b>Allow</b>. (Use Safari.)</li>
<li>Open <b>Settings</b> and tap <b>Profile Downloaded</b> near the top (or <b>General ▸ VPN &amp; Device Management</b>).</li>
<li>Tap <b>Install</b>, enter your device passcode, and confirm <b>Install</b> and <b>Trust</b> for remote management.</li></ol>`;
}

function notice(r: EnrollmentRequest, brand: string): string {
  const owned = r.ownership === 'employee_owned';
  const sees = owned
    ? `${escapeHtml(brand)} manages only its own apps, settings and data on your ${device(r)}. It cannot see your personal email, messages, photos, browsing or location.`
    : `This ${device(r)} belongs to ${escapeHtml(brand)}, which will manage it: its settings, apps and restrictions. ${escapeHtml(brand)} can see the device's name, model, serial number, installed apps and its management status; it cannot read your personal email, messages or photos.`;
  return `<p>${sees}</p><p class="muted">Removing the profile later removes ${escapeHtml(brand)}'s management${owned ? ' and its data' : ''} from the device.</p>`;
}

/** What an employee signs in with: username and directory password (auth mode local), else the invitation's passcode. */
export function credentialFields(local: boolean): string {
  return local
    ? `<label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>`
    : `<label for="passcode">Passcode</label><input id="passcode" class="code" name="passcode" type="text" inputmode="text" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required>`;
}

/** The line under a sign-in form saying what to enter. */
export const credentialHint = (local: boolean) =>
  `<p class="muted">${local ? 'Sign in with your username and directory password.' : 'Enter the passcode from your invitation email or text message.'}</p>`;

/** A failed sign-in's message, with the attempts left when the request counts them; empty when there is none. */
export function failureAlert(error: string | undefined, attemptsLeft: number | undefined): string {
  if (!error) return '';
  return `<div class="error" role="alert">${escapeHtml(error)}${attemptsLeft !== undefined ? ` ${attemptsLeft} attempt${attemptsLeft === 1 ? '' : 's'} left.` : ''}</div>`;
}

/** iOS 13–17 on the User-Agent: the profile-based path is pre-selected (the employee may still choose). */
export function olderIos(userAgent: string | undefined): boolean {
  const m = /\bOS (\d+)_\d+(?:_\d+)? like Mac OS X/.exec(userAgent ?? '');
  return !!m && Number(m[1]) >= 13 && Number(m[1]) < 15;
}

/** A User Enrollment request's first choice: account-driven enrolment in Settings, with the Managed Apple ID to type. */
function accountDrivenSteps(r: EnrollmentRequest, brand: string): string {
  const maid = r.managedAppleId ?? '';
  return `<div class="card"><h1>Enroll with your work account</h1><p>On iOS or iPadOS 15 or later, ${escapeHtml(brand)} uses User Enrollment: your personal data stays yours, and ${escapeHtml(brand)} manages only a separate work space.</p>
<ol><li>Open <b>Settings ▸ General ▸ VPN &amp; Device Management</b>.</li>
<li>Tap <b>Sign In to Work or School Account</b> and enter your Managed Apple Account:<br><input type="text" readonly value="${escapeHtml(maid)}" aria-label="Managed Apple Account" style="margin-top:6px"></li>
<li>When asked, sign in with the passcode from your invitation, then follow the steps on screen.</li></ol></div>`;
}

export function renderPortal(view: PortalView, actionUrl: string, opts: { userAgent?: string } = {}): { status: number; html: string } {
  switch (view.kind) {
    case 'invalid':
      return {
        status: 404,
        html: page('Enrollment link', 'Device enrollment', `<div class="card"><h1>This link cannot be used</h1><p>The enrollment link is not valid any more. It may have expired, been replaced by a newer one, or already been used.</p><p>Ask your IT team to send you a new one.</p></div>`),
      };
    case 'exceeded':
      return {
        status: 403,
        html: page('Enrollment locked', view.accountName, `<div class="card"><h1>Too many attempts</h1><p>This enrollment request is locked after too many wrong attempts.</p><p>Contact your IT team: they can send you a new request.</p></div>`),
      };
    case 'unavailable':
      return {
        status: 503,
        html: page('Enrollment unavailable', view.accountName, `<div class="card"><h1>Enrollment is not available yet</h1><p>${escapeHtml(view.accountName)} has not finished setting up device enrollment.</p><p>Contact your IT team, then open this link again.</p></div>`),
      };
    case 'sign_in': {
      const r = view.request;
      const local = r.authMode === 'local';
      const fields = credentialFields(local);
      const error = failureAlert(view.error, view.attemptsLeft);
      if (r.userEnrollment) {
        // Account-driven first; the profile-based path (iOS 13.1–17) as an alternative the employee chooses.
        const open = !!view.error || olderIos(opts.userAgent);
        return {
          status: view.error ? 401 : 200,
          html: page(
            'Enroll your device',
            view.accountName,
            `${accountDrivenSteps(r, view.accountName)}
<details class="card"${open ? ' open' : ''}><summary><b>Older iPhone or iPad (iOS 13 to 17)?</b></summary><p>Enter the passcode from your invitation to download an enrollment profile instead.</p>
${error}<form method="post" action="${escapeHtml(actionUrl)}">${fields}<button type="submit">Continue</button></form></details>`,
          ),
        };
      }
      return {
        status: view.error ? 401 : 200,
        html: page(
          'Enroll your device',
          view.accountName,
          `<div class="card"><h1>Enroll your ${device(r)}</h1><p>Hello ${escapeHtml(r.fullName || r.username)}. ${escapeHtml(view.accountName)} has invited you to enroll your ${device(r)}.</p>
${error}<form method="post" action="${escapeHtml(actionUrl)}">${fields}<button type="submit">Continue</button></form>
${credentialHint(local)}</div>`,
        ),
      };
    }
    case 'notice': {
      const r = view.request;
      return {
        status: 200,
        html: page(
          'Install the profile',
          view.accountName,
          `<div class="card"><h1>Before you install</h1>${notice(r, view.accountName)}</div>
<div class="card"><h1>Install the enrollment profile</h1>${installSteps(r)}
<form method="post" action="${escapeHtml(actionUrl)}/profile"><input type="hidden" name="ticket" value="${escapeHtml(view.ticket)}"><button type="submit">Download profile</button></form>
<p class="muted">The download works for 15 minutes; after that, open your invitation link again.</p></div>`,
        ),
      };
    }
  }
}
