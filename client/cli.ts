// Entry of the `tm` command (bundled to dist/tm.cjs, run by bin/tm.js): wires process I/O and
// Ctrl-C into main() and turns its result into the exit code. The first Ctrl-C stops watching
// (summary still printed); a second one exits at once.
import { main } from './cli-main';

const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
});
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tm: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
