import { useEffect, useState } from 'react';
import { ActionIcon, Alert, Code, CopyButton, Group, Image, Skeleton, Stack, Text, Tooltip } from '@mantine/core';
import { IconCheck, IconCopy } from '@tabler/icons-react';
import QRCode from 'qrcode';
import type { IssuedRequest } from '../api';

function Copyable({ label, value, mono = true }: { label: string; value: string; mono?: boolean }) {
  return (
    <Stack gap={4}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>{label}</Text>
      <Group gap="xs" wrap="nowrap" align="flex-start">
        <Code block style={{ flex: 1, minWidth: 0, wordBreak: 'break-all', whiteSpace: 'pre-wrap', fontSize: mono ? undefined : 'var(--mantine-font-size-sm)' }} data-testid={`secret-${label.toLowerCase()}`}>
          {value}
        </Code>
        <CopyButton value={value} timeout={2000}>
          {({ copied, copy }) => (
            <Tooltip label={copied ? 'Copied' : `Copy ${label.toLowerCase()}`} withArrow>
              <ActionIcon variant="light" color={copied ? 'teal' : 'gray'} size="lg" onClick={copy} aria-label={`Copy ${label.toLowerCase()}`}>
                {copied ? <IconCheck size={18} /> : <IconCopy size={18} />}
              </ActionIcon>
            </Tooltip>
          )}
        </CopyButton>
      </Group>
    </Stack>
  );
}

/**
 * A request's enrollment URL, passcode and the URL as a QR code. Pippin keeps only their HMACs, so
 * this is the one time anyone sees them: the caller shows it right after create or resend, and never again.
 */
export function RequestSecrets({ request }: { request: IssuedRequest }) {
  const { url, passcode } = request;
  const [qr, setQr] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    QRCode.toDataURL(url, { margin: 1, width: 440, errorCorrectionLevel: 'M' }).then((d) => live && setQr(d), () => live && setQr(null));
    return () => {
      live = false;
    };
  }, [url]);
  return (
    <Stack gap="sm" data-testid="request-secrets">
      <Alert color="yellow" variant="light" title="Shown this once">
        Pippin does not keep the URL{passcode ? ' or the passcode' : ''}. Copy {passcode ? 'them' : 'it'} now if the employee needs {passcode ? 'them' : 'it'} from you; resending the request makes new ones.
      </Alert>
      <Group align="flex-start" gap="md" wrap="wrap">
        {qr ? (
          <Image src={qr} alt={`QR code of ${url}`} w={180} h={180} fit="contain" style={{ flexShrink: 0, border: '1px solid var(--mantine-color-gray-3)', borderRadius: 8 }} data-testid="secret-qr" />
        ) : (
          <Skeleton w={180} h={180} />
        )}
        <Stack gap="sm" style={{ flex: '1 1 220px', minWidth: 0 }}>
          <Copyable label="URL" value={url} />
          {passcode ? (
            <>
              <Copyable label="Passcode" value={passcode} />
              <Text size="xs" c="dimmed">The employee opens the URL on the device (or scans the code with its camera) and enters the passcode when asked.</Text>
            </>
          ) : (
            <Text size="sm" c="dimmed" data-testid="secret-no-passcode">
              {request.seamless
                ? 'No passcode: this request is seamless, so the URL alone enrols. Hand it only to the employee.'
                : 'No passcode: the employee signs in with their Pippin directory password.'}
            </Text>
          )}
        </Stack>
      </Group>
    </Stack>
  );
}
