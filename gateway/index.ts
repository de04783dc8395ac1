// Entry of the gRPC gateway (dist/gateway.cjs): config from the environment, connect, serve;
// SIGTERM/SIGINT stop taking calls, finish or force them within the grace period, close the
// connections, flush telemetry and exit 0.
import { createLogger } from '../shared/logger';
import { flushTelemetry } from '../shared/tracing';
import { loadGatewayConfig } from './config';
import { startGateway } from './server';

async function main(): Promise<void> {
  const config = loadGatewayConfig(process.env, { scriptPath: process.argv[1], cwd: process.cwd() });
  const logger = createLogger('gateway', config.logLevel);
  const gateway = await startGateway(config, logger);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    gateway
      .stop()
      .then(() => flushTelemetry())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: (error as Error).message }, 'stop failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});
