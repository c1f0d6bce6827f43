import type { ReactNode } from 'react';
import { ActionIcon, Alert, Anchor, Badge, Breadcrumbs, Card, CopyButton, Group, List, SimpleGrid, Stack, Text, ThemeIcon, Title, Tooltip } from '@mantine/core';
import { IconCheck, IconCopy, IconEye, IconEyeOff, IconInfoCircle, IconTool } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, ENROLLMENT_METHOD_LABEL, ENROLLMENT_TYPE_LABEL, formatTime, OWNERSHIP_LABEL, PLATFORM_LABEL, REQUEST_STATUS_LABEL, type Device, type EnrollmentRequest } from '../api';
import { PageHeader } from '../components/page';
import { ErrorState, LoadingState } from '../components/states';
import { deviceIdentifier, deviceName, DeviceStatusBadge, sinceText } from '../components/devices-table';
import { REQUEST_STATUS_COLOR } from '../components/requests-table';
import { Field } from './user';

/** A long identifier, wrapped and copyable. */
function Identifier({ label, value }: { label: string; value: string | null }) {
  if (!value) return <Text size="sm" c="dimmed">—</Text>;
  return (
    <Group gap={4} wrap="nowrap" align="flex-start">
      <Text size="sm" ff="monospace" style={{ wordBreak: 'break-all', minWidth: 0 }} data-testid="device-identifier-value">{value}</Text>
      <CopyButton value={value} timeout={2000}>
        {({ copied, copy }) => (
          <Tooltip label={copied ? 'Copied' : `Copy ${label}`} withArrow>
            <ActionIcon variant="subtle" color={copied ? 'teal' : 'gray'} size="sm" onClick={copy} aria-label={`Copy ${label}`}>
              {copied ? <IconCheck size={14} /> : <IconCopy size={14} />}
            </ActionIcon>
          </Tooltip>
        )}
      </CopyButton>
    </Group>
  );
}

function Points({ items, icon, color, testId }: { items: ReactNode[]; icon: ReactNode; color: string; testId: string }) {
  return (
    <List spacing={6} size="sm" icon={<ThemeIcon color={color} size={22} radius="xl" variant="light">{icon}</ThemeIcon>} data-testid={testId}>
      {items.map((item, i) => (
        <List.Item key={i}>
          <Text size="sm" lh={1.4} pt={2}>{item}</Text>
        </List.Item>
      ))}
    </List>
  );
}

function Column({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Stack gap="xs">
      <Text fw={600} size="sm">{title}</Text>
      {children}
    </Stack>
  );
}

/**
 * What enrolment gives the organisation on this device, in the employee's terms: User Enrollment
 * keeps work and personal apart (Apple: "Overview of User Enrollment"), device enrolment gives IT
 * the device itself.
 */
function PrivacyPanel({ device }: { device: Device }) {
  const can = <IconEye size={13} />;
  const cannot = <IconEyeOff size={13} />;
  const tool = <IconTool size={13} />;
  if (device.enrollmentType === 'user')
    return (
      <Card withBorder padding="lg" data-testid="device-privacy" data-kind="user-enrollment">
        <Title order={4} mb={4}>What the organisation can and cannot see</Title>
        <Text size="sm" c="dimmed" mb="md">
          This is a personal device enrolled with User Enrollment: work and personal data are kept apart, and the organisation manages only the work side.
        </Text>
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="lg">
          <Column title="Can see and manage">
            <Points
              testId="privacy-can"
              color="teal"
              icon={can}
              items={['The work apps and data it installs', 'The Managed Apple Account used for work', 'The OS version and model', 'Settings it installs for work (accounts, Wi-Fi, VPN for work apps)']}
            />
          </Column>
          <Column title="Cannot see">
            <Points
              testId="privacy-cannot"
              color="red"
              icon={cannot}
              items={['The serial number or UDID', 'Personal apps and their data', 'Photos', 'Messages, email and calls', 'Location', 'Browsing history']}
            />
          </Column>
        </SimpleGrid>
        <Text size="sm" c="dimmed" mt="md">
          The organisation cannot erase or lock the device. When the employee removes the enrollment, or the organisation ends it, only the work apps and data
          are removed.
        </Text>
      </Card>
    );
  return (
    <Card withBorder padding="lg" data-testid="device-privacy" data-kind="device-enrollment">
      <Title order={4} mb={4}>What IT can see and do</Title>
      <Text size="sm" c="dimmed" mb="md">
        This device is enrolled with device enrollment: IT manages the whole device, as for a device the organisation owns.
      </Text>
      <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="lg">
        <Column title="Can see">
          <Points
            testId="privacy-can"
            color="teal"
            icon={can}
            items={['The serial number and UDID', 'The model, OS version and device name', 'The installed apps', 'The profiles and settings installed', 'Storage, battery and network details']}
          />
        </Column>
        <Column title="Can do">
          <Points
            testId="privacy-can-do"
            color="blue"
            icon={tool}
            items={['Install and remove apps, profiles and settings', 'Require a passcode and set restrictions', 'Lock the device', 'Erase the device']}
          />
        </Column>
        <Column title="Cannot see">
          <Points testId="privacy-cannot" color="red" icon={cannot} items={['Photos', 'Messages, email and calls', 'Browsing history', 'The content of personal apps']} />
        </Column>
      </SimpleGrid>
    </Card>
  );
}

