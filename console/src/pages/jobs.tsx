import { useState } from 'react';
import { Badge, Button, Drawer, Group, Stack, Table, Text } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, can, formatTime, jobFinished, type Job, type Page } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { EmptyState, ErrorState, LoadingState } from '../components/states';
import { countsInWords, hasResults, JOB_KIND, jobColor, JobOutcome, JobProgress } from '../components/job-outcome';

export function JobsPage() {
  const session = useSession();
  const qc = useQueryClient();
  const [open, setOpen] = useState<string | null>(null);
  const jobs = useQuery({
    queryKey: ['jobs'],
    queryFn: () => api<Page<Job>>('GET', '/jobs?limit=100'),
    refetchInterval: (q) => (q.state.data?.items.some((j) => !jobFinished(j)) ? 1000 : false),
  });
  const current = jobs.data?.items.find((j) => j.id === open) ?? null;
  let body;
  if (jobs.isPending) body = <LoadingState />;
  else if (jobs.isError) body = <ErrorState error={jobs.error} onRetry={() => jobs.refetch()} />;
  else if (!jobs.data.items.length)
    body = <EmptyState title="No jobs yet">Bulk Import Users (Users ▸ Directory ▸ More) and Bulk Add (Devices ▸ Enrollments ▸ Other Enrollment Options) list their jobs here.</EmptyState>;
  else
    body = (
      <Table.ScrollContainer minWidth={940}>
        <Table highlightOnHover verticalSpacing="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>File</Table.Th>
              <Table.Th>Kind</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Rows</Table.Th>
              <Table.Th>Applied</Table.Th>
              <Table.Th>Failed</Table.Th>
              <Table.Th>Started by</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th aria-label="Actions" />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {jobs.data.items.map((j) => (
              <Table.Tr key={j.id} data-testid={`job-row-${j.fileName}`} style={{ cursor: 'pointer' }} onClick={() => setOpen(j.id)}>
                <Table.Td maw={260}><Text size="sm" fw={500} truncate title={j.fileName}>{j.fileName}</Text></Table.Td>
                <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }}>{JOB_KIND[j.kind].label}</Text></Table.Td>
                <Table.Td style={{ whiteSpace: 'nowrap' }}><Badge color={jobColor(j)} variant="light" style={{ overflow: 'visible', flexShrink: 0 }} styles={{ label: { overflow: 'visible' } }}>{j.status}</Badge></Table.Td>
                <Table.Td style={{ whiteSpace: 'nowrap' }}><Text size="sm">{j.progress.processed.toLocaleString()}{j.progress.total !== null ? ` / ${j.progress.total.toLocaleString()}` : ''}</Text></Table.Td>
                <Table.Td><Text size="sm" data-testid="job-applied">{countsInWords(j)}</Text></Table.Td>
                <Table.Td><Text size="sm" c={j.counts.failed ? 'red' : undefined}>{j.counts.failed.toLocaleString()}</Text></Table.Td>
                <Table.Td><Text size="sm">{j.requestedBy.label}</Text></Table.Td>
                <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }}>{formatTime(j.createdAt)}</Text></Table.Td>
                <Table.Td onClick={(e) => e.stopPropagation()}>
                  <Group gap={4} wrap="nowrap" justify="flex-end">
                    {!jobFinished(j) && can.writeUsers(session.admin.role) && (
                      <Button size="xs" variant="subtle" color="red" disabled={j.cancelRequested} onClick={() => api('POST', `/jobs/${j.id}/cancel`).then(() => qc.invalidateQueries({ queryKey: ['jobs'] }))}>
                        {j.cancelRequested ? 'Stopping…' : 'Cancel'}
                      </Button>
                    )}
                    {jobFinished(j) && hasResults(j) && <Button size="xs" variant="subtle" component="a" href={`/api/v1/jobs/${j.id}/results`} download>Results</Button>}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    );
  return (
    <>
      <PageHeader title="Jobs" description="Users imports and Bulk Adds of this account, newest first. Each keeps its results file." />
      {body}
      <Drawer opened={!!current} onClose={() => setOpen(null)} title={current?.fileName} position="right" size="lg">
        {current && (
          <Stack>
            <Text size="sm" c="dimmed">{JOB_KIND[current.kind].label} · started by {current.requestedBy.label} · {formatTime(current.createdAt)}</Text>
            {jobFinished(current) ? <JobOutcome job={current} tall /> : <JobProgress job={current} />}
          </Stack>
        )}
      </Drawer>
    </>
  );
}
