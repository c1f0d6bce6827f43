import { useState } from 'react';
import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, setCsrfToken, type Session } from '../api';
import { fetchSession, SESSION_KEY } from '../session';

export function LoginPage() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const existing = useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, retry: false });
  const next = params.get('next')?.startsWith('/') ? params.get('next')! : '/users';
  if (existing.data) return <Navigate to={next} replace />;

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await api<Session>('POST', '/session', { email, password });
      setCsrfToken(session.csrfToken);
      qc.setQueryData(SESSION_KEY, session);
      navigate(next, { replace: true });
    } catch (err) {
      // The server's own words (e.g. "Too many failed sign-ins: try again in 30 s"); a wait it only gives in Retry-After is added.
      if (err instanceof ApiError && err.code === 'RATE_LIMITED' && err.retryAfter && !/try again/i.test(err.message)) setError(`${err.message}. Try again in ${err.retryAfter} s.`);
      else setError(err instanceof ApiError ? err.message : 'Sign-in failed');
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" radius="md" w="100%" maw={400}>
        <form onSubmit={submit} noValidate>
          <Stack>
            <div>
              <Title order={2} c="teal.8">
                Pippin
              </Title>
              <Text c="dimmed" size="sm">
                Sign in to the admin console
              </Text>
            </div>
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <TextInput label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
            <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
            <Button type="submit" loading={busy} fullWidth>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
