import { useState } from 'react';
import { ActionIcon, Badge, Button, Card, Group, Menu, Modal, Stack, Table, Text, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconDots } from '@tabler/icons-react';
import { useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, formatTime, OWNERSHIP_LABEL, PLATFORM_LABEL, REQUEST_STATUS_LABEL, type EnrollmentRequest, type IssuedRequest, type RequestStatus } from '../api';
import { ConfirmModal } from './confirm';
import { RequestSecrets } from './request-secrets';
import { errorMessage } from './states';

export const REQUEST_STATUS_COLOR: Record<RequestStatus, string> = {
  pending: 'blue',
  completed: 'teal',
  expired: 'gray',
  deleted: 'gray',
  failed: 'red',
  exceeded: 'orange',
};

/** The actions column stays in reach while the wide table scrolls sideways. */
const STICKY = { position: 'sticky', right: 0, background: 'var(--mantine-color-body)', boxShadow: '-6px 0 6px -6px rgba(0, 0, 0, 0.15)' } as const;

/** Completed and deleted requests are closed: nothing to resend, nothing to delete. */
const closed = (r: EnrollmentRequest) => r.status === 'completed' || r.status === 'deleted';

/** The status badge; a Failed request says why, on a line of its own (and in a tooltip). */
export function RequestStatusCell({ request: r }: { request: EnrollmentRequest }) {
  const badge = (
    <Badge color={REQUEST_STATUS_COLOR[r.status]} variant="light" style={{ overflow: 'visible', flexShrink: 0 }} styles={{ label: { overflow: 'visible' } }} data-testid="request-status">
      {REQUEST_STATUS_LABEL[r.status]}
    </Badge>
  );
  return (
    <Stack gap={2} align="flex-start">
      {r.statusReason ? <Tooltip label={r.statusReason} multiline maw={320} withArrow>{badge}</Tooltip> : badge}
      {r.statusReason && (
        <Text size="xs" c="red.8" miw={160} maw={240} style={{ whiteSpace: 'normal' }} data-testid="request-status-reason">{r.statusReason}</Text>
      )}
      <DeviceLink request={r} />
    </Stack>
  );
}

/** A Completed request leads to the device that used it. */
function DeviceLink({ request: r }: { request: EnrollmentRequest }) {
  if (!r.deviceId) return null;
  return (
    <Text component={Link} to={`/devices/${r.deviceId}`} size="xs" fw={500} c="teal.8" data-testid="request-device-link">
      View device
    </Text>
  );
}

/** User Enrollment requests stand out: they are what this console is mostly for. */
function RequestTypeText({ type }: { type: EnrollmentRequest['requestType'] }) {
  const ue = type === 'MDM (Apple User Enrollment)';
  return <Text size="sm" fw={ue ? 600 : undefined} c={ue ? 'grape.8' : undefined} miw={ue ? 140 : undefined} data-testid="request-type">{type}</Text>;
}

