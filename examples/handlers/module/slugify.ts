// slugify: a module handler, loaded by the worker at start-up (`module: ./module/slugify.ts` in
// the registry file) and run in its process. Node 24 loads TypeScript as it is (erasable syntax
// only); defineTaskHandler gives type checking of the payload, the output and the context.
import { defineTaskHandler, PermanentTaskError } from '../../../client/handler.ts';

type Payload = { title: string };
type Output = { slug: string };

export default defineTaskHandler<Payload, Output>({
  async handle(payload, { signal, progress }) {
    signal.throwIfAborted();
    const slug = payload.title
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
    // Retrying would give the same empty slug: fail the task at once.
    if (slug === '') throw new PermanentTaskError(`"${payload.title}" has no letters or digits to make a slug of`);
    await progress(100, 'slug made');
    return { slug };
  },
});
