// Entry point of the JetStream source: config from the environment, start, drain on
// SIGTERM/SIGINT, exit 0 once drained (1 when it cannot start).
import { createLogger } from '../shared/logger';
import { describeError } from '../shared/errors';
import { flushTelemetry } from '../shared/tracing';
import { loadSourceConfig, type SourceConfig } from './config';
import { startSource } from './source';

function main(): void {
  let config: SourceConfig;
  try {
    config = loadSourceConfig(process.env);
  } catch (error) {
    process.stderr.write(`source failed to start: ${describeError(error)}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.component, config.logLevel);
  startSource(config, { logger }).then(
    (running) => {
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        running.stop().then(
          () => flushTelemetry().finally(() => process.exit(0)),
          (error: unknown) => {
            logger.error({ err: describeError(error) }, 'drain failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
    (error: unknown) => {
      logger.fatal({ err: describeError(error) }, 'source failed to start');
      process.exit(1);
    },
  );
}

main();
