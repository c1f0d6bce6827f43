import { useEffect, useState } from 'react';
import { Alert, Button, Card, Group, NumberInput, Select, SimpleGrid, Stack, Switch, TagsInput, Text, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, can, type Account } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { ErrorState, LoadingState } from '../components/states';
import { AppleSetupCard } from './apple';

type Form = Omit<Account, 'id' | 'key' | 'createdAt' | 'updatedAt'>;

const pick = (a: Account): Form => {
  const { id: _i, key: _k, createdAt: _c, updatedAt: _u, ...rest } = a;
  return rest;
};

export function SettingsPage() {
  const session = useSession();
  const editable = can.editAccount(session.admin.role);
  const qc = useQueryClient();
  const account = useQuery({ queryKey: ['account'], queryFn: () => api<Account>('GET', '/account') });
  const [form, setForm] = useState<Form | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  useEffect(() => {
    if (account.data) setForm(pick(account.data));
  }, [account.data]);

  const save = useMutation({
    mutationFn: (changes: Partial<Form>) => api<Account>('PATCH', '/account', changes),
    onSuccess: (a) => {
      qc.setQueryData(['account'], a);
      qc.invalidateQueries({ queryKey: ['session'] });
      setErrors({});
      notifications.show({ color: 'teal', title: 'Settings saved', message: 'The account settings are updated.' });
    },
    onError: (e, changes) => {
      if (!(e instanceof ApiError)) return setErrors({});
      const out = e.fieldErrors();
      // A domain's issue ("managedAppleIdDomains.2") names the domain, since the message may not.
      const domainIssue = e.issues.find((i) => /^managedAppleIdDomains\.\d+$/.test(i.path));
      const domain = domainIssue && changes.managedAppleIdDomains?.[Number(domainIssue.path.split('.')[1])];
      if (domainIssue && domain && !domainIssue.message.includes(domain)) out.managedAppleIdDomains = `${domain}: ${domainIssue.message}`;
      if (e.code === 'DOMAIN_CLAIMED' && !out.managedAppleIdDomains) out.managedAppleIdDomains = e.message;
      setErrors(out);
    },
  });

  if (account.isPending || !form) return (<><PageHeader title="Settings" /><LoadingState rows={8} /></>);
  if (account.isError) return (<><PageHeader title="Settings" /><ErrorState error={account.error} onRetry={() => account.refetch()} /></>);

  // For those who may not edit: the values stay legible (read-only, not greyed out as disabled).
  const readOnly = editable ? {} : { readOnly: true, variant: 'filled' as const };
  const set = <K extends keyof Form>(k: K, v: Form[K]) => {
    setForm({ ...form, [k]: v });
    if (errors[k]) setErrors(({ [k]: _gone, ...rest }) => rest);
  };
  const changed = Object.fromEntries(Object.entries(form).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify((account.data as any)[k]))) as Partial<Form>;
  const dirty = Object.keys(changed).length > 0;
  const onAField = save.error instanceof ApiError && (save.error.code === 'DOMAIN_CLAIMED' || save.error.issues.some((i) => i.path.split('.')[0]! in form));
  const generalError = save.error && !onAField ? save.error.message : null;

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(changed);
      }}
    >
      <PageHeader
        title="Settings"
        description={`Account key ${account.data.key}`}
        actions={
          editable && (
            <>
              <Button variant="default" disabled={!dirty || save.isPending} onClick={() => { setForm(pick(account.data)); setErrors({}); }}>
                Discard
              </Button>
              <Button type="submit" disabled={!dirty} loading={save.isPending}>
                Save
              </Button>
            </>
          )
        }
      />
      <Stack>
        {!editable && (
          <Alert color="blue" variant="light">
            Only owners can change the account settings. You can read them.
          </Alert>
        )}
        {generalError && (
          <Alert color="red" role="alert">
            {generalError}
          </Alert>
        )}
        <AppleSetupCard />
        <Card withBorder padding="lg">
          <Text fw={600} mb="sm">
            Account
          </Text>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="Account name" value={form.name} {...readOnly} error={errors.name} onChange={(e) => set('name', e.currentTarget.value)} />
            <TextInput label="Default domain" description="Users without a domain get this one" value={form.defaultDomain} {...readOnly} error={errors.defaultDomain} onChange={(e) => set('defaultDomain', e.currentTarget.value)} />
            <Select
              label="Deployment mode"
              data={[{ value: 'mdm', label: 'MDM' }, { value: 'sps', label: 'SPS (app activation only)' }, { value: 'mixed', label: 'Mixed (MDM and SPS)' }]}
              value={form.deploymentMode}
              allowDeselect={false}
              {...readOnly}
              error={errors.deploymentMode}
              onChange={(v) => v && set('deploymentMode', v as Form['deploymentMode'])}
            />
            <Select
              label="Default request mode"
              data={[{ value: 'enrollment', label: 'Enrollment (MDM)' }, { value: 'activation', label: 'Activation (SPS)' }]}
              value={form.defaultRequestMode}
              allowDeselect={false}
              {...readOnly}
              error={errors.defaultRequestMode}
              onChange={(v) => v && set('defaultRequestMode', v as Form['defaultRequestMode'])}
            />
          </SimpleGrid>
        </Card>
        <Card withBorder padding="lg">
          <Text fw={600} mb="sm">
            Enrollment
          </Text>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Select
              label="Default authentication mode"
              data={[{ value: 'passcode', label: 'One-time passcode' }, { value: 'local', label: 'Directory password' }]}
              value={form.defaultAuthMode}
              allowDeselect={false}
              {...readOnly}
              error={errors.defaultAuthMode}
              onChange={(v) => v && set('defaultAuthMode', v as Form['defaultAuthMode'])}
            />
            <NumberInput label="Requests expire after (hours)" min={1} max={8760} value={form.requestExpiryHours} {...readOnly} hideControls={!editable} error={errors.requestExpiryHours} onChange={(v) => set('requestExpiryHours', Number(v))} />
            <NumberInput label="Passcode length" min={6} max={16} value={form.passcodeLength} {...readOnly} hideControls={!editable} error={errors.passcodeLength} onChange={(v) => set('passcodeLength', Number(v))} />
            <Stack gap="sm" justify="center">
              <Switch label="Seamless enrollment" description="The link alone enrols, without authentication" checked={form.seamlessEnrollment} disabled={!editable} onChange={(e) => set('seamlessEnrollment', e.currentTarget.checked)} />
              <Switch label="Require genuine Apple devices" checked={form.requireGenuineAppleDevices} disabled={!editable} onChange={(e) => set('requireGenuineAppleDevices', e.currentTarget.checked)} />
            </Stack>
          </SimpleGrid>
        </Card>
        <Card withBorder padding="lg">
          <Text fw={600} mb="sm">
            Managed Apple IDs
          </Text>
          <Stack>
            <TagsInput
              label="Managed Apple ID domains"
              description="The domains verified in Apple Business Manager, e.g. appleid.example.com. Leave empty to accept any domain. Press Enter after each."
              placeholder={editable ? 'Add a domain' : form.managedAppleIdDomains.length ? undefined : 'Any domain'}
              value={form.managedAppleIdDomains}
              {...readOnly}
              error={errors.managedAppleIdDomains}
              onChange={(v) => set('managedAppleIdDomains', v)}
              data-testid="maid-domains"
            />
            <Switch
              label="Use email as Managed Apple ID"
              description="A user saved without a Managed Apple ID gets their email address, when it is a valid one on an allowed domain"
              checked={form.useEmailAsManagedAppleId}
              disabled={!editable}
              onChange={(e) => set('useEmailAsManagedAppleId', e.currentTarget.checked)}
            />
          </Stack>
        </Card>
        {editable && (
          <Group justify="flex-end">
            <Button type="submit" disabled={!dirty} loading={save.isPending}>
              Save settings
            </Button>
          </Group>
        )}
      </Stack>
    </form>
  );
}
