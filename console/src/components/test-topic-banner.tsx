import { Alert, Anchor, Text } from '@mantine/core';
import { IconAlertOctagon } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, type Role } from '../api';
import type { PushCertificateStatus } from '../../../src/apple/push/model';

export type { PushCertificateStatus };

export const PUSH_STATUS_KEY = ['push-certificate'] as const;

/** Owners manage the push certificate; admins may see it (the server enforces both). */
export const mayReadPush = (r: Role) => r === 'owner' || r === 'admin';
export const mayUploadPush = (r: Role) => r === 'owner';

/** The account's push certificate status, for those who may read it. */
export function usePushStatus(role: Role) {
  return useQuery({ queryKey: PUSH_STATUS_KEY, queryFn: () => api<PushCertificateStatus>('GET', '/apple/push-certificate'), enabled: mayReadPush(role), staleTime: 60_000 });
}

/**
 * Across the top of every page while profiles carry a generated test topic (PIPPIN_ALLOW_TEST_TOPIC
 * and no certificate uploaded): devices enrolled now can never be reached.
 */
export function TestTopicBanner({ role }: { role: Role }) {
  const status = usePushStatus(role);
  if (!status.data?.testTopic) return null;
  return (
    <Alert color="red" variant="filled" radius={0} mb="md" icon={<IconAlertOctagon size={20} />} title="Test push topic in use" role="alert" data-testid="test-topic-banner">
      <Text size="sm">
        Enrollment profiles carry a generated test topic ({status.data.topic}), not one from an Apple push certificate: real devices cannot be reached, and
        devices enrolled now must enrol again once a certificate is uploaded.{' '}
        <Anchor component={Link} to="/settings/apple" c="white" fw={700} underline="always">
          Upload the push certificate
        </Anchor>
      </Text>
    </Alert>
  );
}
