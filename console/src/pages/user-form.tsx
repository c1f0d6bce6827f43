import { useEffect, useState } from 'react';
import { Alert, Button, Group, Modal, PasswordInput, Select, SimpleGrid, Stack, TagsInput, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, AUTH_TYPE_LABEL, type User } from '../api';

interface Form {
  username: string;
  domain: string;
  email: string;
  fullName: string;
  phone: string;
  groups: string[];
  authType: User['authType'];
  managedAppleId: string;
  status: User['status'];
  password: string;
}

const blank: Form = { username: '', domain: '', email: '', fullName: '', phone: '', groups: [], authType: 'local', managedAppleId: '', status: 'active', password: '' };

/** Add user (no `user`) or Edit user. Errors come from the server and sit on their field. */
export function UserForm({ opened, user, onClose, onSaved }: { opened: boolean; user?: User | null; onClose: () => void; onSaved?: (u: User) => void }) {
  const qc = useQueryClient();
  const [form, setForm] = useState<Form>(blank);
  useEffect(() => {
    if (!opened) return;
    setForm(
      user
        ? { ...blank, ...user, managedAppleId: user.managedAppleId ?? '', password: '' }
        : blank,
    );
  }, [opened, user]);
  const save = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = {
        username: form.username,
        domain: form.domain,
        email: form.email,
        fullName: form.fullName,
        phone: form.phone,
        groups: form.groups,
        authType: form.authType,
        status: form.status,
        managedAppleId: form.managedAppleId.trim() === '' ? (user ? null : undefined) : form.managedAppleId,
      };
      if (form.password) body.password = form.password;
      if (!user && body.domain === '') delete body.domain;
      return user ? api<User>('PATCH', `/users/${user.id}`, body) : api<User>('POST', '/users', body);
    },
    onSuccess: (u) => {
      qc.invalidateQueries({ queryKey: ['users'] });
      qc.invalidateQueries({ queryKey: ['users-summary'] });
      qc.setQueryData(['user', u.id], u);
      notifications.show({ color: 'teal', title: user ? 'User saved' : 'User added', message: `${u.username}@${u.domain}` });
      for (const w of u.warnings ?? []) notifications.show({ color: 'yellow', title: 'Note', message: w.message, autoClose: 10_000 });
      onSaved?.(u);
      onClose();
    },
  });
  useEffect(() => {
    if (opened) save.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [opened]);
  const errors = save.error instanceof ApiError ? save.error.fieldErrors() : {};
  const general = save.error && Object.keys(errors).length === 0 ? (save.error as Error).message : null;
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  return (
    <Modal opened={opened} onClose={onClose} title={user ? `Edit ${user.username}` : 'Add user'} size="lg" centered>
      <form onSubmit={(e) => { e.preventDefault(); save.mutate(); }} noValidate>
        <Stack>
          {general && <Alert color="red" role="alert">{general}</Alert>}
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Username" required value={form.username} error={errors.username} onChange={(e) => set('username', e.currentTarget.value)} />
            <TextInput label="Domain" placeholder="The account's default domain" value={form.domain} error={errors.domain} onChange={(e) => set('domain', e.currentTarget.value)} />
            <TextInput label="Full name" value={form.fullName} error={errors.fullName} onChange={(e) => set('fullName', e.currentTarget.value)} />
            <TextInput label="Email" type="email" required value={form.email} error={errors.email} onChange={(e) => set('email', e.currentTarget.value)} />
          </SimpleGrid>
          <TextInput
            label="Managed Apple ID"
            description="The user's account in Apple Business Manager, e.g. jane@appleid.example.com. Leave empty if not linked yet."
            value={form.managedAppleId}
            error={errors.managedAppleId}
            onChange={(e) => set('managedAppleId', e.currentTarget.value)}
          />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Phone" value={form.phone} error={errors.phone} onChange={(e) => set('phone', e.currentTarget.value)} />
            <Select label="Authentication type" data={Object.entries(AUTH_TYPE_LABEL).map(([value, label]) => ({ value, label }))} value={form.authType} allowDeselect={false} onChange={(v) => v && set('authType', v as Form['authType'])} />
          </SimpleGrid>
          <TagsInput label="Groups" placeholder="Add a group and press Enter" value={form.groups} error={errors.groups} onChange={(v) => set('groups', v)} />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Select label="Status" data={[{ value: 'active', label: 'Active' }, { value: 'disabled', label: 'Disabled' }]} value={form.status} allowDeselect={false} onChange={(v) => v && set('status', v as Form['status'])} />
            <PasswordInput label={user ? 'New directory password' : 'Directory password'} description="Optional; for enrolment with the directory password" value={form.password} error={errors.password} onChange={(e) => set('password', e.currentTarget.value)} />
          </SimpleGrid>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" loading={save.isPending}>{user ? 'Save' : 'Add user'}</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
