// One-shot setup of streams and consumers (docs/design.md §4), run before anything publishes: by
// `npm start`, by the compose setup service and by the Kubernetes setup Job.
import { createEnvReader, readFlowSettings, readNatsSettings } from '../shared/config';
import { createLogger } from '../shared/logger';
import { connectNats } from '../shared/nats';
import { setupFlow } from '../shared/flow-setup';

async function main(): Promise<void> {
  const reader = createEnvReader(process.env);
  const nats = readNatsSettings(reader);
  const flow = readFlowSettings(reader);
  reader.finish();
  const logger = createLogger('setup', process.env.LOG_LEVEL ?? 'info');
  const nc = await connectNats({ ...nats, name: 'setup', logger });
  await setupFlow(nc, flow, logger);
  await nc.drain();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`setup failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
