import type { ColumnSpec } from '../bulk/columns.js';
import type { SheetColumn } from '../bulk/writers.js';
import { COLUMNS } from './model.js';

/** The Bulk Add columns (DESIGN.md "File formats"), in file order. */
export type RequestColumn = keyof typeof COLUMNS;

export const REQUEST_FILE_COLUMNS: readonly ColumnSpec<RequestColumn>[] = [
  { key: 'username', header: COLUMNS.username, aliases: ['User Name'], required: true },
  { key: 'domain', header: COLUMNS.domain },
  { key: 'email', header: COLUMNS.email, aliases: ['Email'] },
  { key: 'phone', header: COLUMNS.phone, aliases: ['Phone'] },
  { key: 'platform', header: COLUMNS.platform, required: true },
  { key: 'ownership', header: COLUMNS.ownership, required: true },
  { key: 'userEnrollment', header: COLUMNS.userEnrollment, aliases: ['iOS User Enrollment', 'User Enrollment'] },
  { key: 'requestMode', header: COLUMNS.requestMode },
  { key: 'authMode', header: COLUMNS.authMode },
  { key: 'seamless', header: COLUMNS.seamless, aliases: ['Seamless'] },
  { key: 'notify', header: COLUMNS.notify },
  { key: 'comments', header: COLUMNS.comments, aliases: ['Comment'] },
];

/** Bulk Add's results carry the secrets of rows that notify nobody (Notify None): the only way they reach anyone. */
export const REQUEST_RESULT_EXTRA = ['Enrollment URL', 'Passcode'] as const;

export const REQUEST_TEMPLATE_COLUMNS: SheetColumn[] = REQUEST_FILE_COLUMNS.map((c) => ({ header: c.header }));

export const REQUEST_TEMPLATE_EXAMPLES: string[][] = [
  ['jane.doe', 'example.com', '', '', 'iOS', 'Employee Owned', 'Yes', '', '', 'No', 'Email', 'Her own iPhone, User Enrollment'],
  ['sam.lee', 'example.com', 'sam.lee@example.com', '+1 555 0100', 'macOS', 'Corporate Owned', 'No', '', '', '', 'Email+SMS', 'New MacBook'],
];
