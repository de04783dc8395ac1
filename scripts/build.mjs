// Bundles every deployable entry point into one file under dist/ with esbuild.
// @grpc/grpc-js stays external: OpenTelemetry's auto-instrumentation patches modules through
// require hooks, which never see code that was bundled in.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';

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

const present = Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(file)));

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });
await build({
  entryPoints: present,
  outdir: 'dist',
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
});
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
process.stdout.write(`built ${Object.keys(present).length} bundles and the dashboard page into dist/\n`);
