/**
 * Runs `step` until it reports no more work, every `pollMs` and whenever kicked, never twice at
 * once: a kick during a run makes the run look again before it ends. Used by the job runner and
 * the outbox sender.
 */
export function createPoller(step: () => Promise<boolean>, opts: { pollMs: number; onError: (e: unknown) => void }) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;
  let again = false;

  async function loop(): Promise<void> {
    do {
      again = false;
      try {
        while (!stopped && (await step()));
      } catch (e) {
        opts.onError(e);
      }
    } while (again && !stopped);
  }

  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = loop().finally(() => {
      running = null;
    });
  };

  return {
    /** Polls until stopped. */
    start() {
      stopped = false;
      timer = setInterval(kick, opts.pollMs);
      kick();
    },
    /** Looks for work now. */
    kick,
    /** Stops polling and waits for the step in hand to end. */
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
  };
}
