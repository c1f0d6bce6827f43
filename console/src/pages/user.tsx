import { useState } from 'react';
import { Anchor, Badge, Breadcrumbs, Button, Card, Group, SimpleGrid, Stack, Text } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { IconPlus } from '@tabler/icons-react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { api, AUTH_TYPE_LABEL, can, formatTime, query, type Device, type EnrollmentRequest, type Page, type User } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { ConfirmModal } from '../components/confirm';
import { EmptyState, ErrorState, LoadingState } from '../components/states';
import { UserForm } from './user-form';
import { MaidCell } from './users';
import { DeviceRequestForm } from './request-form';
import { RequestsTable } from '../components/requests-table';
import { DevicesTable } from '../components/devices-table';

/** The user's enrollment requests, newest first (the most recent 50; the Enrollments page has them all). */
function UserRequests({ user, writable, onAdd }: { user: User; writable: boolean; onAdd: () => void }) {
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;
  const requests = useQuery({
    queryKey: ['enrollment-requests', 'user', user.id],
    queryFn: () => api<Page<EnrollmentRequest>>('GET', `/enrollment-requests${query({ userId: user.id, limit: 50 })}`),
  });
  let body;
  if (requests.isPending) body = <LoadingState rows={2} />;
  else if (requests.isError) body = <ErrorState error={requests.error} onRetry={() => requests.refetch()} />;
  else if (!requests.data.items.length)
    body = (
      <EmptyState title="No enrollment requests" action={writable && <Button variant="light" onClick={onAdd}>Add Device</Button>}>
        {user.managedAppleId
          ? 'This user is linked to a Managed Apple ID and can be invited to enrol a personal iPhone or iPad with User Enrollment.'
          : 'Link a Managed Apple ID first if this user should enrol a personal iPhone or iPad with User Enrollment.'}
      </EmptyState>
    );
  else body = <RequestsTable items={requests.data.items} narrow={narrow} writable={writable} showUser={false} />;
  return (
    <Card withBorder padding="lg" data-testid="user-requests">
      <Group justify="space-between" mb="sm">
        <Text fw={600}>Enrollment requests</Text>
        {requests.data && requests.data.total > requests.data.items.length && (
          <Anchor component={Link} to={`/enrollments?q=${encodeURIComponent(user.username)}`} size="sm">All {requests.data.total.toLocaleString()}</Anchor>
        )}
      </Group>
      {body}
    </Card>
  );
}

/** The user's devices, newest first (the most recent 50; Devices has them all). */
function UserDevices({ user }: { user: User }) {
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;
  const devices = useQuery({
    queryKey: ['devices', 'user', user.id],
    queryFn: () => api<Page<Device>>('GET', `/devices${query({ userId: user.id, limit: 50 })}`),
  });
  let body;
  if (devices.isPending) body = <LoadingState rows={2} />;
  else if (devices.isError) body = <ErrorState error={devices.error} onRetry={() => devices.refetch()} />;
  else if (!devices.data.items.length)
    body = (
      <EmptyState title="No devices">
        A device appears here once {user.username} uses one of their enrollment requests on it.
      </EmptyState>
    );
  else body = <DevicesTable items={devices.data.items} narrow={narrow} showUser={false} />;
  return (
    <Card withBorder padding="lg" data-testid="user-devices">
      <Group justify="space-between" mb="sm">
        <Text fw={600}>Devices</Text>
        {devices.data && devices.data.total > devices.data.items.length && (
          <Text size="sm" c="dimmed">The newest 50 of {devices.data.total.toLocaleString()}</Text>
        )}
      </Group>
      {body}
    </Card>
  );
}

export function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Stack gap={2}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>{label}</Text>
      <div>{children}</div>
    </Stack>
  );
}

export function UserPage() {
  const { id } = useParams();
  const session = useSession();
  const writable = can.writeUsers(session.admin.role);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [requesting, setRequesting] = useState(false);
  const requests = can.writeRequests(session.admin.role);
  const user = useQuery({ queryKey: ['user', id], queryFn: () => api<User>('GET', `/users/${id}`) });
  const crumbs = (
    <Breadcrumbs mb="sm">
      <Anchor component={Link} to="/users" size="sm">Directory</Anchor>
      <Text size="sm">{user.data?.username ?? '…'}</Text>
    </Breadcrumbs>
  );
  if (user.isPending) return (<>{crumbs}<LoadingState rows={6} /></>);
  if (user.isError) return (<>{crumbs}<ErrorState error={user.error} onRetry={() => user.refetch()} /></>);
  const u = user.data;
  return (
    <>
      {crumbs}
      <PageHeader
        title={u.fullName || u.username}
        description={`${u.username}@${u.domain}`}
        actions={
          (writable || requests) && (
            <>
              {requests && <Button leftSection={<IconPlus size={16} />} onClick={() => setRequesting(true)}>Add Device</Button>}
              {writable && <Button variant="default" onClick={() => setEditing(true)}>Edit user</Button>}
              {writable && <Button variant="light" color="red" onClick={() => setDeleting(true)}>Delete</Button>}
            </>
          )
        }
      />
      <Stack>
        <Card withBorder padding="lg">
          <SimpleGrid cols={{ base: 1, xs: 2, md: 3 }} spacing="lg">
            <Field label="Managed Apple ID"><MaidCell maid={u.managedAppleId} /></Field>
            <Field label="Email"><Text size="sm">{u.email}</Text></Field>
            <Field label="Phone"><Text size="sm">{u.phone || '—'}</Text></Field>
            <Field label="Status"><Badge color={u.status === 'active' ? 'teal' : 'gray'} variant="light">{u.status}</Badge></Field>
            <Field label="Authentication type"><Text size="sm">{AUTH_TYPE_LABEL[u.authType]}</Text></Field>
            <Field label="Groups">
              <Group gap={4}>{u.groups.length ? u.groups.map((g) => <Badge key={g} variant="outline" color="gray" tt="none">{g}</Badge>) : <Text size="sm">—</Text>}</Group>
            </Field>
            <Field label="Devices"><Text size="sm">{u.devices}</Text></Field>
            <Field label="Created"><Text size="sm">{formatTime(u.createdAt)}</Text></Field>
            <Field label="Updated"><Text size="sm">{formatTime(u.updatedAt)}</Text></Field>
          </SimpleGrid>
        </Card>
        <UserDevices user={u} />
        <UserRequests user={u} writable={requests} onAdd={() => setRequesting(true)} />
      </Stack>
      <UserForm opened={editing} user={u} onClose={() => setEditing(false)} />
      <DeviceRequestForm opened={requesting} user={u} onClose={() => setRequesting(false)} />
      <ConfirmModal
        opened={deleting}
        title="Delete user"
        confirmLabel="Delete user"
        onClose={() => setDeleting(false)}
        onConfirm={async () => {
          await api('DELETE', `/users/${u.id}`);
          await qc.invalidateQueries({ queryKey: ['users'] });
          await qc.invalidateQueries({ queryKey: ['users-summary'] });
          navigate('/users', { replace: true });
        }}
      >
        Delete {u.username}@{u.domain}? This cannot be undone.
      </ConfirmModal>
    </>
  );
}
