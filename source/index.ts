// Entry point of the JetStream source: config from the environment, start, drain on
// SIGTERM/SIGINT, exit 0 once drained (1 when it cannot start).
import { createLogger } from '../shared/logger';
import { runUntilSignalled } from '../shared/runtime/process-main';
import { loadSourceConfig } from './config';
import { startSource } from './source';

runUntilSignalled('source', async () => {
  // A configuration error rejects here and is reported as the source failing to start.
  const config = loadSourceConfig(process.env);
  return startSource(config, { logger: createLogger(config.component, config.logLevel) });
});
