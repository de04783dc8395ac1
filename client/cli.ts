// Entry of the `tm` command (bundled to dist/tm.cjs, run by bin/tm.js): wires process I/O and
// Ctrl-C into main() and turns its result into the exit code. The first Ctrl-C stops watching
// (summary still printed); a second one exits at once.
import { version } from '../package.json';
import { main } from './cli-main';

// Node's deprecation notices are for developers, not for a command's users; one in particular
// (DEP0123, a TLS server name that is an IP address) would otherwise greet every `tm --ca` call
// to 127.0.0.1, where grpc-js sets it.
process.noDeprecation = true;

const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
});
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal, version }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tm: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
