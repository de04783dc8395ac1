// One value, loaded at most once per `ttlMs` however many callers ask: what keeps a read that
// costs a round of requests (the queue stats' JetStream part) off the hot path when clients poll.

export type RefreshCacheOptions<T> = {
  /** How long a loaded value is served; 0 loads every time (concurrent callers still share). */
  ttlMs: number;
  now: () => number;
  load: () => Promise<T>;
};

/**
 * Returns a getter. Callers that arrive while a load runs share it (no thundering herd); a
 * failed load is not kept, so the next caller tries again. A value's age counts from the start
 * of its load: it is at least that old. A clock that stepped back makes the value stale, so a
 * clock change cannot pin an old value.
 */
export function createRefreshCache<T>(options: RefreshCacheOptions<T>): () => Promise<T> {
  let kept: { value: T; loadedAtMs: number } | undefined;
  let loading: Promise<T> | undefined;

  const refresh = async (): Promise<T> => {
    const startedAtMs = options.now();
    const value = await options.load();
    kept = { value, loadedAtMs: startedAtMs };
    return value;
  };

  return () => {
    if (kept) {
      const age = options.now() - kept.loadedAtMs;
      if (age >= 0 && age < options.ttlMs) return Promise.resolve(kept.value);
    }
    // Cleared in a callback, which always runs after the assignment, even when the load throws
    // before its first await.
    loading ??= refresh().finally(() => {
      loading = undefined;
    });
    return loading;
  };
}
