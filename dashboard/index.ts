// Entry of the web dashboard (dist/dashboard.cjs): config from the environment, serve the page
// and its API, stop cleanly on SIGTERM/SIGINT. The assets are the build's dist/dashboard/,
// beside this bundle.
import { join } from 'node:path';
import { createLogger } from '../shared/logger';
import { runUntilSignalled } from '../shared/runtime/process-main';
import { loadDashboardConfig } from './config';
import { startDashboard } from './server';

runUntilSignalled('dashboard', async () => {
  const config = loadDashboardConfig(process.env);
  const logger = createLogger('dashboard', config.logLevel);
  return startDashboard(config, { logger, assetsDir: join(__dirname, 'dashboard') });
});
