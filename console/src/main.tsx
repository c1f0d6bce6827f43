import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MantineProvider, createTheme } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import '@mantine/dropzone/styles.css';
import { ApiError, setCsrfToken } from './api';
import { RequireSession, SESSION_KEY } from './session';
import { Layout } from './components/layout';
import { LoginPage } from './pages/login';
import { SettingsPage } from './pages/settings';
import { AdminsPage } from './pages/admins';
import { TokensPage } from './pages/tokens';
import { AuditPage } from './pages/audit';
import { UsersPage } from './pages/users';
import { UserPage } from './pages/user';
import { NotFoundPage } from './pages/not-found';
import { JobsPage } from './pages/jobs';
import { EnrollmentsPage } from './pages/enrollments';
import { AppleSettingsPage } from './pages/apple';
import { DevicesPage } from './pages/devices';
import { DevicePage } from './pages/device';

const theme = createTheme({ primaryColor: 'teal', defaultRadius: 'md', fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' });

/** A 401 anywhere means the session ended (expired, signed out elsewhere, password reset): back to /login. */
const onError = (error: unknown) => {
  if (error instanceof ApiError && error.status === 401 && queryClient.getQueryData(SESSION_KEY)) {
    setCsrfToken(null);
    queryClient.setQueryData(SESSION_KEY, null);
  }
};

const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({ onError }),
  mutationCache: new MutationCache({ onError }),
  defaultOptions: {
    queries: {
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light">
      <Notifications position="bottom-right" />
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route
              element={
                <RequireSession>
                  <Layout />
                </RequireSession>
              }
            >
              <Route index element={<Navigate to="/users" replace />} />
              <Route path="/users" element={<UsersPage />} />
              <Route path="/users/:id" element={<UserPage />} />
              <Route path="/enrollments" element={<EnrollmentsPage />} />
              <Route path="/devices" element={<DevicesPage />} />
              <Route path="/devices/:id" element={<DevicePage />} />
              <Route path="/jobs" element={<JobsPage />} />
              <Route path="/settings" element={<SettingsPage />} />
              <Route path="/settings/apple" element={<AppleSettingsPage />} />
              <Route path="/admins" element={<AdminsPage />} />
              <Route path="/tokens" element={<TokensPage />} />
              <Route path="/audit" element={<AuditPage />} />
              <Route path="*" element={<NotFoundPage />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