/** The request this device used: its type, ownership and who sent it, and where to find it. */
function RequestCard({ device }: { device: Device }) {
  const request = useQuery({
    queryKey: ['enrollment-request', device.requestId],
    queryFn: () => api<EnrollmentRequest>('GET', `/enrollment-requests/${device.requestId}`),
    enabled: !!device.requestId,
  });
  const links = (
    <Group gap="md">
      {device.username && (
        <Anchor component={Link} to={`/enrollments?q=${encodeURIComponent(device.username)}&status=completed`} size="sm" data-testid="device-request-link">
          Find it in Enrollments
        </Anchor>
      )}
      {device.userId && (
        <Anchor component={Link} to={`/users/${device.userId}`} size="sm">
          All requests of {device.username}
        </Anchor>
      )}
    </Group>
  );
  let body;
  if (!device.requestId) body = <Text size="sm" c="dimmed">The request this device used no longer exists.</Text>;
  else if (request.isPending) body = <LoadingState rows={2} />;
  else if (request.isError) body = <ErrorState error={request.error} onRetry={() => request.refetch()} />;
  else {
    const r = request.data;
    body = (
      <SimpleGrid cols={{ base: 2, md: 3 }} spacing="lg">
        <Field label="Request type">
          <Text size="sm" fw={r.userEnrollment ? 600 : undefined} c={r.userEnrollment ? 'grape.8' : undefined} data-testid="device-request-type">{r.requestType}</Text>
        </Field>
        <Field label="Ownership"><Text size="sm">{OWNERSHIP_LABEL[r.ownership]}</Text></Field>
        <Field label="Status"><Badge color={REQUEST_STATUS_COLOR[r.status]} variant="light" data-testid="device-request-status">{REQUEST_STATUS_LABEL[r.status]}</Badge></Field>
        <Field label="Requested by"><Text size="sm">{r.requestedBy.label}</Text></Field>
        <Field label="Requested"><Text size="sm">{formatTime(r.createdAt)}</Text></Field>
        {r.comments && <Field label="Comments"><Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>{r.comments}</Text></Field>}
      </SimpleGrid>
    );
  }
  return (
    <Card withBorder padding="lg" data-testid="device-request">
      <Group justify="space-between" mb="sm" wrap="wrap" gap="xs">
        <Text fw={600}>Enrollment request</Text>
        {links}
      </Group>
      {body}
    </Card>
  );
}

/** One device: what it is, whose it is, the request it used, and what its kind of enrolment lets the organisation see. */
export function DevicePage() {
  const { id } = useParams();
  const device = useQuery({ queryKey: ['device', id], queryFn: () => api<Device>('GET', `/devices/${id}`) });
  const crumbs = (
    <Breadcrumbs mb="sm">
      <Anchor component={Link} to="/devices" size="sm">Devices</Anchor>
      <Text size="sm">{device.data ? deviceName(device.data) : '…'}</Text>
    </Breadcrumbs>
  );
  if (device.isPending) return (<>{crumbs}<LoadingState rows={6} /></>);
  if (device.isError) return (<>{crumbs}<ErrorState error={device.error} onRetry={() => device.refetch()} /></>);
  const d = device.data;
  const ue = d.enrollmentType === 'user';
  const identifier = deviceIdentifier(d);
  return (
    <>
      {crumbs}
      <PageHeader
        title={deviceName(d)}
        description={
          <>
            {PLATFORM_LABEL[d.platform]}
            {d.osVersion ? ` ${d.osVersion}` : ''} · {ENROLLMENT_TYPE_LABEL[d.enrollmentType]} · {d.username ?? 'user deleted'}
          </>
        }
        actions={<DeviceStatusBadge status={d.status} />}
      />
      <Stack>
        {d.status === 'checked_out' && (
          <Alert color="gray" variant="light" icon={<IconInfoCircle size={20} />} title="Checked out" data-testid="device-checked-out">
            This device removed its management profile, so the organisation no longer manages it. Its record is kept for reference.
          </Alert>
        )}
        <Card withBorder padding="lg" data-testid="device-details">
          <SimpleGrid cols={{ base: 2, md: 3 }} spacing="lg">
            <Field label="User">
              {d.userId ? (
                <Anchor component={Link} to={`/users/${d.userId}`} size="sm" fw={500} data-testid="device-user-link">{d.username}</Anchor>
              ) : (
                <Text size="sm" c="dimmed" fs="italic">User deleted</Text>
              )}
            </Field>
            <Field label="Platform"><Text size="sm">{PLATFORM_LABEL[d.platform]}</Text></Field>
            <Field label="Enrollment">
              <Text size="sm" fw={ue ? 600 : undefined} c={ue ? 'grape.8' : undefined} data-testid="device-enrollment-type">{ENROLLMENT_TYPE_LABEL[d.enrollmentType]}</Text>
              <Text size="xs" c="dimmed" data-testid="device-enrollment-method">{ENROLLMENT_METHOD_LABEL[d.enrollmentMethod]}</Text>
            </Field>
            <Field label={identifier.label}>
              <Identifier label={identifier.label} value={identifier.value} />
            </Field>
            <Field label="Serial number">
              {ue ? (
                <Text size="sm" c="dimmed" data-testid="device-serial">Not visible with User Enrollment</Text>
              ) : (
                <Text size="sm" ff="monospace" data-testid="device-serial">{d.serialNumber || '—'}</Text>
              )}
            </Field>
            <Field label="OS version"><Text size="sm">{d.osVersion || '—'}</Text></Field>
            <Field label="Model"><Text size="sm" data-testid="device-model">{d.productName || '—'}</Text></Field>
            <Field label="Status"><DeviceStatusBadge status={d.status} /></Field>
            <Field label="Enrolled"><Text size="sm">{formatTime(d.enrolledAt)}</Text></Field>
            <Field label="Last seen">
              <Text size="sm" title={formatTime(d.lastSeenAt)}>{sinceText(d.lastSeenAt)}</Text>
            </Field>
          </SimpleGrid>
        </Card>
        <PrivacyPanel device={d} />
        <RequestCard device={d} />
      </Stack>
    </>
  );
}
