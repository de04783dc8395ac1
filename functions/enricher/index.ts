// Entry: start the enricher from the environment, stop on SIGTERM/SIGINT and exit 0 once drained.
import { flushTelemetry } from '../../shared/tracing';
import { startEnricher } from './server';

startEnricher(process.env).then(
  (running) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      running.stop().then(
        () => flushTelemetry().finally(() => process.exit(0)),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  },
  (error: unknown) => {
    process.stderr.write(`enricher failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