/** "Dec 7, 08:03" this year, "Dec 7, 2025, 08:03" otherwise (24-hour: the table's columns stay narrow). */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, { year: sameYear ? undefined : 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function Actions({ r, onResend, onDelete }: { r: EnrollmentRequest; onResend: () => void; onDelete: () => void }) {
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <ActionIcon variant="subtle" color="gray" aria-label={`Actions for the request of ${r.username}`}><IconDots size={18} /></ActionIcon>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item disabled={closed(r)} onClick={onResend}>Resend</Menu.Item>
        <Menu.Divider />
        <Menu.Item color="red" disabled={closed(r)} onClick={onDelete}>Delete</Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

/**
 * Enrollment requests as a table (cards on a phone), with Resend (the new URL and passcode shown
 * once) and Delete (confirmed) for those who may write requests.
 */
export function RequestsTable({ items, narrow, writable, showUser = true }: { items: EnrollmentRequest[]; narrow: boolean; writable: boolean; showUser?: boolean }) {
  const qc = useQueryClient();
  const [resent, setResent] = useState<IssuedRequest | null>(null);
  const [deleting, setDeleting] = useState<EnrollmentRequest | null>(null);
  const refresh = () => {
    qc.invalidateQueries({ queryKey: ['enrollment-requests'] });
    qc.invalidateQueries({ queryKey: ['outbox-summary'] });
  };
  const resend = async (r: EnrollmentRequest) => {
    try {
      setResent(await api<IssuedRequest>('POST', `/enrollment-requests/${r.id}/resend`));
      refresh();
    } catch (e) {
      notifications.show({ color: 'red', title: 'Not resent', message: errorMessage(e) });
    }
  };
  const userCell = (r: EnrollmentRequest) => (
    <Text component={Link} to={`/users/${r.userId}`} size="sm" fw={500} c="teal.8">{r.username}</Text>
  );
  const list = narrow ? (
    <Stack gap="xs" data-testid="requests-cards">
      {items.map((r) => (
        <Card key={r.id} withBorder padding="sm" data-testid={`request-row-${r.username}-${r.platform}`} data-request-id={r.id}>
          <Group justify="space-between" wrap="nowrap" align="flex-start">
            <Stack gap={2} style={{ minWidth: 0 }}>
              {showUser ? (
                <Text component={Link} to={`/users/${r.userId}`} fw={600} c="teal.8" truncate>{r.username}@{r.domain}</Text>
              ) : (
                <Text fw={600}>{PLATFORM_LABEL[r.platform]}</Text>
              )}
              {showUser && <Text size="sm" c="dimmed" truncate>{r.email}</Text>}
            </Stack>
            <Group gap={4} wrap="nowrap" align="flex-start" style={{ flexShrink: 0 }}>
              <Badge color={REQUEST_STATUS_COLOR[r.status]} variant="light" style={{ overflow: 'visible' }} data-testid="request-status">{REQUEST_STATUS_LABEL[r.status]}</Badge>
              {writable && <Actions r={r} onResend={() => resend(r)} onDelete={() => setDeleting(r)} />}
            </Group>
          </Group>
          <Stack gap={0} mt={6}>
            <RequestTypeText type={r.requestType} />
            <Text size="sm" c="dimmed">{showUser ? `${PLATFORM_LABEL[r.platform]} · ` : ''}{OWNERSHIP_LABEL[r.ownership]}</Text>
          </Stack>
          {r.statusReason && <Text size="xs" c="red.8" mt={4} style={{ wordBreak: 'break-word' }} data-testid="request-status-reason">{r.statusReason}</Text>}
          {r.deviceId && <Text component={Link} to={`/devices/${r.deviceId}`} size="sm" fw={500} c="teal.8" mt={4} data-testid="request-device-link">View device</Text>}
          <Text size="xs" c="dimmed" mt={4}>
            Requested {shortTime(r.createdAt)} by {r.requestedBy.label} · expires {shortTime(r.expiresAt)}
          </Text>
        </Card>
      ))}
    </Stack>
  ) : (
    <Table.ScrollContainer minWidth={showUser ? 1060 : 800}>
      <Table striped highlightOnHover verticalSpacing="xs" horizontalSpacing={8} data-testid="requests-table">
        <Table.Thead>
          <Table.Tr>
            {showUser && <Table.Th>Username</Table.Th>}
            {showUser && <Table.Th>Email</Table.Th>}
            <Table.Th>Platform</Table.Th>
            <Table.Th>Ownership</Table.Th>
            <Table.Th>Request Type</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Requested By</Table.Th>
            <Table.Th>Requested</Table.Th>
            <Table.Th>Expires</Table.Th>
            {writable && <Table.Th aria-label="Actions" style={STICKY} />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((r) => (
            <Table.Tr key={r.id} data-testid={`request-row-${r.username}-${r.platform}`} data-request-id={r.id}>
              {showUser && <Table.Td>{userCell(r)}</Table.Td>}
              {showUser && <Table.Td maw={220}><Text size="sm" truncate title={r.email}>{r.email}</Text></Table.Td>}
              <Table.Td><Text size="sm">{PLATFORM_LABEL[r.platform] ?? r.platform}</Text></Table.Td>
              <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }}>{OWNERSHIP_LABEL[r.ownership] ?? r.ownership}</Text></Table.Td>
              <Table.Td><RequestTypeText type={r.requestType} /></Table.Td>
              <Table.Td style={{ whiteSpace: 'nowrap' }}><RequestStatusCell request={r} /></Table.Td>
              <Table.Td maw={200}><Text size="sm" truncate title={r.requestedBy.label}>{r.requestedBy.label}</Text></Table.Td>
              <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }} title={formatTime(r.createdAt)}>{shortTime(r.createdAt)}</Text></Table.Td>
              <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }} c={r.status === 'pending' ? undefined : 'dimmed'} title={formatTime(r.expiresAt)}>{shortTime(r.expiresAt)}</Text></Table.Td>
              {writable && <Table.Td style={STICKY}><Actions r={r} onResend={() => resend(r)} onDelete={() => setDeleting(r)} /></Table.Td>}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
  return (
    <>
      {list}
      <Modal opened={!!resent} onClose={() => setResent(null)} title="Request resent" size="lg" centered>
        {resent && (
          <Stack>
            <Text size="sm">
              The {PLATFORM_LABEL[resent.platform]} request of <b>{resent.username}@{resent.domain}</b> has a new URL and passcode; the old ones no longer work.
              {resent.notify === 'none' ? ' No notification is sent: pass these on yourself.' : ' The employee is notified again.'}
            </Text>
            <RequestSecrets request={resent} />
            <Group justify="flex-end"><Button onClick={() => setResent(null)}>Done</Button></Group>
          </Stack>
        )}
      </Modal>
      <ConfirmModal
        opened={!!deleting}
        title="Delete request"
        confirmLabel="Delete request"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          const gone = deleting!;
          await api('DELETE', `/enrollment-requests/${gone.id}`);
          notifications.show({ color: 'teal', title: 'Request deleted', message: `The ${PLATFORM_LABEL[gone.platform]} request of ${gone.username}@${gone.domain}: its URL and passcode no longer work.` });
          refresh();
        }}
      >
        Delete the {deleting && PLATFORM_LABEL[deleting.platform]} request of {deleting?.username}@{deleting?.domain}? Its URL and passcode stop working at once.
      </ConfirmModal>
    </>
  );
}
