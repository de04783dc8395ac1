// Entry: start the enricher from the environment, stop on SIGTERM/SIGINT and exit 0 once drained.
import { runUntilSignalled } from '../../shared/runtime/process-main';
import { startEnricher } from './server';

runUntilSignalled('enricher', () => startEnricher(process.env));
