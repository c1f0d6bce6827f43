import { useState, type ReactNode } from 'react';
import { Alert, Badge, Button, Card, Code, FileInput, Group, List, PasswordInput, SegmentedControl, SimpleGrid, Stack, Text } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconArrowLeft, IconCertificate, IconUpload } from '@tabler/icons-react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, formatTime } from '../api';
import { useSession } from '../session';
import { PageHeader } from '../components/page';
import { ErrorState, LoadingState, errorMessage } from '../components/states';
import { mayReadPush, mayUploadPush, PUSH_STATUS_KEY, usePushStatus, type PushCertificateStatus } from '../components/test-topic-banner';
import { PUSH_UPLOAD_LIMITS } from '../../../src/apple/push/model';

const PORTAL = 'https://identity.apple.com';

/** The expiry as a badge: red once expired, yellow within the warning window, else teal. */
export function expiryBadge(s: PushCertificateStatus) {
  if (!s.configured || s.expiresInDays === null) return null;
  if (s.expired) return <Badge color="red" data-testid="push-expiry-badge">Expired</Badge>;
  const days = `${s.expiresInDays} day${s.expiresInDays === 1 ? '' : 's'}`;
  if (s.expiringSoon) return <Badge color="yellow" data-testid="push-expiry-badge">Expires in {days}</Badge>;
  return <Badge color="teal" variant="light" data-testid="push-expiry-badge">Valid, {days} left</Badge>;
}

function Detail({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <Stack gap={2} style={{ minWidth: 0 }}>
      <Text size="xs" c="dimmed" fw={600} tt="uppercase">
        {label}
      </Text>
      <Text size="sm" style={{ overflowWrap: 'anywhere' }} data-testid={testId}>
        {children}
      </Text>
    </Stack>
  );
}

function StatusCard({ status }: { status: PushCertificateStatus }) {
  const date = (iso: string | null) => (iso ? new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : '—');
  return (
    <Card withBorder padding="lg" data-testid="push-status">
      <Group justify="space-between" mb="sm" wrap="wrap" gap="xs">
        <Group gap="xs">
          <IconCertificate size={20} stroke={1.6} />
          <Text fw={600}>APNs push certificate</Text>
        </Group>
        {expiryBadge(status) ?? (
          <Badge color={status.testTopic ? 'red' : 'gray'} variant="light">
            {status.testTopic ? 'Test topic' : 'Not uploaded'}
          </Badge>
        )}
      </Group>
      <Stack>
        {status.configured && status.expired && (
          <Alert color="red" role="alert">
            This certificate expired on {date(status.notAfter)}: Pippin cannot reach the enrolled devices. Renew it at the Apple Push Certificates Portal with the same Apple ID and upload the renewed certificate here.
          </Alert>
        )}
        {status.configured && status.expiringSoon && !status.expired && (
          <Alert color="yellow" data-testid="push-expiry-warning">
            This certificate expires on {date(status.notAfter)}. Renew it at the Apple Push Certificates Portal with the same Apple ID before then, and upload the renewed certificate here; a new certificate instead of a renewal would strand every enrolled device.
          </Alert>
        )}
        {status.testTopic && (
          <Alert color="red">
            No push certificate is uploaded and test topics are allowed (PIPPIN_ALLOW_TEST_TOPIC): profiles carry the generated topic below, and real devices cannot be reached.
          </Alert>
        )}
        {!status.configured && !status.testTopic && (
          <Alert color="orange">No push certificate is uploaded: Pippin serves no enrollment profiles until there is one.</Alert>
        )}
        {(status.configured || status.topic) && (
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <Detail label="Topic" testId="push-topic">
              <Code>{status.topic}</Code>
            </Detail>
            {status.configured && (
              <>
                <Detail label="Subject" testId="push-subject">
                  {status.subject}
                </Detail>
                <Detail label="Valid from">{date(status.notBefore)}</Detail>
                <Detail label="Expires" testId="push-expiry">
                  {date(status.notAfter)}
                </Detail>
                <Detail label="Uploaded">
                  {formatTime(status.uploadedAt)} by {status.uploadedBy}
                </Detail>
              </>
            )}
          </SimpleGrid>
        )}
      </Stack>
    </Card>
  );
}

type Kind = 'p12' | 'pem';

/** One file of the upload (tests reach its hidden input by `testId`). */
function FilePick({ testId, ...props }: { label: string; placeholder: string; accept: string; value: File | null; onChange: (f: File | null) => void; testId: string }) {
  return <FileInput {...props} clearable fileInputProps={{ 'data-testid': testId } as object} />;
}

