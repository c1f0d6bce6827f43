import { useState } from 'react';
import { Badge, Button, Code, Drawer, Group, ScrollArea, Select, SimpleGrid, Stack, Table, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useInfiniteQuery } from '@tanstack/react-query';
import { api, formatTime, query, type AuditEvent, type Page } from '../api';
import { PageHeader } from '../components/page';
import { EmptyState, ErrorState, LoadingState } from '../components/states';

const ACTIONS = [
  'session.sign_in', 'session.sign_in_failed', 'session.sign_out', 'account.create', 'account.update',
  'admin.create', 'admin.update', 'admin.delete', 'token.create', 'token.delete', 'user.create', 'user.update', 'user.delete',
];

const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function AuditPage() {
  const [action, setAction] = useState<string | null>(null);
  const [actor, setActor] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const [actorQ] = useDebouncedValue(actor.trim(), 300);
  const filters = { action: action ?? undefined, actor: actorQ || undefined, from: toIso(from), to: toIso(to) };
  const events = useInfiniteQuery({
    queryKey: ['audit', filters],
    queryFn: ({ pageParam }) => api<Page<AuditEvent>>('GET', `/audit${query({ ...filters, limit: 50, cursor: pageParam })}`),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const items = events.data?.pages.flatMap((p) => p.items) ?? [];
  const first = events.data?.pages[0];
  const filtered = !!(action || actorQ || from || to);

  return (
    <>
      <PageHeader title="Audit log" description="Every admin write, sign-in and sign-out, newest first. Nothing here can be changed or deleted." />
      <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} mb="md">
        <Select label="Action" placeholder="Any action" data={ACTIONS} value={action} onChange={setAction} clearable searchable />
        <TextInput label="Actor" placeholder="Admin email or id" value={actor} onChange={(e) => setActor(e.currentTarget.value)} />
        <TextInput label="From" type="datetime-local" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        <TextInput label="To" type="datetime-local" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
      </SimpleGrid>
      {events.isPending ? (
        <LoadingState rows={8} />
      ) : events.isError ? (
        <ErrorState error={events.error} onRetry={() => events.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState title={filtered ? 'No events match these filters' : 'No events yet'}>{filtered ? 'Try a wider time range or another action.' : undefined}</EmptyState>
      ) : (
        <Stack>
          <Text size="sm" c="dimmed">
            {first!.totalCapped ? 'More than 10,000 events' : `${first!.total.toLocaleString()} event${first!.total === 1 ? '' : 's'}`}
          </Text>
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
                  <Table.Tr key={e.id} onClick={() => setOpen(e)} style={{ cursor: 'pointer' }} data-testid="audit-row">
                    <Table.Td><Text size="sm">{formatTime(e.at)}</Text></Table.Td>
                    <Table.Td><Text size="sm">{e.actor.label}</Text></Table.Td>
                    <Table.Td><Badge variant="light" color={e.action.endsWith('failed') ? 'red' : e.action.endsWith('delete') ? 'orange' : 'blue'}>{e.action}</Badge></Table.Td>
                    <Table.Td><Text size="sm" c="dimmed">{e.objectType ? `${e.objectType} …${e.objectId?.slice(-8) ?? ''}` : '—'}</Text></Table.Td>
                    <Table.Td><Text size="sm" c="dimmed">{e.ip ?? '—'}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {events.hasNextPage && (
            <Group justify="center">
              <Button variant="default" loading={events.isFetchingNextPage} onClick={() => events.fetchNextPage()}>Load more</Button>
            </Group>
          )}
        </Stack>
      )}
      <Drawer opened={!!open} onClose={() => setOpen(null)} title={open?.action} position="right" size="lg">
        {open && (
          <Stack gap="sm">
            <Text size="sm"><b>When:</b> {new Date(open.at).toLocaleString()}</Text>
            <Text size="sm"><b>Actor:</b> {open.actor.label} ({open.actor.type})</Text>
            <Text size="sm"><b>From:</b> {open.ip ?? '—'}</Text>
            <Text size="sm"><b>Object:</b> {open.objectType ?? '—'} {open.objectId ?? ''}</Text>
            <Text size="sm"><b>Request:</b> {open.requestId ?? '—'}</Text>
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
