// The local stack's processes and where they listen (HOST) and reach each other.
import { describe, expect, it } from 'vitest';
import { HOSTED_SOURCES_VARIABLE, loadHostedSourceConfigs } from '../source/host-config';
import { NODE_V8_FLAGS } from '../shared/topology';
import { SOURCE_HOST_NAME, toDialHost, toLocalStack, type ProcessSpec } from './local-stack';

const BASE = { distDir: '/dist', natsUrl: 'nats://127.0.0.1:4222', redisUrl: 'redis://127.0.0.1:6379' };
const byName = (specs: readonly ProcessSpec[], name: string) => specs.find((spec) => spec.name === name)!.env;

describe('toLocalStack and HOST', () => {
  it('gives every process the host to listen on, and has them reach each other through it', () => {
    const specs = toLocalStack({ ...BASE, host: '127.0.0.1' });
    expect(specs.every((spec) => spec.env.HOST === '127.0.0.1')).toBe(true);
    expect(byName(specs, 'worker-source').K_SINK).toBe('http://127.0.0.1:8103/');
    expect(byName(specs, 'ingest').ENRICHER_URL).toBe('http://127.0.0.1:8100');
  });

  it('reaches processes on every interface through 127.0.0.1, and an IPv6 address in brackets', () => {
    expect(byName(toLocalStack({ ...BASE, host: '0.0.0.0' }), 'worker-source').K_SINK).toBe('http://127.0.0.1:8103/');
    expect(byName(toLocalStack({ ...BASE, host: '::1' }), 'worker-source').K_SINK).toBe('http://[::1]:8103/');
    expect(['::', '0.0.0.0', '192.0.2.7', 'fd00::2'].map(toDialHost)).toEqual(['127.0.0.1', '127.0.0.1', '192.0.2.7', '[fd00::2]']);
  });

  it('sets no HOST without a host (the deployments: the image sets it)', () => {
    const specs = toLocalStack(BASE);
    expect(specs.some((spec) => 'HOST' in spec.env)).toBe(false);
    expect(byName(specs, 'worker-source').K_SINK).toBe('http://127.0.0.1:8103/');
  });
});

describe('toLocalStack and the node runtime settings', () => {
  it('gives every process the NODE_OPTIONS it is given, with the image\'s MALLOC_ARENA_MAX', () => {
    const specs = toLocalStack({ ...BASE, nodeOptions: '--max-semi-space-size=2' });
    for (const spec of specs) expect(spec.env, spec.name).toMatchObject({ NODE_OPTIONS: '--max-semi-space-size=2', MALLOC_ARENA_MAX: '2' });
  });

  it('starts every node with the V8 flags NODE_OPTIONS cannot carry, before its bundle', () => {
    for (const spec of toLocalStack(BASE)) {
      expect(spec.args.slice(0, NODE_V8_FLAGS.length + 1), spec.name).toEqual([...NODE_V8_FLAGS, '--require']);
    }
  });

  it('sets neither without node options (the deployments: the image sets both)', () => {
    const specs = toLocalStack(BASE);
    for (const spec of specs) expect(spec.env, spec.name).not.toHaveProperty('MALLOC_ARENA_MAX');
    for (const spec of specs) expect(spec.env, spec.name).not.toHaveProperty('NODE_OPTIONS');
  });
});

describe('the dashboard in the local stack', () => {
  it('reaches the gateway through the dial host, and gets no NATS or Redis address', () => {
    const specs = toLocalStack({ ...BASE, host: '0.0.0.0', ports: { gateway: 51051, dashboard: 9090 } });
    const dashboard = specs.find((spec) => spec.name === 'dashboard')!;
    expect(dashboard.args.at(-1)).toBe('/dist/dashboard.cjs');
    expect(dashboard.env).toMatchObject({ PORT: '9090', TM_GATEWAY_ADDRESS: '127.0.0.1:51051', HOST: '0.0.0.0', TM_COMPONENT: 'dashboard' });
    expect(dashboard.env.NATS_URL).toBeUndefined();
    expect(dashboard.env.REDIS_URL).toBeUndefined();
    expect(byName(toLocalStack(BASE), 'dashboard')).toMatchObject({ PORT: '8090', TM_GATEWAY_ADDRESS: '127.0.0.1:50051' });
  });
});

describe('every source in one process (hostSources)', () => {
  it('runs one `sources` process with the sink, port and own variables of each source, and no per-source process', () => {
    const specs = toLocalStack({
      ...BASE,
      hostSources: true,
      ports: { 'worker-source': 9203 },
      processEnv: { 'worker-source': { TM_SOURCE_MAX_IN_FLIGHT: '4' } },
    });
    expect(specs.filter((spec) => spec.name.endsWith('-source'))).toEqual([]);
    const host = byName(specs, SOURCE_HOST_NAME);
    // A larger young generation than NODE_OPTIONS gives the others (it allocates for seven), then
    // the V8 flags of every process.
    expect(specs.find((spec) => spec.name === SOURCE_HOST_NAME)!.args.slice(0, NODE_V8_FLAGS.length + 2)).toEqual(['--max-semi-space-size=4', ...NODE_V8_FLAGS, '--require']);
    expect(host.TM_SOURCE_FUNCTION).toBeUndefined();
    const hosted = JSON.parse(host[HOSTED_SOURCES_VARIABLE]!) as Record<string, Record<string, string>>;
    expect(Object.keys(hosted)).toEqual(['ingest', 'scheduler', 'worker', 'result-store', 'notifier', 'audit', 'deadletter']);
    expect(hosted.worker).toEqual({ PORT: '9203', K_SINK: 'http://127.0.0.1:8103/', TM_SOURCE_MAX_IN_FLIGHT: '4' });
    expect(hosted.ingest?.K_SINK).toBe('http://127.0.0.1:8101/');
    // Every hosted source's config reads as a lone source's would.
    const configs = loadHostedSourceConfigs(host);
    expect(configs.map((config) => [config.functionName, config.port, config.sink, config.maxInFlight])).toContainEqual([
      'worker',
      9203,
      'http://127.0.0.1:8103/',
      4,
    ]);
  });

  it('keeps one process per source when each has its own NATS user', () => {
    const specs = toLocalStack({ ...BASE, hostSources: true, natsCredentials: { 'worker-source': { user: 'worker-source', password: 'p' } } });
    expect(specs.some((spec) => spec.name === SOURCE_HOST_NAME)).toBe(false);
    expect(byName(specs, 'worker-source').TM_SOURCE_FUNCTION).toBe('worker');
  });
});
