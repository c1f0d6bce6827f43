import { AppShell, Badge, Burger, Button, Group, NavLink, ScrollArea, Stack, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { IconDeviceMobile, IconDevices, IconFileSearch, IconKey, IconListCheck, IconLogout, IconSettings, IconShieldLock, IconUsers } from '@tabler/icons-react';
import { Link, Outlet, useLocation, useNavigate } from 'react-router';
import { api, can } from '../api';
import { useSession, useSignedOut } from '../session';
import { TestTopicBanner } from './test-topic-banner';

interface NavItem {
  to: string;
  label: string;
  icon: typeof IconUsers;
  show?: boolean;
}

/** The signed-in frame: header, navigation (a drawer on narrow screens) and the page. */
export function Layout() {
  const session = useSession();
  const [opened, { toggle, close }] = useDisclosure();
  const location = useLocation();
  const navigate = useNavigate();
  const signedOut = useSignedOut();
  const role = session.admin.role;
  const sections: { title: string; items: NavItem[] }[] = [
    {
      title: 'Users',
      items: [
        { to: '/users', label: 'Directory', icon: IconUsers },
        { to: '/jobs', label: 'Jobs', icon: IconListCheck, show: can.readJobs(role) },
      ],
    },
    {
      title: 'Devices',
      items: [
        { to: '/enrollments', label: 'Enrollments', icon: IconDeviceMobile },
        { to: '/devices', label: 'Devices', icon: IconDevices },
      ],
    },
    {
      title: 'Administration',
      items: [
        { to: '/settings', label: 'Settings', icon: IconSettings },
        { to: '/admins', label: 'Admins', icon: IconShieldLock, show: can.manageAdmins(role) },
        { to: '/tokens', label: 'API tokens', icon: IconKey },
        { to: '/audit', label: 'Audit log', icon: IconFileSearch, show: can.readAudit(role) },
      ],
    },
  ];
  const signOut = async () => {
    try {
      await api('DELETE', '/session');
    } finally {
      signedOut();
      navigate('/login', { replace: true });
    }
  };
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 240, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Title order={3} c="teal.8">
              Pippin
            </Title>
            <Text c="dimmed" size="sm" visibleFrom="xs" truncate maw={220} data-testid="account-name">
              {session.account.name}
            </Text>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <Stack gap={0} align="flex-end" visibleFrom="sm">
              <Text size="sm" fw={500} data-testid="signed-in-email">
                {session.admin.email}
              </Text>
              <Badge size="xs" variant="light">
                {role}
              </Badge>
            </Stack>
            <Button variant="subtle" size="compact-sm" leftSection={<IconLogout size={16} />} onClick={signOut}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        <ScrollArea>
          {sections.map((section) => (
            <Stack key={section.title} gap={2} mb="md">
              <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="sm" py={4}>
                {section.title}
              </Text>
              {section.items
                .filter((i) => i.show !== false)
                .map((item) => (
                  <NavLink
                    key={item.to}
                    component={Link}
                    to={item.to}
                    label={item.label}
                    leftSection={<item.icon size={18} stroke={1.6} />}
                    active={location.pathname === item.to || location.pathname.startsWith(`${item.to}/`)}
                    onClick={close}
                  />
                ))}
            </Stack>
          ))}
          <Stack gap={0} hiddenFrom="sm" px="sm" mt="md">
            <Text size="sm" fw={500}>
              {session.admin.email}
            </Text>
            <Text size="xs" c="dimmed">
              {role} · {session.account.name}
            </Text>
          </Stack>
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <TestTopicBanner role={role} />
        <div style={{ maxWidth: 1200, margin: '0 auto' }}>
          <Outlet />
        </div>
      </AppShell.Main>
    </AppShell>
  );
}
