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

/**
 * A refresh that loads, then draws only if no newer call started meanwhile: the poll's request
 * and the one a changed filter starts can answer in either order, and the older answer must not
 * be drawn over the newer one (the list would show what the filter excludes).
 */
export function latestOnly<T>(load: () => Promise<T>, draw: (value: T) => void): () => Promise<void> {
  let latest = 0;
  return async () => {
    const ticket = (latest += 1);
    const value = await load();
    if (ticket === latest) draw(value);
  };
}

/** A view: draws into `root`, returns what to do when it closes. */
export type View = (root: HTMLElement) => () => void;
