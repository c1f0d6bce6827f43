import { useEffect, useMemo, useState } from 'react';
import { Alert, Badge, Button, Group, Input, List, Modal, SegmentedControl, Select, SimpleGrid, Stack, Switch, Text, TextInput, Textarea } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { IconAlertTriangle } from '@tabler/icons-react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, NOTIFY_LABEL, OWNERSHIP_LABEL, PLATFORM_LABEL, query, type Account, type IssuedRequest, type Notify, type Ownership, type Page, type Platform, type User } from '../api';
import { COMMENTS_MAX, userEnrollmentIssues, type EnrollmentFacts } from '../rules';
import { RequestSecrets } from '../components/request-secrets';

interface Form {
  platform: Platform;
  ownership: Ownership;
  userEnrollment: boolean;
  /** `default`: left to the account (mixed accounts only). */
  requestMode: 'default' | 'enrollment' | 'activation';
  authMode: Account['defaultAuthMode'];
  seamless: boolean;
  notify: Notify;
  email: string;
  phone: string;
  comments: string;
}

const userLabel = (u: Pick<User, 'username' | 'domain'>) => `${u.username}@${u.domain}`;

/** Rules no choice in this form can mend: the switch is not offered while one of them is broken. */
const OUTSIDE_THE_FORM = new Set(['UE_NOT_FOR_SPS', 'UE_REQUIRES_USER', 'UE_REQUIRES_MANAGED_APPLE_ID']);

/** The broken User Enrollment rules, one line each, in the server's words. */
export function RuleList({ title, issues }: { title: string; issues: { code: string; message: string }[] }) {
  return (
    <Alert color="red" variant="light" icon={<IconAlertTriangle size={18} />} title={title} role="alert" data-testid="ue-issues">
      <List size="sm" spacing={4}>
        {issues.map((i) => (
          <List.Item key={i.code} data-code={i.code}>{i.message}</List.Item>
        ))}
      </List>
    </Alert>
  );
}

/** A searchable pick of one directory user, searching the server as the admin types. */
function UserPicker({ value, onChange, error }: { value: User | null; onChange: (u: User | null) => void; error?: string }) {
  const [search, setSearch] = useState('');
  const typed = value && search === userLabel(value) ? '' : search.trim();
  const [debounced] = useDebouncedValue(typed, 200);
  const users = useQuery({
    queryKey: ['users', 'picker', debounced],
    queryFn: () => api<Page<User>>('GET', `/users${query({ q: debounced, limit: 20 })}`),
    placeholderData: keepPreviousData,
  });
  const found = users.data?.items ?? [];
  // The chosen user stays an option (the field shows its label), after the matches while searching.
  const all = value && !found.some((u) => u.id === value.id) ? (typed ? [...found, value] : [value, ...found]) : found;
  const byId = new Map(all.map((u) => [u.id, u]));
  return (
    <Select
      label="User"
      required
      searchable
      placeholder="Search username, email, name or Managed Apple ID"
      data={all.map((u) => ({ value: u.id, label: userLabel(u) }))}
      filter={({ options }) => options}
      value={value?.id ?? null}
      allowDeselect={false}
      onChange={(id) => onChange(id ? byId.get(id) ?? null : null)}
      searchValue={search}
      onSearchChange={setSearch}
      nothingFoundMessage={users.isFetching ? 'Searching…' : 'No user matches'}
      error={error}
      renderOption={({ option }) => {
        const u = byId.get(option.value)!;
        return (
          <Stack gap={0} style={{ minWidth: 0 }}>
            <Text size="sm" truncate>{option.label}</Text>
            <Text size="xs" c={u.managedAppleId ? 'dimmed' : 'orange.8'} truncate>
              {[u.fullName, u.managedAppleId ?? 'no Managed Apple ID'].filter(Boolean).join(' · ')}
            </Text>
          </Stack>
        );
      }}
      comboboxProps={{ withinPortal: true }}
      data-testid="request-user"
    />
  );
}

/**
 * Add Device Request (Devices ▸ Enrollments) and Add Device (a directory user): one request for
 * one user and device. User Enrollment is judged here with the server's own rules; after creation
 * the URL, passcode and QR code are shown, once.
 */
