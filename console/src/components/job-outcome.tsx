import { Alert, Badge, Button, Code, Group, Progress, Stack, Table, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { parse } from 'csv-parse/browser/esm/sync';
import type { Job } from '../api';

const STATUS_COLOR: Record<Job['status'], string> = { queued: 'gray', running: 'blue', succeeded: 'teal', failed: 'red', cancelled: 'orange' };

/** A job's badge colour: a job that succeeded with failed rows asks for a look. */
export const jobColor = (job: Job) => (job.status === 'succeeded' && job.counts.failed > 0 ? 'yellow' : STATUS_COLOR[job.status]);

/** A job that applied no row (its file was refused, or it was cancelled first) has no results to give. */
export const hasResults = (job: Job) => job.progress.processed > 0;

/** Each kind of job in words: its name, and the counts its rows end in (users: Created/Updated/Unchanged; requests: Created/Refreshed). */
export const JOB_KIND: Record<Job['kind'], { label: string; counts: (keyof Job['counts'])[]; done: string; doneWithFailures: string; allApplied: string; resultsNote?: string }> = {
  users_import: {
    label: 'Users import',
    counts: ['created', 'updated', 'unchanged', 'failed'],
    done: 'Imported',
    doneWithFailures: 'Imported, with rows that failed',
    allApplied: 'Every row was applied.',
  },
  enrollment_bulk_add: {
    label: 'Bulk Add',
    counts: ['created', 'refreshed', 'failed'],
    done: 'Requests added',
    doneWithFailures: 'Requests added, with rows that failed',
    allApplied: 'Every row made or refreshed a request.',
    resultsNote: 'Rows with Notify None carry their enrollment URL and passcode in the results file: keep it as safe as the passcodes themselves.',
  },
};

const COUNT_LOOK: Record<keyof Job['counts'], [string, string]> = {
  created: ['Created', 'teal'],
  updated: ['Updated', 'blue'],
  unchanged: ['Unchanged', 'gray'],
  refreshed: ['Refreshed', 'blue'],
  failed: ['Failed', 'red'],
};

/** A job's counts in one line, the non-zero ones only (e.g. "40 created, 2 refreshed"). */
export function countsInWords(job: Job): string {
  const words = JOB_KIND[job.kind].counts.filter((k) => k !== 'failed' && job.counts[k] > 0).map((k) => `${job.counts[k].toLocaleString()} ${k}`);
  return words.join(', ') || '—';
}

export function JobProgress({ job }: { job: Job }) {
  const total = job.progress.total;
  const pct = total ? Math.round((job.progress.processed / total) * 100) : 0;
  return (
    <Stack gap={6}>
      <Group justify="space-between">
        <Text size="sm">
          {job.status === 'queued' ? 'Waiting to start…' : total === null ? 'Checking the file…' : `${job.progress.processed.toLocaleString()} of ${total.toLocaleString()} rows`}
        </Text>
        <Text size="sm" c="dimmed">{total ? `${pct}%` : ''}</Text>
      </Group>
      <Progress value={total ? pct : 100} animated={!total || job.status === 'running'} striped={!total} aria-label="Import progress" />
      <Counts job={job} />
    </Stack>
  );
}

export function Counts({ job }: { job: Job }) {
  return (
    <Group gap="xs" data-testid="job-counts">
      {JOB_KIND[job.kind].counts.map((k) => (
        <Badge key={k} variant="light" color={COUNT_LOOK[k][1]} size="lg">{COUNT_LOOK[k][0]}: {job.counts[k].toLocaleString()}</Badge>
      ))}
    </Group>
  );
}

/** The end of an import: what happened, the failed rows, and the results file (`tall`: the failures may fill a side panel). */
export function JobOutcome({ job, tall = false }: { job: Job; tall?: boolean }) {
  const kind = JOB_KIND[job.kind];
  const failures = useQuery({
    queryKey: ['job-failures', job.id],
    enabled: job.counts.failed > 0,
    queryFn: async () => {
      const res = await fetch(`/api/v1/jobs/${job.id}/results?failed=true`, { credentials: 'same-origin' });
      const rows = parse(await res.text(), { bom: true, relax_column_count: true }) as string[][];
      const [header, ...lines] = rows;
      const at = (name: string) => header!.indexOf(name);
      return lines.slice(0, 100).map((l) => ({ row: l[at('Row')]!, code: l[at('Code')]!, message: l[at('Message')]! }));
    },
  });
  return (
    <Stack gap="sm">
      {job.status === 'failed' && job.error && (
        <Alert color="red" title={hasResults(job) ? 'Stopped; the rows before it were applied' : 'The file was refused; nothing was changed'} role="alert">
          {job.error.message}
          {job.error.line ? ` (line ${job.error.line})` : ''}
        </Alert>
      )}
      {job.status === 'succeeded' && (
        <Alert color={job.counts.failed ? 'yellow' : 'teal'} title={job.counts.failed ? kind.doneWithFailures : kind.done}>
          {job.counts.failed ? 'The other rows were applied. Fix the failed rows and upload them again.' : kind.allApplied}
        </Alert>
      )}
      {job.status === 'cancelled' && <Alert color="orange" title="Cancelled">{hasResults(job) ? 'The rows applied before the cancel stay.' : 'No row was applied.'}</Alert>}
      {hasResults(job) && <Counts job={job} />}
      {job.warnings.map((w) => (
        <Text key={w} size="sm" c="yellow.8">{w}</Text>
      ))}
      {job.counts.failed > 0 && failures.data && (
        <Table.ScrollContainer minWidth={480} mah={tall ? 'calc(100vh - 380px)' : 260}>
          <Table striped verticalSpacing={4} data-testid="job-failures">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={60}>Row</Table.Th>
                <Table.Th>Code</Table.Th>
                <Table.Th>Message</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {failures.data.map((f) => (
                <Table.Tr key={f.row}>
                  <Table.Td>{f.row}</Table.Td>
                  <Table.Td style={{ whiteSpace: 'nowrap' }}><Code c="red.8">{f.code}</Code></Table.Td>
                  <Table.Td><Text size="sm">{f.message}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {hasResults(job) && (
        <Group gap="sm" wrap="nowrap" align="center">
          <Button component="a" href={`/api/v1/jobs/${job.id}/results`} download variant="light" style={{ flexShrink: 0 }}>Download results</Button>
          {kind.resultsNote && <Text size="xs" c="dimmed">{kind.resultsNote}</Text>}
        </Group>
      )}
    </Stack>
  );
}
