import { Button, Center, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';

export function NotFoundPage() {
  return (
    <Center py={80}>
      <Stack align="center" gap="xs" ta="center">
        <Title order={2}>Page not found</Title>
        <Text c="dimmed">There is nothing at this address. It may have moved, or the link is incomplete.</Text>
        <Button component={Link} to="/users" variant="light" mt="sm">Go to the directory</Button>
      </Stack>
    </Center>
  );
}
