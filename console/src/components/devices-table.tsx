import { Badge, Card, Group, Stack, Table, Text, Tooltip } from '@mantine/core';
import { Link } from 'react-router';
import { DEVICE_STATUS_LABEL, ENROLLMENT_METHOD_LABEL, ENROLLMENT_TYPE_LABEL, formatTime, PLATFORM_LABEL, type Device, type DeviceStatus } from '../api';
import { shortTime } from './requests-table';

export const DEVICE_STATUS_COLOR: Record<DeviceStatus, string> = { authenticated: 'blue', enrolled: 'teal', checked_out: 'gray' };

/** "just now", "5 minutes ago", "3 hours ago"; older than a day: the date and time. The exact time is in the tooltip. */
export function sinceText(iso: string | null): string {
  if (!iso) return '—';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (seconds < 3600) return rtf.format(-Math.floor(seconds / 60), 'minute');
  if (seconds < 86_400) return rtf.format(-Math.floor(seconds / 3600), 'hour');
  return shortTime(iso);
}

/** "Nov 30" this year, "Nov 30, 2025" otherwise (the time is in the tooltip). */
function shortDate(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleDateString(undefined, { year: d.getFullYear() === new Date().getFullYear() ? undefined : 'numeric', month: 'short', day: 'numeric' });
}

/** The one identifier the organisation holds for the device, and which kind it is. */
export function deviceIdentifier(d: Device): { label: 'UDID' | 'EnrollmentID'; value: string | null } {
  return d.enrollmentType === 'user' ? { label: 'EnrollmentID', value: d.enrollmentId } : { label: 'UDID', value: d.udid };
}

/** What the device calls itself for a person: its model (product name), or its platform when it sent none. */
export function deviceName(d: Device): string {
  return d.productName || `${PLATFORM_LABEL[d.platform]} device`;
}

export function DeviceStatusBadge({ status }: { status: DeviceStatus }) {
  return (
    <Badge color={DEVICE_STATUS_COLOR[status]} variant="light" style={{ flexShrink: 0, overflow: 'visible' }} styles={{ label: { overflow: 'visible' } }} data-testid="device-status">
      {DEVICE_STATUS_LABEL[status]}
    </Badge>
  );
}

/** User Enrollment stands out (as its requests do): the privacy-preserving kind this console is mostly for. */
export function EnrollmentText({ device: d, inline = false }: { device: Device; inline?: boolean }) {
  const ue = d.enrollmentType === 'user';
  const type = (
    <Text size="sm" span={inline} fw={ue ? 600 : undefined} c={ue ? 'grape.8' : undefined} style={{ whiteSpace: 'nowrap' }} data-testid="device-enrollment-type">
      {ENROLLMENT_TYPE_LABEL[d.enrollmentType]}
    </Text>
  );
  const method = (
    <Text size={inline ? 'sm' : 'xs'} span={inline} c="dimmed" data-testid="device-enrollment-method">
      {ENROLLMENT_METHOD_LABEL[d.enrollmentMethod]}
    </Text>
  );
  return inline ? (
    <Text size="sm">
      {type} · {method}
    </Text>
  ) : (
    <Stack gap={0}>
      {type}
      {method}
    </Stack>
  );
}

function IdentifierCell({ device }: { device: Device }) {
  const id = deviceIdentifier(device);
  return (
    <Stack gap={0} style={{ minWidth: 0 }} data-testid="device-identifier">
      <Text size="xs" c="dimmed" fw={700} data-testid="device-identifier-label">{id.label}</Text>
      <Text fz={13} ff="monospace" truncate maw={200} title={id.value ?? undefined}>{id.value ?? '—'}</Text>
    </Stack>
  );
}

function When({ iso }: { iso: string | null }) {
  return iso ? (
    <Tooltip label={formatTime(iso)} withArrow>
      <Text size="sm" style={{ whiteSpace: 'nowrap' }}>{sinceText(iso)}</Text>
    </Tooltip>
  ) : (
    <Text size="sm" c="dimmed">—</Text>
  );
}

