import { useEffect, useState, type ReactNode } from 'react';
import { Alert, Anchor, Button, Group, Modal, Progress, Stack, Text } from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import { IconFileSpreadsheet, IconUpload, IconX } from '@tabler/icons-react';
import { useQuery, useQueryClient, type QueryKey } from '@tanstack/react-query';
import { api, ApiError, jobFinished, uploadFile, type Job } from '../api';
import { JobOutcome, JobProgress } from './job-outcome';

/** The file types a dialog takes, as the dropzone's accept map and as words. */
export const FILE_TYPES = {
  csv: { 'text/csv': ['.csv'], 'application/vnd.ms-excel': ['.csv'] },
  txt: { 'text/plain': ['.txt', '.csv'] },
  xlsx: { 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['.xlsx'] },
} as const;

export interface BulkUploadProps {
  opened: boolean;
  onClose: () => void;
  /** The dialog's title, e.g. "Bulk Import Users". */
  title: string;
  /** Where the file is POSTed (multipart `file`, with an Idempotency-Key); answers 202 with a job. */
  endpoint: string;
  /** What the dialog does and how to fill the file in. */
  intro: ReactNode;
  templates: { label: string; href: string }[];
  types: (keyof typeof FILE_TYPES)[];
  /** The dropzone's two lines. */
  dropTitle: string;
  dropHint: string;
  /** The queries to refresh once the job has finished. */
  invalidate: QueryKey[];
  /** Words of the running and finished states, e.g. "Importing" and "Import another file". */
  runningVerb: string;
  againLabel: string;
  cancelLabel: string;
}

/**
 * One dialog for every file-driven job (Bulk Import Users, Bulk Add requests): template links,
 * drop or pick a file, upload progress, the job's live progress, then its outcome and results file.
 */
export function BulkUploadDialog(props: BulkUploadProps) {
  const { opened, onClose } = props;
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
    if (!finished) return;
    for (const key of props.invalidate) qc.invalidateQueries({ queryKey: key });
    qc.invalidateQueries({ queryKey: ['jobs'] });
    // eslint-disable-next-line react-hooks/exhaustive-deps
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
      const created = await uploadFile(props.endpoint, file, { idempotencyKey: crypto.randomUUID(), onProgress: setUploading });
      setJobId(created.id);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setUploading(null);
    }
  };
  const accept = Object.assign({}, ...props.types.map((t) => FILE_TYPES[t])) as Record<string, string[]>;
  const typeWords = props.types.map((t) => `.${t}`).join(', ').replace(/, ([^,]*)$/, ' or $1');
  return (
    <Modal opened={opened} onClose={close} title={props.title} size="lg" centered>
      <Stack>
        {!jobId && (
          <>
            <Text size="sm" component="div">{props.intro}</Text>
            <Group gap="md">
              {props.templates.map((t) => (
                <Anchor key={t.href} href={t.href} download size="sm">{t.label}</Anchor>
              ))}
            </Group>
            {error && <Alert color="red" role="alert">{error}</Alert>}
            {uploading !== null ? (
              <Stack gap={4}>
                <Text size="sm">Uploading… {Math.round(uploading * 100)}%</Text>
                <Progress value={uploading * 100} aria-label="Upload progress" />
              </Stack>
            ) : (
              <Dropzone onDrop={(files) => files[0] && start(files[0])} onReject={() => setError(`Choose one ${typeWords} file.`)} accept={accept} maxFiles={1} multiple={false} data-testid="import-dropzone">
                <Group justify="center" gap="md" mih={120} wrap="nowrap" style={{ pointerEvents: 'none' }}>
                  <Dropzone.Accept><IconUpload size={40} /></Dropzone.Accept>
                  <Dropzone.Reject><IconX size={40} /></Dropzone.Reject>
                  <Dropzone.Idle><IconFileSpreadsheet size={40} stroke={1.4} style={{ flexShrink: 0 }} /></Dropzone.Idle>
                  <div>
                    <Text fw={600}>{props.dropTitle}</Text>
                    <Text size="sm" c="dimmed">{props.dropHint}</Text>
                  </div>
                </Group>
              </Dropzone>
            )}
          </>
        )}
        {jobId && job.data && !finished && (
          <>
            <Text size="sm">{props.runningVerb} <b>{job.data.fileName}</b>. You can close this window; the job goes on and is listed under Jobs.</Text>
            <JobProgress job={job.data} />
            <Group justify="flex-end">
              <Button variant="default" color="red" disabled={job.data.cancelRequested} onClick={() => api('POST', `/jobs/${jobId}/cancel`).then(() => job.refetch())}>
                {job.data.cancelRequested ? 'Stopping…' : props.cancelLabel}
              </Button>
            </Group>
          </>
        )}
        {jobId && job.data && finished && (
          <>
            <JobOutcome job={job.data} />
            <Group justify="flex-end" gap="xs">
              <Button variant="default" onClick={reset}>{props.againLabel}</Button>
              <Button onClick={close}>Done</Button>
            </Group>
          </>
        )}
      </Stack>
    </Modal>
  );
}
