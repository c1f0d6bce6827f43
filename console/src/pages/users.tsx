import { PageNav, useFilterParams, useKeysetCursor } from '../components/keyset';
import { useEffect, useState } from 'react';
import { ActionIcon, Badge, Button, Card, Group, Menu, SegmentedControl, SimpleGrid, Stack, Table, Text, TextInput, UnstyledButton } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import { IconChevronDown, IconChevronUp, IconDots, IconDownload, IconFileSpreadsheet, IconPlus, IconSearch, IconSelector, IconUpload } from '@tabler/icons-react';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router';
import { api, can, query, type Page, type User, type UserSummary } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { ConfirmModal } from '../components/confirm';
import { EmptyState, ErrorState, LoadingState } from '../components/states';
import { UserForm } from './user-form';
import { BulkImportDialog } from './bulk-import';
import { DeviceRequestForm } from './request-form';

const PAGE_SIZE = 50;
type SortKey = 'username' | 'fullName' | 'email' | 'managedAppleId' | 'createdAt';

export function MaidCell({ maid }: { maid: string | null }) {
  return maid ? (
    <Text size="sm" ff="monospace">{maid}</Text>
  ) : (
    <Badge color="orange" variant="light" data-testid="not-linked">Not linked</Badge>
  );
}

function SortHeader({ label, sortKey, sort, onSort }: { label: string; sortKey: SortKey; sort: string; onSort: (s: string) => void }) {
  const active = sort.replace('-', '') === sortKey;
  const desc = sort.startsWith('-');
  const Icon = !active ? IconSelector : desc ? IconChevronDown : IconChevronUp;
  return (
    <Table.Th aria-sort={active ? (desc ? 'descending' : 'ascending') : 'none'}>
      <UnstyledButton onClick={() => onSort(active && !desc ? `-${sortKey}` : sortKey)} style={{ display: 'flex', alignItems: 'center', gap: 4, fontWeight: 700, fontSize: 'var(--mantine-font-size-sm)', whiteSpace: 'nowrap' }}>
        {label}
        <Icon size={14} />
      </UnstyledButton>
    </Table.Th>
  );
}

function StatusBadge({ status }: { status: User['status'] }) {
  return <Badge color={status === 'active' ? 'teal' : 'gray'} variant="light" style={{ flexShrink: 0, overflow: 'visible' }}>{status === 'active' ? 'Active' : 'Disabled'}</Badge>;
}

function Figure({ label, value, color }: { label: string; value: number | undefined; color?: string }) {
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>{label}</Text>
      <Text fz={26} fw={700} c={color} data-testid={`figure-${label.toLowerCase().replace(/\s+/g, '-')}`}>{value === undefined ? '—' : value.toLocaleString()}</Text>
    </Card>
  );
}

