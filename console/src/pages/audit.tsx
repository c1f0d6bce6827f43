import { useState } from 'react';
import { Badge, Button, Card, Code, Drawer, Group, ScrollArea, Select, SimpleGrid, Stack, Table, Text, TextInput } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import { keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { api, formatTime, query, type AuditEvent, type Page } from '../api';
import { PageHeader } from '../components/page';
import { EmptyState, ErrorState, LoadingState } from '../components/states';

const ACTIONS = [
  'session.sign_in', 'session.sign_in_failed', 'session.sign_out', 'account.create', 'account.update',
  'admin.create', 'admin.update', 'admin.delete', 'token.create', 'token.delete', 'user.create', 'user.update', 'user.delete',
  'user.export', 'import.start', 'import.cancel',
];

function ActionBadge({ action }: { action: string }) {
  const color = action.endsWith('failed') ? 'red' : action.endsWith('delete') ? 'orange' : action.startsWith('session.') ? 'gray' : 'blue';
  return <Badge variant="light" color={color} tt="none" style={{ flexShrink: 0 }}>{action}</Badge>;
}

/** The fields an update changed, old and new side by side. */
function Changes({ before, after }: { before: Record<string, unknown>; after: Record<string, unknown> }) {
  const show = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== 'updatedAt' && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  if (keys.length === 0) return null;
  return (
    <div>
      <Text fw={600} size="sm" mb={4}>Changed</Text>
      <Table.ScrollContainer minWidth={320}>
        <Table withTableBorder verticalSpacing={4} fz="xs" data-testid="audit-changes">
          <Table.Thead>
            <Table.Tr><Table.Th>Field</Table.Th><Table.Th>Before</Table.Th><Table.Th>After</Table.Th></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {keys.map((k) => (
              <Table.Tr key={k}>
                <Table.Td><Code>{k}</Code></Table.Td>
                <Table.Td style={{ overflowWrap: 'anywhere' }}>{show(before[k])}</Table.Td>
                <Table.Td style={{ overflowWrap: 'anywhere' }}>{show(after[k])}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </div>
  );
}

const objectLabel = (e: AuditEvent) => (e.objectType ? `${e.objectType} …${e.objectId?.slice(-8) ?? ''}` : '—');

/** A datetime-local value as an ISO instant; `end` takes the last millisecond of that minute, so "to 10:05" includes 10:05:30. */
const toIso = (local: string, end = false) => {
  if (!local) return undefined;
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return undefined;
  return new Date(d.getTime() + (end ? 59_999 : 0)).toISOString();
};

export function AuditPage() {
  const [action, setAction] = useState<string | null>(null);
  const [actor, setActor] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const [actorQ] = useDebouncedValue(actor.trim(), 300);
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;
  const filters = { action: action ?? undefined, actor: actorQ || undefined, from: toIso(from), to: toIso(to, true) };
  const badRange = !!(filters.from && filters.to && filters.from > filters.to);
  const events = useInfiniteQuery({
    queryKey: ['audit', filters],
    enabled: !badRange,
    placeholderData: keepPreviousData,
    queryFn: ({ pageParam }) => api<Page<AuditEvent>>('GET', `/audit${query({ ...filters, limit: 50, cursor: pageParam })}`),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const items = events.data?.pages.flatMap((p) => p.items) ?? [];
  const first = events.data?.pages[0];
  const filtered = !!(action || actor || from || to);

  return (
    <>
      <PageHeader title="Audit log" description="Every admin write, sign-in and sign-out, newest first. Nothing here can be changed or deleted." />
      <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} mb="md">
        <Select label="Action" placeholder="Any action" data={ACTIONS} value={action} onChange={setAction} clearable searchable />
        <TextInput label="Actor" placeholder="Admin email or id" value={actor} onChange={(e) => setActor(e.currentTarget.value)} />
        <TextInput label="From" type="datetime-local" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        <TextInput label="To" type="datetime-local" value={to} error={badRange ? 'Must be after From' : undefined} onChange={(e) => setTo(e.currentTarget.value)} />
      </SimpleGrid>
      {filtered && (
        <Group justify="flex-end" mt={-8} mb="sm">
          <Button variant="subtle" size="compact-sm" onClick={() => { setAction(null); setActor(''); setFrom(''); setTo(''); }}>
            Clear filters
          </Button>
        </Group>
      )}
      {badRange ? (
        <EmptyState title="No events match these filters">The start of the range is after its end.</EmptyState>
      ) : events.isPending ? (
        <LoadingState rows={8} />
      ) : events.isError ? (
        <ErrorState error={events.error} onRetry={() => events.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState title={filtered ? 'No events match these filters' : 'No events yet'}>{filtered ? 'Try a wider time range or another action.' : undefined}</EmptyState>
      ) : (
        <Stack style={{ opacity: events.isPlaceholderData ? 0.6 : 1, transition: "opacity 120ms" }} aria-busy={events.isPlaceholderData}>
          <Text size="sm" c="dimmed">
            {first!.totalCapped ? 'More than 10,000 events' : `${first!.total.toLocaleString()} event${first!.total === 1 ? '' : 's'}`}
          </Text>
          {narrow ? (
            <Stack gap="xs">
              {items.map((e) => (
                <Card key={e.id} withBorder padding="sm" data-testid="audit-row" component="button" type="button" onClick={() => setOpen(e)} style={{ cursor: 'pointer', textAlign: 'left' }}>
                  <Group justify="space-between" wrap="nowrap" gap="xs">
                    <ActionBadge action={e.action} />
                    <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>{formatTime(e.at)}</Text>
                  </Group>
                  <Text size="sm" mt={6} truncate>{e.actor.label}</Text>
                  <Text size="xs" c="dimmed" truncate>{objectLabel(e)}{e.ip ? ` · ${e.ip}` : ''}</Text>
                </Card>
              ))}
            </Stack>
          ) : (
          <Table.ScrollContainer minWidth={760}>
            <Table highlightOnHover verticalSpacing="xs">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>Actor</Table.Th>
                  <Table.Th>Action</Table.Th>
                  <Table.Th>Object</Table.Th>
                  <Table.Th>From</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((e) => (
                  <Table.Tr
                    key={e.id}
                    onClick={() => setOpen(e)}
                    onKeyDown={(k) => (k.key === 'Enter' || k.key === ' ') && (k.preventDefault(), setOpen(e))}
                    tabIndex={0}
                    aria-label={`${e.action} by ${e.actor.label}, details`}
                    style={{ cursor: 'pointer' }}
                    data-testid="audit-row"
                  >
                    <Table.Td><Text size="sm">{formatTime(e.at)}</Text></Table.Td>
                    <Table.Td><Text size="sm">{e.actor.label}</Text></Table.Td>
                    <Table.Td><ActionBadge action={e.action} /></Table.Td>
                    <Table.Td><Text size="sm" c="dimmed">{objectLabel(e)}</Text></Table.Td>
                    <Table.Td><Text size="sm" c="dimmed">{e.ip ?? '—'}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          )}
          {events.hasNextPage && (
            <Group justify="center">
              <Button variant="default" loading={events.isFetchingNextPage} onClick={() => events.fetchNextPage()}>Load more</Button>
            </Group>
          )}
        </Stack>
      )}
      <Drawer opened={!!open} onClose={() => setOpen(null)} title={open?.action} position="right" size={narrow ? "100%" : "lg"}>
        {open && (
          <Stack gap="sm">
            <Text size="sm"><b>When:</b> {new Date(open.at).toLocaleString()}</Text>
            <Text size="sm"><b>Actor:</b> {open.actor.label} ({open.actor.type})</Text>
            <Text size="sm"><b>From:</b> {open.ip ?? '—'}</Text>
            <Text size="sm"><b>Object:</b> {open.objectType ?? '—'} {open.objectId ?? ''}</Text>
            <Text size="sm"><b>Request:</b> {open.requestId ?? '—'}</Text>
            {open.before && open.after && <Changes before={open.before} after={open.after} />}
            {(['before', 'after'] as const).map((k) => (
              <div key={k}>
                <Text fw={600} size="sm" mb={4}>{k === 'before' ? 'Before' : 'After'}</Text>
                {open[k] ? (
                  <ScrollArea.Autosize mah={300}>
                    <Code block>{JSON.stringify(open[k], null, 2)}</Code>
                  </ScrollArea.Autosize>
                ) : (
                  <Text size="sm" c="dimmed">—</Text>
                )}
              </div>
            ))}
          </Stack>
        )}
      </Drawer>
    </>
  );
}
