import { useEffect, useState } from 'react';
import { Alert, Anchor, Button, Group, Modal, Progress, Stack, Text } from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import { IconFileSpreadsheet, IconUpload, IconX } from '@tabler/icons-react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, jobFinished, uploadFile, type Job } from '../api';
import { JobOutcome, JobProgress } from '../components/job-outcome';

const ACCEPT = {
  'text/csv': ['.csv'],
  'text/plain': ['.txt', '.csv'],
  'application/vnd.ms-excel': ['.csv'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['.xlsx'],
};

/** Users ▸ Directory ▸ More ▸ Bulk Import Users: upload, live progress, outcome. */
export function BulkImportDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [uploading, setUploading] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const job = useQuery({
    queryKey: ['job', jobId],
    enabled: !!jobId,
    queryFn: () => api<Job>('GET', `/jobs/${jobId}`),
    refetchInterval: (q) => (q.state.data && jobFinished(q.state.data) ? false : 500),
  });
  const finished = job.data && jobFinished(job.data);
  useEffect(() => {
    if (finished) {
      qc.invalidateQueries({ queryKey: ['users'] });
      qc.invalidateQueries({ queryKey: ['users-summary'] });
      qc.invalidateQueries({ queryKey: ['jobs'] });
    }
  }, [finished, qc]);
  const reset = () => {
    setUploading(null);
    setError(null);
    setJobId(null);
  };
  const close = () => {
    if (!jobId || finished) reset();
    onClose();
  };
  const start = async (file: File) => {
    setError(null);
    setUploading(0);
    try {
      const created = await uploadFile('/users/imports', file, { idempotencyKey: crypto.randomUUID(), onProgress: setUploading });
      setJobId(created.id);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setUploading(null);
    }
  };
  return (
    <Modal opened={opened} onClose={close} title="Bulk Import Users" size="lg" centered>
      <Stack>
        {!jobId && (
          <>
            <Text size="sm">
              Add or update many users at once, and link their Managed Apple IDs: download the template (or export the directory), fill in the
              <b> Managed Apple ID</b> column, and import the file. Existing users (same Username and Domain) are updated; an empty cell changes nothing.
            </Text>
            <Group gap="md">
              <Anchor href="/api/v1/users/template?format=csv" download size="sm">Template (CSV)</Anchor>
              <Anchor href="/api/v1/users/template?format=xlsx" download size="sm">Template (Excel)</Anchor>
            </Group>
            {error && <Alert color="red" role="alert">{error}</Alert>}
            {uploading !== null ? (
              <Stack gap={4}>
                <Text size="sm">Uploading… {Math.round(uploading * 100)}%</Text>
                <Progress value={uploading * 100} aria-label="Upload progress" />
              </Stack>
            ) : (
              <Dropzone onDrop={(files) => files[0] && start(files[0])} onReject={() => setError('Choose one .csv, .txt or .xlsx file.')} accept={ACCEPT} maxFiles={1} multiple={false} data-testid="import-dropzone">
                <Group justify="center" gap="md" mih={120} style={{ pointerEvents: 'none' }}>
                  <Dropzone.Accept><IconUpload size={40} /></Dropzone.Accept>
                  <Dropzone.Reject><IconX size={40} /></Dropzone.Reject>
                  <Dropzone.Idle><IconFileSpreadsheet size={40} stroke={1.4} /></Dropzone.Idle>
                  <div>
                    <Text fw={600}>Drop a CSV, TXT or Excel file here, or click to choose one</Text>
                    <Text size="sm" c="dimmed">Excel (.xlsx): the Users sheet. CSV/TXT: UTF-8, UTF-16 or Windows-1252; comma, semicolon or tab separated</Text>
                  </div>
                </Group>
              </Dropzone>
            )}
          </>
        )}
        {jobId && job.data && !finished && (
          <>
            <Text size="sm">Importing <b>{job.data.fileName}</b>. You can close this window; the import goes on and is listed under Jobs.</Text>
            <JobProgress job={job.data} />
            <Group justify="flex-end">
              <Button variant="default" color="red" disabled={job.data.cancelRequested} onClick={() => api('POST', `/jobs/${jobId}/cancel`).then(() => job.refetch())}>
                {job.data.cancelRequested ? 'Stopping…' : 'Cancel import'}
              </Button>
            </Group>
          </>
        )}
        {jobId && job.data && finished && (
          <>
            <JobOutcome job={job.data} />
            <Group justify="space-between">
              <Button component="a" href={`/api/v1/jobs/${jobId}/results`} download variant="light">Download results</Button>
              <Group gap="xs">
                <Button variant="default" onClick={reset}>Import another file</Button>
                <Button onClick={close}>Done</Button>
              </Group>
            </Group>
          </>
        )}
      </Stack>
    </Modal>
  );
}
