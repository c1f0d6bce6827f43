import { PageNav, useFilterParams, useKeysetCursor } from '../components/keyset';
import { useState } from 'react';
import { Button, Group, Select, Stack, Text } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, query, type Device, type Page } from '../api';
import { PageHeader } from '../components/page';
import { EmptyState, ErrorState, LoadingState } from '../components/states';
import { DevicesTable } from '../components/devices-table';

const PAGE_SIZE = 50;

/** Devices ▸ Devices: every device that used an enrollment request, newest first (read by every role). */
export function DevicesPage() {
  const nav = useKeysetCursor();
  const [params, update] = useFilterParams(nav);
  const status = params.get('status');
  const platform = params.get('platform');
  const narrow = useMediaQuery('(max-width: 48em)') ?? false;


  const cursor = nav.cursor;
  const devices = useQuery({
    queryKey: ['devices', status, platform, cursor],
    queryFn: () => api<Page<Device>>('GET', `/devices${query({ status, platform, limit: PAGE_SIZE, cursor })}`),
    placeholderData: keepPreviousData,
  });
  const filtered = !!(status || platform);
  const data = devices.data;

  let body;
  if (devices.isPending) body = <LoadingState rows={8} />;
  else if (devices.isError) body = <ErrorState error={devices.error} onRetry={() => devices.refetch()} />;
  else if (data!.items.length === 0)
    body = filtered ? (
      <EmptyState title="No devices match" action={<Button variant="light" onClick={() => update({ status: null, platform: null })}>Clear filters</Button>}>
        Try another status or platform.
      </EmptyState>
    ) : (
      <EmptyState title="No devices yet" action={<Button variant="light" component={Link} to="/enrollments">Go to Enrollments</Button>}>
        Devices appear here once an enrollment request is used on a device: the employee opens the request's link on their iPhone, iPad or Mac, installs
        the profile, and the device checks in. Its request then shows as Completed.
      </EmptyState>
    );
  else
    body = (
      <Stack gap="xs">
        <DevicesTable items={data!.items} narrow={narrow} />
        <PageNav data={data!} nav={nav} pageSize={PAGE_SIZE} testId="devices-range" />
      </Stack>
    );

  return (
    <>
      <PageHeader title="Devices" description="Devices enrolled through an enrollment request, newest first." />
      <Group mb="md" gap="sm" align="flex-end" wrap="wrap">
        <Select
          label="Status"
          placeholder="Any"
          clearable
          data={[{ value: 'enrolled', label: 'Enrolled' }, { value: 'checked_out', label: 'Checked out' }]}
          value={status}
          onChange={(v) => update({ status: v })}
          style={{ flex: '1 1 160px', maxWidth: 240 }}
        />
        <Select
          label="Platform"
          placeholder="Any"
          clearable
          data={[{ value: 'ios', label: 'iOS' }, { value: 'macos', label: 'macOS' }]}
          value={platform}
          onChange={(v) => update({ platform: v })}
          style={{ flex: '1 1 160px', maxWidth: 240 }}
        />
      </Group>
      {body}
    </>
  );
}
