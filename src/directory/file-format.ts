import type { ColumnSpec } from '../bulk/columns.js';
import type { SheetColumn } from '../bulk/writers.js';
import type { User, UserTuple } from './model.js';

/** The Bulk Upload Users columns (DESIGN.md "File formats"), in file order. */
export type UserColumn = 'username' | 'domain' | 'email' | 'fullName' | 'phone' | 'groups' | 'authType' | 'managedAppleId';

export const USER_FILE_COLUMNS: readonly (ColumnSpec<UserColumn> & { width: number; note: string })[] = [
  { key: 'username', header: 'Username', aliases: ['User Name'], required: true, width: 22, note: 'Required. With Domain, identifies the user: an existing one is updated, else one is created.' },
  { key: 'domain', header: 'Domain', width: 22, note: "Optional. Empty means the account's default domain." },
  { key: 'email', header: 'Email Address', aliases: ['Email'], width: 30, note: 'Required for new users.' },
  { key: 'fullName', header: 'Full Name', aliases: ['Name'], width: 24, note: 'Optional.' },
  { key: 'phone', header: 'Phone Number', aliases: ['Phone'], width: 18, note: 'Optional. Digits, spaces, + - ( ) . and an extension.' },
  { key: 'groups', header: 'Groups', width: 22, note: 'Optional. Separate groups with ; — on update the list replaces the old one.' },
  { key: 'authType', header: 'Authentication Type', width: 20, note: 'Optional: Local, Corporate or SAML (default Local).' },
  { key: 'managedAppleId', header: 'Managed Apple ID', aliases: ['Managed Apple Account', 'MAID'], width: 34, note: "Optional. The user's Managed Apple ID, e.g. jane@appleid.example.com; it must be unique." },
];

/** Export-only columns, after the template's; import ignores them. */
export const USER_EXPORT_EXTRA: SheetColumn[] = [
  { header: 'User ID', width: 38 },
  { header: 'Status', width: 10 },
  { header: 'Created', width: 24 },
  { header: 'Updated', width: 24 },
  { header: 'Devices', width: 9 },
];

export const USER_TEMPLATE_COLUMNS: SheetColumn[] = USER_FILE_COLUMNS.map((c) => ({ header: c.header, width: c.width }));
export const USER_EXPORT_COLUMNS: SheetColumn[] = [...USER_TEMPLATE_COLUMNS, ...USER_EXPORT_EXTRA];

const AUTH_LABEL: Record<User['authType'], string> = { local: 'Local', corporate: 'Corporate', saml: 'SAML' };

/** One user as an export row (raw values; the writer neutralises formulas). */
export function userExportRow([username, domain, email, fullName, phone, groups, authType, maid, id, status, createdAt, updatedAt, devices]: UserTuple): string[] {
  return [username, domain, email, fullName, phone, groups.join(';'), AUTH_LABEL[authType], maid ?? '', id, status === 'active' ? 'Active' : 'Disabled', createdAt, updatedAt, String(devices)];
}

export const USER_TEMPLATE_EXAMPLE = ['jane.doe', 'example.com', 'jane.doe@example.com', 'Jane Doe', '+1 555 0100', 'Sales;EMEA', 'Local', 'jane.doe@appleid.example.com'];

export const USER_TEMPLATE_INSTRUCTIONS: string[][] = [
  ['Bulk Upload Users'],
  ['Fill in the Users sheet, one user per row, and import it in Users ▸ Directory ▸ Bulk Import Users.'],
  ['The first row is the header; keep its names (case does not matter). Columns you do not need can be left out.'],
  ['An empty cell leaves the stored value unchanged; a cell holding only - clears an optional field.'],
  ['Row 2 is an example: replace it or delete it. Left as it is, it is not imported (it fails as TEMPLATE_EXAMPLE).'],
  [''],
  ['Column', 'How to fill it'],
  ...USER_FILE_COLUMNS.map((c) => [c.header + (c.aliases?.length ? ` (also: ${c.aliases.join(', ')})` : ''), c.note]),
];
