import { useState } from 'react';
import { ActionIcon, Alert, Badge, Button, Card, ColorSwatch, Group, Menu, Modal, PasswordInput, Select, Stack, Table, Text, TextInput } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { IconDots, IconPlus } from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, can, formatTime, type Admin, type Page, type Role } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { ConfirmModal } from '../components/confirm';
import { EmptyState, ErrorState, LoadingState } from '../components/states';

const ROLE_OPTIONS = [
  { value: 'owner', label: 'Owner — everything' },
  { value: 'admin', label: 'Admin — users, requests, devices' },
  { value: 'helpdesk', label: 'Helpdesk — single requests' },
  { value: 'auditor', label: 'Auditor — read only' },
];
const ROLE_COLOR: Record<Role, string> = { owner: 'grape', admin: 'blue', helpdesk: 'cyan', auditor: 'gray' };

function AdminForm({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('admin');
  const [password, setPassword] = useState('');
  const create = useMutation({
    mutationFn: () => api<Admin>('POST', '/admins', { email, role, password }),
    onSuccess: (a) => {
      qc.invalidateQueries({ queryKey: ['admins'] });
      notifications.show({ color: 'teal', title: 'Admin added', message: `${a.email} can now sign in.` });
      close();
    },
  });
  const close = () => {
    setEmail('');
    setPassword('');
    setRole('admin');
    create.reset();
    onClose();
  };
  const errors = create.error instanceof ApiError ? create.error.fieldErrors() : {};
  return (
    <Modal opened={opened} onClose={close} title="Add admin" centered>
      <form onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Stack>
          {create.error && Object.keys(errors).length === 0 && <Alert color="red" role="alert">{(create.error as Error).message}</Alert>}
          <TextInput label="Email" type="email" required value={email} error={errors.email} onChange={(e) => setEmail(e.currentTarget.value)} />
          <Select label="Role" data={ROLE_OPTIONS} value={role} allowDeselect={false} onChange={(v) => v && setRole(v as Role)} />
          <PasswordInput label="Password" description="At least 10 characters; they can change it later" required value={password} error={errors.password} onChange={(e) => setPassword(e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>Cancel</Button>
            <Button type="submit" loading={create.isPending}>Add admin</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function PasswordReset({ admin, onClose }: { admin: Admin | null; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const reset = useMutation({
    mutationFn: () => api<Admin>('PATCH', `/admins/${admin!.id}`, { password }),
    onSuccess: () => {
      notifications.show({ color: 'teal', title: 'Password reset', message: `${admin!.email} was signed out everywhere.` });
      close();
    },
  });
  const close = () => {
    setPassword('');
    reset.reset();
    onClose();
  };
  const errors = reset.error instanceof ApiError ? reset.error.fieldErrors() : {};
  return (
    <Modal opened={!!admin} onClose={close} title={`Reset password for ${admin?.email ?? ''}`} centered>
      <form onSubmit={(e) => { e.preventDefault(); reset.mutate(); }}>
        <Stack>
          <PasswordInput label="New password" description="At least 10 characters. They are signed out everywhere; their API tokens keep working." required value={password} error={errors.password ?? (reset.error && !errors.password ? (reset.error as Error).message : undefined)} onChange={(e) => setPassword(e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>Cancel</Button>
            <Button type="submit" loading={reset.isPending}>Reset password</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function AdminsPage() {
  const session = useSession();
  const qc = useQueryClient();
  const owner = can.manageAdmins(session.admin.role);
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;
  const admins = useQuery({ queryKey: ['admins'], queryFn: () => api<Page<Admin>>('GET', '/admins?limit=200') });
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<Admin | null>(null);
  const [resetting, setResetting] = useState<Admin | null>(null);
  const update = useMutation({
    mutationFn: ({ id, changes }: { id: string; changes: Partial<Admin> }) => api<Admin>('PATCH', `/admins/${id}`, changes),
    onSuccess: (a, { changes }) => {
      qc.invalidateQueries({ queryKey: ['admins'] });
      if (changes.disabled !== undefined)
        notifications.show({ color: 'teal', title: a.disabled ? 'Admin disabled' : 'Admin enabled', message: a.disabled ? `${a.email} was signed out and cannot sign in.` : `${a.email} can sign in again.` });
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Not changed', message: (e as Error).message }),
  });

  const roleSelect = (a: Admin) => (
    <Select
      aria-label={`Role of ${a.email}`}
      size="xs"
      w={140}
      data={ROLE_OPTIONS.map((o) => ({ value: o.value, label: o.value }))}
      value={a.role}
      allowDeselect={false}
      onChange={(v) => v && v !== a.role && update.mutate({ id: a.id, changes: { role: v as Role } })}
      leftSection={<ColorSwatch size={12} color={`var(--mantine-color-${ROLE_COLOR[a.role]}-6)`} withShadow={false} />}
      comboboxProps={{ withinPortal: true }}
    />
  );
  const status = (a: Admin) => <Badge color={a.disabled ? 'gray' : 'teal'} variant="light">{a.disabled ? 'Disabled' : 'Active'}</Badge>;
  const actions = (a: Admin) => (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <ActionIcon variant="subtle" color="gray" aria-label={`Actions for ${a.email}`}><IconDots size={18} /></ActionIcon>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item onClick={() => update.mutate({ id: a.id, changes: { disabled: !a.disabled } })}>{a.disabled ? 'Enable' : 'Disable'}</Menu.Item>
        <Menu.Item onClick={() => setResetting(a)}>Reset password</Menu.Item>
        <Menu.Divider />
        <Menu.Item color="red" onClick={() => setDeleting(a)}>Delete</Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
  const who = (a: Admin) => (
    <>
      <Text size="sm" fw={500} style={{ overflowWrap: 'anywhere' }}>{a.email}</Text>
      {a.id === session.admin.id && <Text size="xs" c="dimmed">you</Text>}
    </>
  );

  const header = (
    <PageHeader
      title="Admins"
      description="Who can sign in to this account, and what each may do."
      actions={owner && <Button leftSection={<IconPlus size={16} />} onClick={() => setAdding(true)}>Add admin</Button>}
    />
  );
  let body;
  if (admins.isPending) body = <LoadingState />;
  else if (admins.isError) body = <ErrorState error={admins.error} onRetry={() => admins.refetch()} />;
  else if (admins.data.items.length === 0) body = <EmptyState title="No admins yet" />;
  else if (narrow)
    body = (
      <Stack gap="xs">
        {admins.data.items.map((a) => (
          <Card key={a.id} withBorder padding="sm" data-testid={`admin-row-${a.email}`}>
            <Group justify="space-between" wrap="nowrap" align="flex-start">
              <Stack gap={0} style={{ minWidth: 0 }}>{who(a)}</Stack>
              {actions(a)}
            </Group>
            <Group mt="xs" gap="sm" justify="space-between">
              {roleSelect(a)}
              {status(a)}
            </Group>
            <Text size="xs" c="dimmed" mt={6}>Last sign-in: {formatTime(a.lastSignInAt)}</Text>
          </Card>
        ))}
      </Stack>
    );
  else
    body = (
      <Table.ScrollContainer minWidth={640}>
        <Table striped highlightOnHover verticalSpacing="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Email</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Last sign-in</Table.Th>
              <Table.Th w={48} aria-label="Actions" />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {admins.data.items.map((a) => (
              <Table.Tr key={a.id} data-testid={`admin-row-${a.email}`}>
                <Table.Td>{who(a)}</Table.Td>
                <Table.Td>{roleSelect(a)}</Table.Td>
                <Table.Td>{status(a)}</Table.Td>
                <Table.Td><Text size="sm">{formatTime(a.lastSignInAt)}</Text></Table.Td>
                <Table.Td>{actions(a)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    );
  return (
    <>
      {header}
      {body}
      <AdminForm opened={adding} onClose={() => setAdding(false)} />
      <PasswordReset admin={resetting} onClose={() => setResetting(null)} />
      <ConfirmModal
        opened={!!deleting}
        title="Delete admin"
        confirmLabel="Delete"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await api('DELETE', `/admins/${deleting!.id}`);
          await qc.invalidateQueries({ queryKey: ['admins'] });
          notifications.show({ color: 'teal', title: 'Admin deleted', message: `${deleting!.email} can no longer sign in.` });
        }}
      >
        {deleting?.email} will no longer be able to sign in, and their API tokens stop working.
      </ConfirmModal>
    </>
  );
}
