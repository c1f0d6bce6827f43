import { BulkUploadDialog } from '../components/bulk-upload';

/** Users ▸ Directory ▸ More ▸ Bulk Import Users: upload, live progress, outcome. */
export function BulkImportDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  return (
    <BulkUploadDialog
      opened={opened}
      onClose={onClose}
      title="Bulk Import Users"
      endpoint="/users/imports"
      intro={
        <>
          Add or update many users at once, and link their Managed Apple IDs: download the template (or export the directory), fill in the
          <b> Managed Apple ID</b> column, and import the file. Existing users (same Username and Domain) are updated; an empty cell changes nothing.
        </>
      }
      templates={[
        { label: 'Template (CSV)', href: '/api/v1/users/template?format=csv' },
        { label: 'Template (Excel)', href: '/api/v1/users/template?format=xlsx' },
      ]}
      types={['csv', 'txt', 'xlsx']}
      dropTitle="Drop a CSV, TXT or Excel file here, or click to choose one"
      dropHint="Excel (.xlsx): the Users sheet. CSV/TXT: UTF-8, UTF-16 or Windows-1252; comma, semicolon or tab separated"
      invalidate={[['users'], ['users-summary']]}
      runningVerb="Importing"
      againLabel="Import another file"
      cancelLabel="Cancel import"
    />
  );
}
