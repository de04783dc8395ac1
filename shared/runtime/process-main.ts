// The one piece of process plumbing every entry file shares: start, stop on SIGTERM/SIGINT
// (Knative and Kubernetes send SIGTERM; Ctrl-C sends SIGINT), flush telemetry, exit 0 once
// drained — 1 when starting or draining fails.
import { describeError } from '../errors';
import { flushTelemetry } from '../tracing';

export type Stoppable = { stop(): Promise<void> };

export function runUntilSignalled(name: string, start: () => Promise<Stoppable>): void {
  start().then(
    (running) => {
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        running.stop().then(
          () => flushTelemetry().finally(() => process.exit(0)),
          (error: unknown) => {
            process.stderr.write(`${name} failed to drain: ${describeError(error)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
    (error: unknown) => {
      process.stderr.write(`${name} failed to start: ${describeError(error)}\n`);
      process.exit(1);
    },
  );
}
