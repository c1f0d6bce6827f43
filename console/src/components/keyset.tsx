/** Keyset paging for the console's lists: the cursors walked so far, and the range line with Previous and Next. */
import { useState, type ReactNode } from 'react';
import { useSearchParams } from 'react-router';
import { Button, Group, Text } from '@mantine/core';
import type { Page } from '../api';

/** The cursor of the page shown, its number, and moves; `reset` goes back to the first page (after a filter changes). */
export function useKeysetCursor() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    cursor: cursors[cursors.length - 1] ?? null,
    page: cursors.length,
    reset: () => setCursors([null]),
    previous: () => setCursors((c) => c.slice(0, -1)),
    next: (cursor: string | null) => setCursors((c) => [...c, cursor]),
  };
}

/** A list's filters, kept in the address (bookmarkable); changing one goes back to the first page. */
export function useFilterParams(nav: ReturnType<typeof useKeysetCursor>) {
  const [params, setParams] = useSearchParams();
  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) (v ? next.set(k, v) : next.delete(k));
    setParams(next, { replace: true });
    nav.reset();
  };
  return [params, update] as const;
}

/** "1–50 of 1,234" with Previous and Next (and any other actions beside them). */
export function PageNav<T>(props: { data: Page<T>; nav: ReturnType<typeof useKeysetCursor>; pageSize: number; testId: string; children?: ReactNode }) {
  const { data, nav, pageSize } = props;
  const from = (nav.page - 1) * pageSize + (data.items.length ? 1 : 0);
  const to = (nav.page - 1) * pageSize + data.items.length;
  return (
    <Group justify="space-between" wrap="wrap">
      <Text size="sm" c="dimmed" data-testid={props.testId}>
        {from.toLocaleString()}–{to.toLocaleString()} of {data.totalCapped ? 'more than 10,000' : data.total.toLocaleString()}
      </Text>
      <Group gap="xs">
        <Button variant="default" size="xs" disabled={nav.page === 1} onClick={nav.previous}>Previous</Button>
        <Button variant="default" size="xs" disabled={!data.nextCursor} onClick={() => nav.next(data.nextCursor)}>Next</Button>
        {props.children}
      </Group>
    </Group>
  );
}
