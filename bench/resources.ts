// What the bench has running (stacks, servers, child processes), so that the end of a phase and
// a Ctrl-C both stop it: a bench must not leave a stack loading the machine.

const running = new Set<() => Promise<void>>();

/** Starts a resource, runs `body` with it, and stops it afterwards whatever happens. */
export async function withResource<R, T>(start: () => Promise<R>, stop: (resource: R) => Promise<unknown>, body: (resource: R) => Promise<T>): Promise<T> {
  const resource = await start();
  let stopping: Promise<void> | undefined;
  const stopOnce = () => (stopping ??= stop(resource).then(() => undefined));
  running.add(stopOnce);
  try {
    return await body(resource);
  } finally {
    await stopOnce();
    running.delete(stopOnce);
  }
}

/** Stops everything still running (on SIGINT/SIGTERM). */
export async function stopEverything(): Promise<void> {
  await Promise.allSettled([...running].map((stop) => stop()));
}
