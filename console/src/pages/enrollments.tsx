import { PageNav, useFilterParams, useKeysetCursor } from '../components/keyset';
import { useEffect, useRef, useState } from 'react';
import { Button, Group, Menu, Paper, Progress, Select, Stack, Text, TextInput, Tooltip } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import { IconChevronDown, IconFileSpreadsheet, IconMail, IconPlus, IconSearch, IconUpload } from '@tabler/icons-react';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, can, query, REQUEST_STATUS_LABEL, REQUEST_TYPES, type EnrollmentRequest, type OutboxSummary, type Page, type RequestStatus } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { EmptyState, ErrorState, LoadingState } from '../components/states';
import { BulkUploadDialog } from '../components/bulk-upload';
import { RequestsTable } from '../components/requests-table';
import { DeviceRequestForm } from './request-form';

const PAGE_SIZE = 50;

/** The enrollment notices leaving the outbox: queued, sent, failed; polled while any are queued. */
function OutboxStrip() {
  const qc = useQueryClient();
  const summary = useQuery({
    queryKey: ['outbox-summary', 'enrollment_notice'],
    queryFn: () => api<OutboxSummary>('GET', '/outbox/summary?kind=enrollment_notice'),
    refetchInterval: (q) => (q.state.data && q.state.data.queued > 0 ? 2000 : false),
    retry: false,
  });
  // A notice that failed for good turns its request Failed: refresh the list when the figures move.
  const last = useRef<string | null>(null);
  const s = summary.data;
  useEffect(() => {
    if (!s) return;
    const key = `${s.queued}/${s.failed}`;
    if (last.current !== null && last.current !== key) qc.invalidateQueries({ queryKey: ['enrollment-requests'] });
    last.current = key;
  }, [s, qc]);
  if (!s) return null;
  const total = s.queued + s.sent + s.failed;
  const figure = (label: string, n: number, color?: string) => (
    <Text size="sm" span>
      <Text span fw={700} c={color} data-testid={`outbox-${label}`}>{n.toLocaleString()}</Text> {label}
    </Text>
  );
  return (
    <Paper withBorder radius="md" px="md" py="xs" mb="md" data-testid="outbox-strip">
      <Group justify="space-between" gap="xs" wrap="wrap">
        <Group gap="xs" wrap="nowrap">
          <IconMail size={18} stroke={1.6} style={{ flexShrink: 0 }} />
          <Text size="sm" fw={600}>Notifications</Text>
        </Group>
        <Group gap="md" wrap="wrap">
          {figure('queued', s.queued, s.queued ? 'blue.7' : undefined)}
          {figure('sent', s.sent, 'teal.8')}
          {s.failed > 0 && s.lastError ? (
            <Tooltip label={`Last error: ${s.lastError}`} multiline maw={360} withArrow>
              <span>{figure('failed', s.failed, 'red.7')}</span>
            </Tooltip>
          ) : (
            figure('failed', s.failed, s.failed ? 'red.7' : undefined)
          )}
        </Group>
      </Group>
      {s.queued > 0 && total > 0 && (
        <Progress mt={6} size="sm" value={((s.sent + s.failed) / total) * 100} animated striped aria-label="Notifications sent" />
      )}
      {s.failed > 0 && s.lastError && (
        <Text size="xs" c="red.8" mt={4} truncate data-testid="outbox-last-error">Last error: {s.lastError}</Text>
      )}
    </Paper>
  );
}

