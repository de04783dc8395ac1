// Bundles every deployable entry point into one file under dist/ with esbuild.
// @grpc/grpc-js stays external: OpenTelemetry's auto-instrumentation patches modules through
// require hooks, which never see code that was bundled in.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FUNCTIONS = readdirSync('functions', { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(`functions/${entry.name}/index.ts`))
  .map((entry) => entry.name);

const entries = {
  telemetry: 'shared/telemetry-bootstrap.ts',
  'telemetry-sdk': 'shared/telemetry-sdk.ts',
  'telemetry-metrics': 'shared/telemetry-metrics.ts',
  setup: 'scripts/setup.ts',
  start: 'scripts/start.ts',
  source: 'source/index.ts',
  gateway: 'gateway/index.ts',
  dashboard: 'dashboard/index.ts',
  tm: 'client/cli.ts',
  bench: 'bench/bench.ts',
  ...Object.fromEntries(FUNCTIONS.map((name) => [`functions/${name}`, `functions/${name}/index.ts`])),
};

/** An esbuild plugin: `request`, when a module whose path matches `importer` imports it, is served
 * by our module `shared/<file>` instead. */
const serveFromShared = (name, request, importer, file) => ({
  name,
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: request }, (args) => (importer.test(args.importer) ? { path: join(process.cwd(), 'shared', file) } : undefined));
  },
});
const NATS_TRANSPORT = /[\\/]@nats-io[\\/]transport-node[\\/]/;
const NATS_CORE = /[\\/]@nats-io[\\/]nats-core[\\/]lib[\\/]/;

// What nats.js loads at start for nothing a start uses (docs/decisions/0022):
const natsAtStart = [
  // Its Node transport requires node:tls when it loads, for connections that may never use TLS
  // (9-15 ms of a start): shared/lazy-tls.ts loads node:tls on the first TLS connection.
  serveFromShared('lazy-tls-for-nats', /^node:tls$/, NATS_TRANSPORT, 'lazy-tls.ts'),
  // nats-core requires @nats-io/nkeys (and with it tweetnacl) for nkey and JWT authentication,
  // which this project never configures: shared/lazy-nkeys.ts loads nkeys on first use.
  serveFromShared('lazy-nkeys-for-nats', /^\.\/nkeys$/, NATS_CORE, 'lazy-nkeys.ts'),
  // nats-core makes an inbox id as it creates a connection, and @nats-io/nuid seeds its ids from
  // WebCrypto, which loads node:crypto (8-10 ms of a start): shared/nuid.ts seeds them from
  // Math.random (why that is enough: that file).
  serveFromShared('nuid-without-crypto', /^@nats-io\/nuid$/, NATS_CORE, 'nuid.ts'),
];

const present = Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(file)));

// ajv and yaml (the task-type registry and payload schemas) are loaded on first use
// (shared/lazy-modules.ts), but bundled in they were still half of ingest's and the worker's 1.1 MB
// bundles, read and compiled at every start (10-15 ms). They are bundles of their own under
// dist/vendor/, required from there when first needed. `prefix` is the way from a bundle's folder
// to dist/ (the functions' bundles sit one folder deeper).
const vendoredLazyLibraries = (prefix) => ({
  name: 'vendored-lazy-libraries',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^(ajv|yaml)$/ }, (args) =>
      /[\\/]shared[\\/]lazy-modules\.ts$/.test(args.importer) ? { path: `${prefix}vendor/${args.path}.cjs`, external: true } : undefined,
    );
  },
});

const common = {
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  sourcemap: true,
  // Maps ship beside the bundles but are not loaded at start: parsing a function's map was the
  // largest single cost of its cold start. NODE_OPTIONS=--enable-source-maps maps stack traces to
  // file and line when debugging (the maps carry no sources' text, so they stay small); without
  // it a trace names the bundle's line, under the bundle's `// shared/...` file comment.
  sourcesContent: false,
  // grpc-health-check and @grpc/reflection read their .proto files relative to their own folder.
  external: ['@grpc/grpc-js', 'grpc-health-check', '@grpc/reflection', 'bullmq'],
  logLevel: 'warning',
};
const isFunction = ([name]) => name.startsWith('functions/');

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });
await build({
  ...common,
  entryPoints: Object.fromEntries(Object.entries(present).filter((entry) => !isFunction(entry))),
  outdir: 'dist',
  plugins: [...natsAtStart, vendoredLazyLibraries('./')],
});
await build({
  ...common,
  entryPoints: Object.fromEntries(Object.entries(present).filter(isFunction).map(([name, file]) => [name.slice('functions/'.length), file])),
  outdir: 'dist/functions',
  plugins: [...natsAtStart, vendoredLazyLibraries('../')],
});
await build({ ...common, entryPoints: { 'vendor/ajv': 'ajv', 'vendor/yaml': 'yaml' }, outdir: 'dist' });
// V8 keeps a script's source in memory for as long as the process runs, as a one-byte string
// when every character is Latin-1 and as a two-byte one otherwise. esbuild escapes non-ASCII in
// strings but leaves it in regex literals and the comments it keeps: three such characters made
// the gateway's 2 MB source take 4 MB of its heap. Escaped as \uXXXX they mean the same in a
// regex, a string or a comment. (The maps' columns on those few lines shift by the escapes.)
for (const file of readdirSync('dist', { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.cjs')) continue;
  const path = join('dist', file);
  const text = readFileSync(path, 'utf8');
  // A backslash before such a character (an identity escape in a regex) would need more care.
  if (/\\[\u0080-\uffff]/.test(text)) throw new Error(`${path}: a backslash before a non-ASCII character; escape it by hand`);
  const escaped = text.replace(/[\u0080-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (escaped !== text) writeFileSync(path, escaped);
}
cpSync('proto', 'dist/proto', { recursive: true });
// The dashboard's page (dashboard/web/): one script for the browser, bundled here with everything
// it uses, so the page loads nothing from any other origin; its HTML and CSS beside it.
await build({
  entryPoints: { app: 'dashboard/web/main.ts' },
  outdir: 'dist/dashboard',
  bundle: true,
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  format: 'iife',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
});
cpSync('dashboard/web/index.html', 'dist/dashboard/index.html');
cpSync('dashboard/web/app.css', 'dist/dashboard/app.css');
process.stdout.write(`built ${Object.keys(present).length} bundles, ajv and yaml (dist/vendor/) and the dashboard page into dist/\n`);