/** A file's bytes as base64 (a push certificate's .p12 is a few kilobytes). */
async function base64Of(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function UploadCard({ renewal }: { renewal: boolean }) {
  const qc = useQueryClient();
  const [kind, setKind] = useState<Kind>('p12');
  const [p12, setP12] = useState<File | null>(null);
  const [password, setPassword] = useState('');
  const [cert, setCert] = useState<File | null>(null);
  const [key, setKey] = useState<File | null>(null);
  const [localError, setLocalError] = useState<string | null>(null);

  const upload = useMutation({
    mutationFn: async () => {
      if (kind === 'p12') {
        if (p12!.size > PUSH_UPLOAD_LIMITS.p12MaxBytes) throw new Error(`${p12!.name} is too large for a push certificate (at most ${PUSH_UPLOAD_LIMITS.p12MaxBytes / 1024} KB).`);
        return api<PushCertificateStatus>('PUT', '/apple/push-certificate', { p12Base64: await base64Of(p12!), password });
      }
      return api<PushCertificateStatus>('PUT', '/apple/push-certificate', { certificatePem: await cert!.text(), privateKeyPem: await key!.text() });
    },
    onSuccess: (s) => {
      qc.setQueryData(PUSH_STATUS_KEY, s);
      setP12(null);
      setPassword('');
      setCert(null);
      setKey(null);
      notifications.show({ color: 'teal', title: renewal ? 'Push certificate renewed' : 'Push certificate uploaded', message: `Topic ${s.topic}` });
    },
  });
  const ready = kind === 'p12' ? !!p12 : !!cert && !!key;
  const error = localError ?? (upload.error ? errorMessage(upload.error) : null);

  return (
    <Card withBorder padding="lg">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setLocalError(null);
          upload.mutate();
        }}
      >
        <Stack>
          <Text fw={600}>{renewal ? 'Renew the push certificate' : 'Upload the push certificate'}</Text>
          <SegmentedControl
            value={kind}
            onChange={(v) => {
              setKind(v as Kind);
              upload.reset();
            }}
            data={[
              { value: 'p12', label: '.p12 file' },
              { value: 'pem', label: 'PEM certificate and key' },
            ]}
            aria-label="What to upload"
          />
          {kind === 'p12' ? (
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <FilePick label="Certificate with its key (.p12)" placeholder="Choose a .p12 file" accept=".p12,.pfx,application/x-pkcs12" value={p12} onChange={setP12} testId="push-p12-file" />
              <PasswordInput label="Password" description="The password the .p12 was exported with" value={password} onChange={(e) => setPassword(e.currentTarget.value)} maxLength={PUSH_UPLOAD_LIMITS.passwordMax} />
            </SimpleGrid>
          ) : (
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <FilePick label="Certificate (PEM)" placeholder="MDM_…_Certificate.pem" accept=".pem,.crt,.cer" value={cert} onChange={setCert} testId="push-cert-file" />
              <FilePick label="Private key (PEM, unencrypted)" placeholder="The key of your certificate request" accept=".pem,.key" value={key} onChange={setKey} testId="push-key-file" />
            </SimpleGrid>
          )}
          {error && (
            <Alert color="red" role="alert" data-testid="push-upload-error">
              {error}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button type="submit" leftSection={<IconUpload size={16} />} disabled={!ready} loading={upload.isPending}>
              {renewal ? 'Upload renewal' : 'Upload'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

function HowTo() {
  return (
    <Card withBorder padding="lg">
      <Text fw={600} mb="xs">
        Getting the certificate
      </Text>
      <List size="sm" spacing={4} type="ordered">
        <List.Item>Create a certificate signing request and have it signed by your MDM vendor certificate (see the README, Apple setup).</List.Item>
        <List.Item>
          Sign in at the Apple Push Certificates Portal ({PORTAL}) with your organisation's Apple ID, upload the signed request and download the certificate.
        </List.Item>
        <List.Item>Upload it here with its private key, as a .p12 or as PEM files.</List.Item>
        <List.Item>Every year, renew it in the portal with the same Apple ID (Renew, not Create): the topic must stay the same, or every enrolled device must enrol again.</List.Item>
      </List>
    </Card>
  );
}

/** Settings ▸ Apple: the APNs push certificate's status, and its upload for owners. */
export function AppleSettingsPage() {
  const role = useSession().admin.role;
  const status = usePushStatus(role);
  const header = (
    <PageHeader
      title="Apple"
      description="The APNs MDM push certificate: Pippin reaches enrolled devices through it, and its topic is in every enrollment profile."
      actions={
        <Button component={Link} to="/settings" variant="default" leftSection={<IconArrowLeft size={16} />}>
          Settings
        </Button>
      }
    />
  );
  if (!mayReadPush(role)) {
    return (
      <>
        {header}
        <Alert color="blue" variant="light">
          Only owners and admins can see the Apple setup.
        </Alert>
      </>
    );
  }
  if (status.isPending) return (<>{header}<LoadingState rows={6} /></>);
  if (status.isError) return (<>{header}<ErrorState error={status.error} onRetry={() => status.refetch()} /></>);
  return (
    <>
      {header}
      <Stack>
        <StatusCard status={status.data} />
        {mayUploadPush(role) ? (
          <UploadCard renewal={status.data.configured} />
        ) : (
          <Alert color="blue" variant="light">
            Only owners can upload or renew the push certificate. You can read it.
          </Alert>
        )}
        <HowTo />
      </Stack>
    </>
  );
}

/** On the Settings page: the push certificate at a glance, and the way to Settings ▸ Apple. */
export function AppleSetupCard() {
  const role = useSession().admin.role;
  const status = usePushStatus(role);
  if (!mayReadPush(role)) return null;
  const s = status.data;
  return (
    <Card withBorder padding="lg" data-testid="apple-setup-card">
      <Group justify="space-between" wrap="wrap" gap="sm">
        <Stack gap={4} style={{ minWidth: 0, flex: '1 1 240px' }}>
          <Group gap="xs">
            <Text fw={600}>Apple</Text>
            {s && (expiryBadge(s) ?? <Badge color={s.testTopic ? 'red' : 'orange'} variant="light">{s.testTopic ? 'Test topic' : 'No push certificate'}</Badge>)}
          </Group>
          <Text size="sm" c="dimmed">
            The APNs MDM push certificate{s?.topic ? ` (topic ${s.topic})` : ''}.
          </Text>
        </Stack>
        <Button component={Link} to="/settings/apple" variant="light">
          Apple setup
        </Button>
      </Group>
    </Card>
  );
}
