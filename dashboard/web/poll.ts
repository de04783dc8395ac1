// Repeats a refresh while a view is open: the next run starts `intervalMs` after the previous
// one ended (never two at once), and stops when the view closes.
export function poll(refresh: () => Promise<void>, intervalMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    try {
      await refresh();
    } catch {
      // shown by the failure banner; try again next round
    }
    if (!stopped) timer = setTimeout(() => void run(), intervalMs);
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A view: draws into `root`, returns what to do when it closes. */
export type View = (root: HTMLElement) => () => void;
