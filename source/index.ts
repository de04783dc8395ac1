// Entry point of the JetStream source: config from the environment, start, drain on
// SIGTERM/SIGINT, exit 0 once drained (1 when it cannot start). With TM_HOSTED_SOURCES set, the
// process hosts several sources over one NATS connection (host.ts).
import { createLogger } from '../shared/logger';
import { runUntilSignalled } from '../shared/runtime/process-main';
import { loadSourceConfig } from './config';
import { hostsSources, loadHostedSourceConfigs } from './host-config';
import { SOURCE_HOST_COMPONENT, startSourceHost } from './host';
import { startSource } from './source';

runUntilSignalled('source', async () => {
  // A configuration error rejects here and is reported as the source failing to start.
  if (hostsSources(process.env)) {
    const configs = loadHostedSourceConfigs(process.env);
    return startSourceHost(configs, {
      logger: createLogger(SOURCE_HOST_COMPONENT, configs[0]?.logLevel ?? 'info'),
      loggerFor: (config) => createLogger(config.component, config.logLevel),
    });
  }
  const config = loadSourceConfig(process.env);
  return startSource(config, { logger: createLogger(config.component, config.logLevel) });
});