/** Devices ▸ Enrollments: every enrollment request, Add Device Request and Bulk Add. */
export function EnrollmentsPage() {
  const session = useSession();
  const role = session.admin.role;
  const writable = can.writeRequests(role);
  const nav = useKeysetCursor();
  const [params, update] = useFilterParams(nav);
  const q = params.get('q') ?? '';
  const status = params.get('status');
  const requestType = params.get('requestType');
  const platform = params.get('platform');
  const [search, setSearch] = useState(q);
  const [debounced] = useDebouncedValue(search.trim(), 250);
  const [adding, setAdding] = useState(false);
  const [bulkAdding, setBulkAdding] = useState(false);
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;

  useEffect(() => {
    if (debounced !== q) update({ q: debounced || null });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const cursor = nav.cursor;
  const requests = useQuery({
    queryKey: ['enrollment-requests', q, status, requestType, platform, cursor],
    queryFn: () => api<Page<EnrollmentRequest>>('GET', `/enrollment-requests${query({ q, status, requestType, platform, limit: PAGE_SIZE, cursor })}`),
    placeholderData: keepPreviousData,
  });
  const filtered = !!(q || status || requestType || platform);
  const data = requests.data;

  let body;
  if (requests.isPending) body = <LoadingState rows={8} />;
  else if (requests.isError) body = <ErrorState error={requests.error} onRetry={() => requests.refetch()} />;
  else if (data!.items.length === 0)
    body = filtered ? (
      <EmptyState title="No requests match" action={<Button variant="light" onClick={() => { setSearch(''); update({ q: null, status: null, requestType: null, platform: null }); }}>Clear search and filters</Button>}>
        Try another search or filter.
      </EmptyState>
    ) : (
      <EmptyState title="No enrollment requests yet" action={writable && <Button onClick={() => setAdding(true)}>Add Device Request</Button>}>
        Invite a user to enrol an iPhone, iPad or Mac: one at a time here, or many at once with Other Enrollment Options ▸ Bulk Add.
      </EmptyState>
    );
  else
    body = (
      <Stack gap="xs">
        <RequestsTable items={data!.items} narrow={narrow} writable={writable} />
        <PageNav data={data!} nav={nav} pageSize={PAGE_SIZE} testId="requests-range" />
      </Stack>
    );

  return (
    <>
      <PageHeader
        title="Enrollments"
        description="Requests for users to enrol their devices, newest first."
        actions={
          writable && (
            <>
              {can.bulkAddRequests(role) && (
                <Menu position="bottom-end" withinPortal>
                  <Menu.Target>
                    <Button variant="default" rightSection={<IconChevronDown size={14} />}>Other Enrollment Options</Button>
                  </Menu.Target>
                  <Menu.Dropdown>
                    <Menu.Item leftSection={<IconUpload size={16} />} onClick={() => setBulkAdding(true)}>Bulk Add</Menu.Item>
                    <Menu.Divider />
                    <Menu.Label>Bulk Add sample file</Menu.Label>
                    <Menu.Item component="a" href="/api/v1/enrollment-requests/template?format=csv" download leftSection={<IconFileSpreadsheet size={16} />}>Download sample (CSV)</Menu.Item>
                    <Menu.Item component="a" href="/api/v1/enrollment-requests/template?format=txt" download leftSection={<IconFileSpreadsheet size={16} />}>Download sample (TXT)</Menu.Item>
                  </Menu.Dropdown>
                </Menu>
              )}
              <Button leftSection={<IconPlus size={16} />} onClick={() => setAdding(true)}>Add Device Request</Button>
            </>
          )
        }
      />
      <OutboxStrip />
      <Group mb="md" gap="sm" align="flex-end" wrap="wrap">
        <TextInput
          aria-label="Search requests"
          placeholder="Search username, email or Managed Apple ID"
          leftSection={<IconSearch size={16} />}
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          style={{ flex: '2 1 340px' }}
        />
        <Select
          label="Status"
          placeholder="Any"
          clearable
          data={(Object.keys(REQUEST_STATUS_LABEL) as RequestStatus[]).map((s) => ({ value: s, label: REQUEST_STATUS_LABEL[s] }))}
          value={status}
          onChange={(v) => update({ status: v })}
          style={{ flex: '1 1 140px' }}
        />
        <Select
          label="Request Type"
          placeholder="Any"
          clearable
          data={REQUEST_TYPES}
          value={requestType}
          onChange={(v) => update({ requestType: v })}
          style={{ flex: '1 1 230px' }}
        />
        <Select
          label="Platform"
          placeholder="Any"
          clearable
          data={[{ value: 'ios', label: 'iOS' }, { value: 'macos', label: 'macOS' }]}
          value={platform}
          onChange={(v) => update({ platform: v })}
          style={{ flex: '1 1 120px' }}
        />
      </Group>
      {body}
      <DeviceRequestForm opened={adding} onClose={() => setAdding(false)} />
      <BulkUploadDialog
        opened={bulkAdding}
        onClose={() => setBulkAdding(false)}
        title="Bulk Add"
        endpoint="/enrollment-requests/bulk"
        intro={
          <>
            Send many enrollment requests at once: download the sample file, fill in one row per user and device, set
            <b> Enroll Using iOS User Enrollment</b> to Yes or No on each row, and upload it. A user with a Pending request for the same platform gets
            that request refreshed. Rows with Notify <b>None</b> get their URL and passcode in the results file only.
          </>
        }
        templates={[
          { label: 'Sample file (CSV)', href: '/api/v1/enrollment-requests/template?format=csv' },
          { label: 'Sample file (TXT)', href: '/api/v1/enrollment-requests/template?format=txt' },
        ]}
        types={['csv', 'txt']}
        dropTitle="Drop a CSV or TXT file here, or click to choose one"
        dropHint="UTF-8, UTF-16 or Windows-1252; comma, semicolon or tab separated"
        invalidate={[['enrollment-requests'], ['outbox-summary'], ['users']]}
        runningVerb="Adding requests from"
        againLabel="Add another file"
        cancelLabel="Cancel Bulk Add"
      />
    </>
  );
}