function UserLink({ device: d, strong = false }: { device: Device; strong?: boolean }) {
  if (!d.userId) return <Text size="sm" c="dimmed" fs="italic">User deleted</Text>;
  return <Text component={Link} to={`/users/${d.userId}`} size="sm" fw={strong ? 600 : 500} c="teal.8" truncate>{d.username}</Text>;
}

function DeviceLink({ device: d, strong = false }: { device: Device; strong?: boolean }) {
  return (
    <Text component={Link} to={`/devices/${d.id}`} size="sm" fw={strong ? 600 : 500} c="teal.8" truncate aria-label={`Device details: ${deviceName(d)} of ${d.username ?? 'a deleted user'}`}>
      {deviceName(d)}
    </Text>
  );
}

/** Devices as a table (cards on a phone); the model (product name) opens the device page, the username the user's. */
export function DevicesTable({ items, narrow, showUser = true }: { items: Device[]; narrow: boolean; showUser?: boolean }) {
  const testId = (d: Device) => `device-row-${d.username ?? 'deleted'}-${d.platform}`;
  if (narrow)
    return (
      <Stack gap="xs" data-testid="devices-cards">
        {items.map((d) => (
          <Card key={d.id} withBorder padding="sm" data-testid={testId(d)} data-device-id={d.id}>
            <Group justify="space-between" wrap="nowrap" align="flex-start">
              <Stack gap={2} style={{ minWidth: 0 }}>
                <DeviceLink device={d} strong />
                <Text size="sm" c="dimmed" truncate>
                  {PLATFORM_LABEL[d.platform]}
                  {d.osVersion ? ` ${d.osVersion}` : ''}
                </Text>
              </Stack>
              <DeviceStatusBadge status={d.status} />
            </Group>
            {showUser && (
              <Group gap={6} mt={6} wrap="nowrap" style={{ minWidth: 0 }}>
                <Text size="xs" c="dimmed" style={{ flexShrink: 0 }}>User</Text>
                <UserLink device={d} />
              </Group>
            )}
            <Stack gap={4} mt={4}>
              <EnrollmentText device={d} inline />
              <IdentifierCell device={d} />
            </Stack>
            <Text size="xs" c="dimmed" mt={4}>
              Enrolled {d.enrolledAt ? shortTime(d.enrolledAt) : '—'} · last seen {sinceText(d.lastSeenAt)}
            </Text>
          </Card>
        ))}
      </Stack>
    );
  return (
    <Table.ScrollContainer minWidth={showUser ? 960 : 860}>
      <Table striped highlightOnHover verticalSpacing="xs" horizontalSpacing={8} styles={{ th: { whiteSpace: 'nowrap' } }} data-testid="devices-table">
        <Table.Thead>
          <Table.Tr>
            {showUser && <Table.Th>Username</Table.Th>}
            <Table.Th>Platform</Table.Th>
            <Table.Th>Enrollment</Table.Th>
            <Table.Th>Identifier</Table.Th>
            <Table.Th>OS</Table.Th>
            <Table.Th>Model</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Enrolled</Table.Th>
            <Table.Th>Last seen</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((d) => (
            <Table.Tr key={d.id} data-testid={testId(d)} data-device-id={d.id}>
              {showUser && <Table.Td><UserLink device={d} /></Table.Td>}
              <Table.Td><Text size="sm">{PLATFORM_LABEL[d.platform] ?? d.platform}</Text></Table.Td>
              <Table.Td><EnrollmentText device={d} /></Table.Td>
              <Table.Td><IdentifierCell device={d} /></Table.Td>
              <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }}>{d.osVersion || '—'}</Text></Table.Td>
              <Table.Td><DeviceLink device={d} /></Table.Td>
              <Table.Td style={{ whiteSpace: 'nowrap' }}><DeviceStatusBadge status={d.status} /></Table.Td>
              <Table.Td><Text size="sm" style={{ whiteSpace: 'nowrap' }} title={formatTime(d.enrolledAt)}>{d.enrolledAt ? shortDate(d.enrolledAt) : '—'}</Text></Table.Td>
              <Table.Td><When iso={d.lastSeenAt} /></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