export function DeviceRequestForm({ opened, onClose, user }: { opened: boolean; onClose: () => void; user?: User | null }) {
  const qc = useQueryClient();
  const account = useQuery({ queryKey: ['account'], queryFn: () => api<Account>('GET', '/account'), enabled: opened });
  const [chosen, setChosen] = useState<User | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [issued, setIssued] = useState<IssuedRequest | null>(null);
  const acc = account.data;

  useEffect(() => {
    if (!opened) return;
    setChosen(user ?? null);
    setIssued(null);
    setForm(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [opened, user?.id]);
  useEffect(() => {
    if (opened && acc && !form)
      setForm({
        platform: 'ios',
        ownership: 'employee_owned',
        userEnrollment: false,
        requestMode: 'default',
        authMode: acc.defaultAuthMode,
        seamless: acc.seamlessEnrollment,
        notify: 'email',
        email: '',
        phone: '',
        comments: '',
      });
  }, [opened, acc, form]);

  const mixed = acc?.deploymentMode === 'mixed';
  const ueIssues = useMemo(() => {
    if (!acc || !form) return [];
    const facts: EnrollmentFacts = {
      account: acc,
      request: {
        platform: form.platform,
        ownership: form.ownership,
        userEnrollment: true,
        requestMode: mixed && form.requestMode !== 'default' ? form.requestMode : undefined,
        comments: form.comments,
        authMode: form.authMode,
        seamless: form.seamless,
      },
      user: chosen ? { managedAppleId: chosen.managedAppleId } : null,
    };
    // No user chosen yet is a missing field, not a broken rule.
    return userEnrollmentIssues(facts).filter((i) => chosen || i.code !== 'UE_REQUIRES_USER');
  }, [acc, form, chosen, mixed]);
  const blockers = ueIssues.filter((i) => OUTSIDE_THE_FORM.has(i.code));

  const create = useMutation({
    mutationFn: () => {
      const f = form!;
      const body: Record<string, unknown> = {
        userId: chosen!.id,
        platform: f.platform,
        ownership: f.ownership,
        userEnrollment: f.userEnrollment,
        authMode: f.authMode,
        seamless: f.seamless,
        notify: f.notify,
        comments: f.comments,
      };
      if (mixed && f.requestMode !== 'default') body.requestMode = f.requestMode;
      if (f.email.trim()) body.email = f.email.trim();
      if (f.phone.trim()) body.phone = f.phone.trim();
      return api<IssuedRequest>('POST', '/enrollment-requests', body);
    },
    onSuccess: (r) => {
      qc.invalidateQueries({ queryKey: ['enrollment-requests'] });
      qc.invalidateQueries({ queryKey: ['outbox-summary'] });
      notifications.show({ color: 'teal', title: r.refreshed ? 'Request refreshed' : 'Request created', message: `${r.requestType} · ${r.username}@${r.domain}` });
      for (const w of r.warnings ?? []) notifications.show({ color: 'yellow', title: 'Note', message: w.message, autoClose: 10_000 });
      setIssued(r);
    },
  });
  useEffect(() => {
    if (opened) create.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [opened]);

  const set = <K extends keyof Form>(k: K, v: Form[K]) => {
    setForm((f) => (f ? { ...f, [k]: v } : f));
    create.reset();
  };
  const error = create.error instanceof ApiError ? create.error : null;
  const fieldErrors = error?.fieldErrors() ?? {};
  const refusedRules = error?.code === 'UE_NOT_ELIGIBLE' ? error.ruleIssues : [];
  const general = create.error && !refusedRules.length && Object.keys(fieldErrors).length === 0 ? (create.error as Error).message : null;
  const ueBroken = !!form?.userEnrollment && ueIssues.length > 0;
  const title = issued ? (issued.refreshed ? 'Request refreshed' : 'Request created') : user ? `Add Device for ${user.username}` : 'Add Device Request';

  let body;
  if (issued) {
    body = (
      <Stack>
        <Text size="sm">
          {issued.requestType} request for <b>{issued.username}@{issued.domain}</b> ({PLATFORM_LABEL[issued.platform]}, {OWNERSHIP_LABEL[issued.ownership]}).{' '}
          {issued.notify === 'none' ? 'No notification is sent: pass these on yourself.' : `The employee is notified by ${NOTIFY_LABEL[issued.notify]}.`}
        </Text>
        {issued.refreshed && (
          <Alert color="blue" variant="light">This user already had a Pending {PLATFORM_LABEL[issued.platform]} request: it was refreshed, and its old URL and passcode no longer work.</Alert>
        )}
        <RequestSecrets request={issued} />
        <Group justify="flex-end">
          <Button onClick={onClose}>Done</Button>
        </Group>
      </Stack>
    );
  } else if (!form || !acc) {
    body = account.isError ? <Alert color="red" role="alert">{(account.error as Error).message}</Alert> : <Text size="sm" c="dimmed">Loading…</Text>;
  } else {
    body = (
      <form onSubmit={(e) => { e.preventDefault(); if (chosen && !ueBroken) create.mutate(); }} noValidate>
        <Stack>
          {general && <Alert color="red" role="alert">{general}</Alert>}
          <UserPicker value={chosen} onChange={(u) => { setChosen(u); create.reset(); }} error={fieldErrors.userId ?? (error?.code === 'NOT_FOUND' ? error.message : undefined)} />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Input.Wrapper label="Platform" error={fieldErrors.platform ?? (error?.code === 'PLATFORM_NOT_SUPPORTED' ? error.message : undefined)}>
              <SegmentedControl
                aria-label="Platform"
                fullWidth
                value={form.platform}
                onChange={(v) => set('platform', v as Platform)}
                data={[{ value: 'ios', label: 'iOS (iPhone, iPad)' }, { value: 'macos', label: 'macOS' }]}
              />
            </Input.Wrapper>
            <Select
              label="Ownership"
              data={(Object.keys(OWNERSHIP_LABEL) as Ownership[]).map((o) => ({ value: o, label: OWNERSHIP_LABEL[o] }))}
              value={form.ownership}
              allowDeselect={false}
              onChange={(v) => v && set('ownership', v as Ownership)}
              error={fieldErrors.ownership}
            />
          </SimpleGrid>
          <Switch
            label="Enroll using iOS User Enrollment"
            checked={form.userEnrollment}
            disabled={!form.userEnrollment && blockers.length > 0}
            onChange={(e) => set('userEnrollment', e.currentTarget.checked)}
            description={
              !form.userEnrollment && blockers.length > 0
                ? `Not available: ${blockers.map((b) => b.message).join('; ')}.`
                : 'Apple’s BYOD mode for personal iPhones and iPads: work data kept apart, the device known only by an anonymous ID. The user signs in with their Managed Apple ID.'
            }
            data-testid="ue-switch"
          />
          {ueBroken && <RuleList title="User Enrollment cannot be used for this request" issues={ueIssues} />}
          {refusedRules.length > 0 && <RuleList title="Pippin refused User Enrollment for this request" issues={refusedRules} />}
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            {mixed && (
              <Select
                label="Request mode"
                data={[
                  { value: 'default', label: `Account default (${acc.defaultRequestMode === 'enrollment' ? 'MDM Enrollment' : 'SPS Activation'})` },
                  { value: 'enrollment', label: 'MDM Enrollment' },
                  { value: 'activation', label: 'SPS Activation' },
                ]}
                value={form.requestMode}
                allowDeselect={false}
                onChange={(v) => v && set('requestMode', v as Form['requestMode'])}
                description="With the default, comments starting with “MDM” mean MDM Enrollment"
                error={fieldErrors.requestMode ?? (error?.code === 'REQUEST_MODE_NOT_AVAILABLE' ? error.message : undefined)}
              />
            )}
            <Select
              label="Authentication mode"
              data={[
                { value: 'passcode', label: `Passcode${acc.defaultAuthMode === 'passcode' ? ' (account default)' : ''}` },
                { value: 'local', label: `Local directory password${acc.defaultAuthMode === 'local' ? ' (account default)' : ''}` },
              ]}
              value={form.authMode}
              allowDeselect={false}
              onChange={(v) => v && set('authMode', v as Form['authMode'])}
              error={fieldErrors.authMode}
            />
            <Select
              label="Notify"
              data={(Object.keys(NOTIFY_LABEL) as Notify[]).map((n) => ({ value: n, label: NOTIFY_LABEL[n] }))}
              value={form.notify}
              allowDeselect={false}
              onChange={(v) => v && set('notify', v as Notify)}
              error={fieldErrors.notify}
            />
          </SimpleGrid>
          <Switch
            label="Seamless enrollment"
            description={`Enrols without an authentication step (account default: ${acc.seamlessEnrollment ? 'on' : 'off'})`}
            checked={form.seamless}
            onChange={(e) => set('seamless', e.currentTarget.checked)}
          />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            {form.notify !== 'none' && form.notify !== 'sms' && (
              <TextInput label="Email address" type="email" placeholder={chosen?.email || 'The user’s email'} description="Leave blank to use the user’s" value={form.email} error={fieldErrors.email} onChange={(e) => set('email', e.currentTarget.value)} />
            )}
            {(form.notify === 'sms' || form.notify === 'email_sms') && (
              <TextInput label="Phone number" type="tel" placeholder={chosen?.phone || 'The user’s phone'} description="Leave blank to use the user’s" value={form.phone} error={fieldErrors.phone} onChange={(e) => set('phone', e.currentTarget.value)} />
            )}
          </SimpleGrid>
          <Textarea label="Comments" autosize minRows={2} maxRows={5} maxLength={COMMENTS_MAX} value={form.comments} error={fieldErrors.comments} onChange={(e) => set('comments', e.currentTarget.value)} />
          <Group justify="space-between" wrap="wrap">
            {form.userEnrollment && !ueBroken ? <Badge variant="light" color="teal">MDM (Apple User Enrollment)</Badge> : <span />}
            <Group gap="xs">
              <Button variant="default" onClick={onClose}>Cancel</Button>
              <Button type="submit" loading={create.isPending} disabled={!chosen || ueBroken}>Send request</Button>
            </Group>
          </Group>
        </Stack>
      </form>
    );
  }
  return (
    <Modal opened={opened} onClose={onClose} title={title} size="lg" centered>
      {body}
    </Modal>
  );
}
