import { useState } from 'react';
import { Alert, Badge, Button, Card, Code, CopyButton, Group, Modal, NumberInput, SimpleGrid, Stack, Table, Text, TextInput } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { IconAlertTriangle, IconPlus } from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, formatTime, type ApiToken, type Page } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { ConfirmModal } from '../components/confirm';
import { EmptyState, ErrorState, LoadingState } from '../components/states';

function CreateToken({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [days, setDays] = useState<number | ''>(90);
  const [secret, setSecret] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<ApiToken & { token: string }>('POST', '/tokens', { name, ...(days ? { expiresInDays: Number(days) } : {}) }),
    onSuccess: (t) => {
      setSecret(t.token);
      qc.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const close = () => {
    // Fresh figures (e.g. "last used" once the new token was tried out while the dialog was open).
    if (secret) qc.invalidateQueries({ queryKey: ['tokens'] });
    setSecret(null);
    setName('');
    setDays(90);
    create.reset();
    onClose();
  };
  const errors = create.error instanceof ApiError ? create.error.fieldErrors() : {};
  return (
    <Modal opened={opened} onClose={close} title={secret ? 'Your new API token' : 'Create API token'} centered size="lg" closeOnClickOutside={!secret}>
      {secret ? (
        <Stack>
          <Alert color="yellow" icon={<IconAlertTriangle size={18} />}>
            Copy it now: this token will not be shown again. It acts with your role.
          </Alert>
          <Code block data-testid="new-token" style={{ wordBreak: 'break-all', whiteSpace: 'pre-wrap' }}>{secret}</Code>
          <Group justify="flex-end">
            <CopyButton value={secret}>
              {({ copied, copy }) => <Button variant="light" onClick={copy}>{copied ? 'Copied' : 'Copy token'}</Button>}
            </CopyButton>
            <Button onClick={close}>Done</Button>
          </Group>
        </Stack>
      ) : (
        <form onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
          <Stack>
            {create.error && Object.keys(errors).length === 0 && <Alert color="red" role="alert">{(create.error as Error).message}</Alert>}
            <TextInput label="Name" description="What uses it, e.g. “HR sync script”" required value={name} error={errors.name} onChange={(e) => setName(e.currentTarget.value)} />
            <NumberInput label="Expires after (days)" description="Leave empty for a token that does not expire" min={1} max={3650} value={days} error={errors.expiresInDays} onChange={(v) => setDays(v === '' ? '' : Number(v))} />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>Cancel</Button>
              <Button type="submit" loading={create.isPending}>Create token</Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

export function TokensPage() {
  const session = useSession();
  const qc = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: () => api<Page<ApiToken>>('GET', '/tokens?limit=200') });
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const isOwner = session.admin.role === 'owner';
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;
  let body;
  if (tokens.isPending) body = <LoadingState />;
  else if (tokens.isError) body = <ErrorState error={tokens.error} onRetry={() => tokens.refetch()} />;
  else if (tokens.data.items.length === 0)
    body = (
      <EmptyState title="No API tokens" action={<Button variant="light" onClick={() => setCreating(true)}>Create a token</Button>}>
        Tokens let scripts and the <Code>pippin</Code> CLI call the API as you, with your role.
      </EmptyState>
    );
  else if (narrow)
    body = (
      <Stack gap="xs">
        {tokens.data.items.map((t) => (
          <Card key={t.id} withBorder padding="sm" data-testid={`token-row-${t.name}`}>
            <Group justify="space-between" wrap="nowrap" align="flex-start">
              <Stack gap={2} style={{ minWidth: 0 }}>
                <Text size="sm" fw={600} style={{ overflowWrap: 'anywhere' }}>{t.name}</Text>
                <Code>{t.prefix}…</Code>
              </Stack>
              <Button size="xs" variant="subtle" color="red" onClick={() => setRevoking(t)}>Revoke</Button>
            </Group>
            {isOwner && (
              <Group gap={6} mt="xs" wrap="nowrap" style={{ minWidth: 0 }}>
                <Text size="xs" truncate>{t.adminEmail}</Text>
                <Badge size="xs" variant="light">{t.role}</Badge>
              </Group>
            )}
            <SimpleGrid cols={3} mt="xs" spacing="xs">
              {([['Created', formatTime(t.createdAt)], ['Expires', t.expiresAt ? formatTime(t.expiresAt) : 'Never'], ['Last used', formatTime(t.lastUsedAt)]] as const).map(([k, v]) => (
                <div key={k}>
                  <Text size="xs" c="dimmed">{k}</Text>
                  <Text size="xs">{v}</Text>
                </div>
              ))}
            </SimpleGrid>
          </Card>
        ))}
      </Stack>
    );
  else
    body = (
      <Table.ScrollContainer minWidth={720}>
        <Table striped verticalSpacing="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Token</Table.Th>
              {isOwner && <Table.Th>Admin</Table.Th>}
              <Table.Th>Created</Table.Th>
              <Table.Th>Expires</Table.Th>
              <Table.Th>Last used</Table.Th>
              <Table.Th aria-label="Actions" />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {tokens.data.items.map((t) => (
              <Table.Tr key={t.id} data-testid={`token-row-${t.name}`}>
                <Table.Td><Text size="sm" fw={500}>{t.name}</Text></Table.Td>
                <Table.Td><Code>{t.prefix}…</Code></Table.Td>
                {isOwner && <Table.Td><Text size="sm">{t.adminEmail}</Text> <Badge size="xs" variant="light">{t.role}</Badge></Table.Td>}
                <Table.Td><Text size="sm">{formatTime(t.createdAt)}</Text></Table.Td>
                <Table.Td><Text size="sm">{t.expiresAt ? formatTime(t.expiresAt) : 'Never'}</Text></Table.Td>
                <Table.Td><Text size="sm">{formatTime(t.lastUsedAt)}</Text></Table.Td>
                <Table.Td ta="right"><Button size="xs" variant="subtle" color="red" onClick={() => setRevoking(t)}>Revoke</Button></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    );
  return (
    <>
      <PageHeader
        title="API tokens"
        description={isOwner ? 'Every token of the account. A token acts with its admin’s role.' : 'Your tokens. A token acts with your role.'}
        actions={<Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>Create token</Button>}
      />
      {body}
      <CreateToken opened={creating} onClose={() => setCreating(false)} />
      <ConfirmModal
        opened={!!revoking}
        title="Revoke API token"
        confirmLabel="Revoke"
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          await api('DELETE', `/tokens/${revoking!.id}`);
          await qc.invalidateQueries({ queryKey: ['tokens'] });
        }}
      >
        Anything using “{revoking?.name}” will stop working at once.
      </ConfirmModal>
    </>
  );
}
