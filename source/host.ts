// Several sources in one process, over one NATS connection (host-config.ts says how they are
// configured). Each is the same source as a lone one — its own consumers, dispatcher, sink and
// /healthz port — only the connection is shared: one socket and one event loop for all of them
// instead of one process each, which is what saves memory and CPU on one machine. On Knative and
// Kubernetes each source still runs beside its own function (docs/design.md §6).
import { jetstreamManager } from '@nats-io/jetstream';
import { describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { connectNats } from '../shared/nats';
import type { SourceConfig } from './config';
import { startSource, type RunningSource, type SharedConnection } from './source';

/** The name of the host's NATS connection and of its logger. */
export const SOURCE_HOST_COMPONENT = 'source-host';

export type SourceHostDeps = {
  /** The logger of one hosted source (its component name is `config.component`). */
  loggerFor(config: SourceConfig): Logger;
  logger: Logger;
};

export type RunningSourceHost = { readonly sources: readonly RunningSource[]; stop(): Promise<void> };

export async function startSourceHost(configs: readonly SourceConfig[], deps: SourceHostDeps): Promise<RunningSourceHost> {
  const first = configs[0];
  if (!first) throw new Error('a source host needs at least one source');
  const nc = await connectNats({ ...first.nats, name: SOURCE_HOST_COMPONENT, logger: deps.logger });
  const sources: RunningSource[] = [];
  try {
    const connection: SharedConnection = { nc, jsm: await jetstreamManager(nc) };
    for (const [index, config] of configs.entries()) {
      // The process's OpenTelemetry series once, on the first source's /metrics, not seven times.
      sources.push(await startSource(config, { logger: deps.loggerFor(config), connection, processSeries: index === 0 }));
    }
  } catch (error) {
    deps.logger.error({ err: describeError(error), started: sources.length }, 'source host failed to start');
    await Promise.allSettled(sources.map((source) => source.stop()));
    await nc.close().catch(() => undefined);
    throw error;
  }
  deps.logger.info({ sources: configs.map((config) => config.functionName) }, 'source host started');

  let stopping: Promise<void> | undefined;
  return {
    sources,
    stop() {
      // Every source drains its deliveries (acks go out on the shared connection), then the
      // connection drains once.
      stopping ??= Promise.allSettled(sources.map((source) => source.stop())).then(async (results) => {
        await nc.drain().catch(() => undefined);
        const failed = results.find((result) => result.status === 'rejected');
        if (failed) throw failed.reason;
      });
      return stopping;
    },
  };
}