export function UsersPage() {
  const session = useSession();
  const writable = can.writeUsers(session.admin.role);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const nav = useKeysetCursor();
  const [params, update] = useFilterParams(nav);
  const q = params.get('q') ?? '';
  const filter = params.get('managedAppleId') ?? 'any';
  const sort = params.get('sort') ?? 'username';
  const [search, setSearch] = useState(q);
  const [debounced] = useDebouncedValue(search.trim(), 250);
  const [adding, setAdding] = useState(false);
  const [importing, setImporting] = useState(false);
  const [editing, setEditing] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const [requesting, setRequesting] = useState<User | null>(null);
  const requests = can.writeRequests(session.admin.role);
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;

  useEffect(() => {
    if (debounced !== q) update({ q: debounced || null });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const userActions = (u: User) => (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <ActionIcon variant="subtle" color="gray" aria-label={`Actions for ${u.username}`}><IconDots size={18} /></ActionIcon>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item onClick={() => navigate(`/users/${u.id}`)}>Open</Menu.Item>
        {requests && <Menu.Item onClick={() => setRequesting(u)}>Add Device</Menu.Item>}
        {writable && <Menu.Item onClick={() => setEditing(u)}>Edit user</Menu.Item>}
        {writable && <Menu.Divider />}
        {writable && <Menu.Item color="red" onClick={() => setDeleting(u)}>Delete</Menu.Item>}
      </Menu.Dropdown>
    </Menu>
  );

  const cursor = nav.cursor;
  const exportable = can.exportUsers(session.admin.role);
  const exportHref = (format: 'csv' | 'xlsx') =>
    `/api/v1/users/export${query({ format, q, managedAppleId: filter === 'any' ? undefined : filter, sort })}`;
  const users = useQuery({
    queryKey: ['users', q, filter, sort, cursor],
    queryFn: () => api<Page<User>>('GET', `/users${query({ q, managedAppleId: filter === 'any' ? undefined : filter, sort, limit: PAGE_SIZE, cursor })}`),
    placeholderData: keepPreviousData,
  });
  const summary = useQuery({ queryKey: ['users-summary'], queryFn: () => api<UserSummary>('GET', '/users/summary') });

  const data = users.data;

  let body;
  if (users.isPending) body = <LoadingState rows={8} />;
  else if (users.isError) body = <ErrorState error={users.error} onRetry={() => users.refetch()} />;
  else if (data!.items.length === 0)
    body =
      q || filter !== 'any' ? (
        <EmptyState title="No users match" action={<Button variant="light" onClick={() => { setSearch(''); update({ q: null, managedAppleId: null }); }}>Clear search and filter</Button>}>
          {filter === 'missing' && !q ? 'Every user is linked to a Managed Apple ID.' : 'Try another search or filter.'}
        </EmptyState>
      ) : (
        <EmptyState title="No users yet" action={writable && <Button onClick={() => setAdding(true)}>Add user</Button>}>
          Add users one by one here; link each to their Managed Apple ID so they can enrol with User Enrollment.
        </EmptyState>
      );
  else
    body = (
      <Stack gap="xs">
        {narrow ? (
          <Stack gap="xs" data-testid="users-cards">
            {data!.items.map((u) => (
              <Card key={u.id} withBorder padding="sm" data-testid={`user-row-${u.username}`}>
                <Group justify="space-between" wrap="nowrap" align="flex-start">
                  <Stack gap={2} style={{ minWidth: 0 }}>
                    <Text component={Link} to={`/users/${u.id}`} fw={600} c="teal.8" truncate>{u.username}@{u.domain}</Text>
                    <Text size="sm" c="dimmed" truncate>{u.fullName || u.email}</Text>
                  </Stack>
                  <Group gap={4} wrap="nowrap" style={{ flexShrink: 0 }}>
                    <StatusBadge status={u.status} />
                    {(writable || requests) && userActions(u)}
                  </Group>
                </Group>
                <Group mt={6} gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
                  <Text size="xs" c="dimmed" style={{ flexShrink: 0 }}>Managed Apple ID</Text>
                  <div style={{ minWidth: 0, overflow: 'hidden', textOverflow: 'ellipsis' }}><MaidCell maid={u.managedAppleId} /></div>
                </Group>
              </Card>
            ))}
          </Stack>
        ) : (
        <Table.ScrollContainer minWidth={1100}>
          <Table striped highlightOnHover verticalSpacing="xs" data-testid="users-table">
            <Table.Thead>
              <Table.Tr>
                <SortHeader label="Username" sortKey="username" sort={sort} onSort={(s) => update({ sort: s })} />
                <Table.Th>Domain</Table.Th>
                <SortHeader label="Full Name" sortKey="fullName" sort={sort} onSort={(s) => update({ sort: s })} />
                <SortHeader label="Email" sortKey="email" sort={sort} onSort={(s) => update({ sort: s })} />
                <SortHeader label="Managed Apple ID" sortKey="managedAppleId" sort={sort} onSort={(s) => update({ sort: s })} />
                <Table.Th>Groups</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th ta="right">Devices</Table.Th>
                {(writable || requests) && <Table.Th aria-label="Actions" />}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {data!.items.map((u) => (
                <Table.Tr key={u.id} data-testid={`user-row-${u.username}`}>
                  <Table.Td>
                    <Text component={Link} to={`/users/${u.id}`} size="sm" fw={500} c="teal.8">{u.username}</Text>
                  </Table.Td>
                  <Table.Td><Text size="sm">{u.domain}</Text></Table.Td>
                  <Table.Td><Text size="sm">{u.fullName || '—'}</Text></Table.Td>
                  <Table.Td><Text size="sm">{u.email}</Text></Table.Td>
                  <Table.Td><MaidCell maid={u.managedAppleId} /></Table.Td>
                  <Table.Td>
                    <Group gap={4}>{u.groups.slice(0, 3).map((g) => <Badge key={g} size="sm" variant="outline" color="gray" tt="none">{g}</Badge>)}{u.groups.length > 3 && <Text size="xs" c="dimmed">+{u.groups.length - 3}</Text>}</Group>
                  </Table.Td>
                  <Table.Td style={{ whiteSpace: 'nowrap' }}><StatusBadge status={u.status} /></Table.Td>
                  <Table.Td ta="right"><Text size="sm">{u.devices}</Text></Table.Td>
                  {(writable || requests) && (
                    <Table.Td>{userActions(u)}</Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
        )}
        <PageNav data={data!} nav={nav} pageSize={PAGE_SIZE} testId="users-range">
            {exportable && (
              <Menu position="top-end" withinPortal>
                <Menu.Target>
                  <Button size="xs" variant="light" leftSection={<IconDownload size={14} />}>Export</Button>
                </Menu.Target>
                <Menu.Dropdown>
                  <Menu.Label>The users matching this view</Menu.Label>
                  <Menu.Item component="a" href={exportHref('csv')} download>CSV (UTF-8)</Menu.Item>
                  <Menu.Item component="a" href={exportHref('xlsx')} download>Excel (.xlsx)</Menu.Item>
                </Menu.Dropdown>
              </Menu>
            )}
        </PageNav>
      </Stack>
    );

  return (
    <>
      <PageHeader
        title="Directory"
        description="Users of this account and their Managed Apple IDs."
        actions={
          writable && (
            <>
              <Menu position="bottom-end" withinPortal>
                <Menu.Target>
                  <Button variant="default" rightSection={<IconChevronDown size={14} />}>More</Button>
                </Menu.Target>
                <Menu.Dropdown>
                  <Menu.Item leftSection={<IconUpload size={16} />} onClick={() => setImporting(true)}>Bulk Import Users</Menu.Item>
                  <Menu.Divider />
                  <Menu.Label>Bulk Upload Users template</Menu.Label>
                  <Menu.Item component="a" href="/api/v1/users/template?format=csv" download leftSection={<IconFileSpreadsheet size={16} />}>Download template (CSV)</Menu.Item>
                  <Menu.Item component="a" href="/api/v1/users/template?format=xlsx" download leftSection={<IconFileSpreadsheet size={16} />}>Download template (Excel)</Menu.Item>
                </Menu.Dropdown>
              </Menu>
              <Button leftSection={<IconPlus size={16} />} onClick={() => setAdding(true)}>Add user</Button>
            </>
          )
        }
      />
      <SimpleGrid cols={{ base: 3 }} mb="md" spacing="sm">
        <Figure label="Users" value={summary.data?.total} />
        <Figure label="Linked" value={summary.data?.managedAppleIdLinked} color="teal.8" />
        <Figure label="Not linked" value={summary.data?.managedAppleIdMissing} color="orange.8" />
      </SimpleGrid>
      <Group mb="md" gap="sm" align="flex-end" wrap="wrap">
        <TextInput
          aria-label="Search users"
          placeholder="Search username, email, Managed Apple ID or name"
          leftSection={<IconSearch size={16} />}
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          style={{ flex: '1 1 260px' }}
        />
        <Stack gap={2}>
          <Text size="xs" fw={500}>Managed Apple ID</Text>
          <SegmentedControl
            aria-label="Managed Apple ID filter"
            value={filter}
            onChange={(v) => update({ managedAppleId: v === 'any' ? null : v })}
            data={[{ value: 'any', label: 'Any' }, { value: 'present', label: 'Linked' }, { value: 'missing', label: 'Not linked' }]}
          />
        </Stack>
      </Group>
      {body}
      <UserForm opened={adding} onClose={() => setAdding(false)} />
      <BulkImportDialog opened={importing} onClose={() => setImporting(false)} />
      <UserForm opened={!!editing} user={editing} onClose={() => setEditing(null)} />
      <DeviceRequestForm opened={!!requesting} user={requesting} onClose={() => setRequesting(null)} />
      <ConfirmModal
        opened={!!deleting}
        title="Delete user"
        confirmLabel="Delete user"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await api('DELETE', `/users/${deleting!.id}`);
          await qc.invalidateQueries({ queryKey: ['users'] });
          await qc.invalidateQueries({ queryKey: ['users-summary'] });
        }}
      >
        Delete {deleting?.username}@{deleting?.domain}? Their pending enrollment requests are deleted too. This cannot be undone.
      </ConfirmModal>
    </>
  );
}
