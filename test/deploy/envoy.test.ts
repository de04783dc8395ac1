// configs/envoy/envoy.yaml against the Envoy v3 API descriptor (no Envoy binary here), and the
// routing it must do: gRPC and gRPC-Web on :50051 to the gateway, streams never cut by a timeout.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARD_PORT, GATEWAY_PORT } from '../../shared/topology';
import { TASK_TYPES } from '../../shared/task-types';
import { checkEnvoyConfig, durationSeconds, loadEnvoyRoot } from './envoy-descriptor';

const ENVOY_FILE = resolve('configs/envoy/envoy.yaml');
const API_PREFIX = '/taskmanager.v1.TaskManager/';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const root = loadEnvoyRoot();
const load = (): Obj => parse(readFileSync(ENVOY_FILE, 'utf8')) as Obj;
const typeOf = (typed: Obj | undefined): string => String(typed?.['@type'] ?? '').replace(/^.*\//, '');

function grpcListener(config: Obj): Obj {
  const listener = (config.static_resources.listeners as Obj[]).find(
    (l) => l.address?.socket_address?.port_value === GATEWAY_PORT,
  );
  if (!listener) throw new Error(`no listener on port ${GATEWAY_PORT}`);
  return listener;
}

function connectionManager(config: Obj): Obj {
  const filters = (grpcListener(config).filter_chains as Obj[]).flatMap((chain) => chain.filters as Obj[]);
  const hcm = filters.find((f) => typeOf(f.typed_config) === HCM);
  if (!hcm) throw new Error('no HTTP connection manager on the gRPC listener');
  return hcm.typed_config as Obj;
}

describe('configs/envoy/envoy.yaml against the Envoy v3 API descriptor', () => {
  it('has only known fields, matching types and enum names, and every typed_config resolves', () => {
    const result = checkEnvoyConfig(root, load());
    expect(result.errors).toEqual([]);
    expect(result.deprecated).toEqual([]);
  });

  it('checks every typed_config against its own message', () => {
    // Proof that the walk descends into Any: a wrong field inside each typed_config is found.
    const config = load();
    const hcm = connectionManager(config);
    hcm.http_filters[0].typed_config.no_such_field = true;
    hcm.route_config.virtual_hosts[0].typed_per_filter_config['envoy.filters.http.cors'].allow_methodz = 'POST';
    config.static_resources.clusters[0].typed_extension_protocol_options[
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
    ].explicit_http_config.http2_protocol_options.connection_keepalive.interval = 30;
    const paths = checkEnvoyConfig(root, config).errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/http_filters\[0\]\.typed_config\.no_such_field$/),
        expect.stringMatching(/typed_per_filter_config\.envoy\.filters\.http\.cors\.allow_methodz$/),
        expect.stringMatching(/connection_keepalive\.interval$/),
      ]),
    );
  });

  it('reports a misspelled field, a wrong enum name, a wrong type and an unknown @type', () => {
    const config = load();
    const hcm = connectionManager(config);
    hcm.stat_prefx = hcm.stat_prefix;
    delete hcm.stat_prefix;
    hcm.codec_type = 'AUTOMATIC';
    config.static_resources.clusters[0].connect_timeout = '5 seconds';
    grpcListener(config).address.socket_address.port_value = 'fifty';
    hcm.http_filters[1].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.corz.v3.Cors';

    const errors = checkEnvoyConfig(root, config).errors;
    const at = (suffix: string) => errors.filter((e) => e.path.endsWith(suffix)).map((e) => e.message).join(' | ');
    expect(at('.stat_prefx')).toMatch(/unknown field of .*HttpConnectionManager \(did you mean stat_prefix\?\)/);
    expect(errors.some((e) => e.message === `stat_prefix is required in ${HCM}`)).toBe(true);
    expect(at('.codec_type')).toMatch(/"AUTOMATIC" is not a value of .*CodecType \(one of AUTO, HTTP1, HTTP2, HTTP3\)/);
    expect(at('.connect_timeout')).toMatch(/expected a duration/);
    expect(at('.port_value')).toMatch(/expected a uint32 number/);
    expect(at('.@type')).toMatch(/corz\.v3\.Cors is not a message of the Envoy v3 API/);
  });

  it('accepts lowerCamel JSON names and flags deprecated fields separately', () => {
    const result = checkEnvoyConfig(
      root,
      { name: 'c', connectTimeout: '1s', type: 'STATIC', http2ProtocolOptions: {} },
      'envoy.config.cluster.v3.Cluster',
    );
    expect(result.errors).toEqual([]);
    expect(result.deprecated.map((d) => d.path)).toEqual(['http2ProtocolOptions']);
  });
});

describe('Envoy routing in front of the gateway', () => {
  const config = load();
  const hcm = connectionManager(config);

  it('listens on the gateway port with an HTTP connection manager for gRPC and gRPC-Web', () => {
    expect(hcm.codec_type).toBe('AUTO'); // HTTP/2 for gRPC, HTTP/1.1 for gRPC-Web
    const names = (hcm.http_filters as Obj[]).map((f) => f.name);
    expect(names).toContain('envoy.filters.http.grpc_web');
    expect(names).toContain('envoy.filters.http.cors');
    expect(names.at(-1)).toBe('envoy.filters.http.router');
    expect(typeOf((hcm.http_filters as Obj[]).at(-1)!.typed_config)).toBe('envoy.extensions.filters.http.router.v3.Router');
    expect(names.indexOf('envoy.filters.http.grpc_web')).toBeLessThan(names.indexOf('envoy.filters.http.router'));
  });

  it('routes the TaskManager service to the gateway cluster with no route timeout', () => {
    const routes = (hcm.route_config.virtual_hosts as Obj[]).flatMap((vh) => vh.routes as Obj[]);
    const api = routes.find((r) => r.match.prefix === API_PREFIX || r.match.prefix === '/');
    expect(api?.route.cluster).toBe('gateway');
    // Every route to the gateway may carry a stream: none has a timeout.
    for (const route of routes.filter((r) => r.route?.cluster === 'gateway')) {
      expect(route.route.timeout, JSON.stringify(route.match)).toBe('0s');
    }
  });

  it('keeps an idle status stream open longer than the longest task runs', () => {
    const longestTaskS = Math.max(...TASK_TYPES.map((t) => t.defaultTimeoutMs)) / 1000;
    expect(durationSeconds(hcm.stream_idle_timeout)).toBeGreaterThan(longestTaskS);
    expect(durationSeconds(hcm.common_http_protocol_options.idle_timeout)).toBeGreaterThan(longestTaskS);
    expect(hcm.request_timeout === undefined || durationSeconds(hcm.request_timeout) === 0).toBe(true);
  });

  it('answers browsers with CORS headers that gRPC-Web needs', () => {
    const cors = hcm.route_config.virtual_hosts[0].typed_per_filter_config['envoy.filters.http.cors'] as Obj;
    expect(typeOf(cors)).toBe('envoy.extensions.filters.http.cors.v3.CorsPolicy');
    const list = (value: string) => value.split(',').map((s) => s.trim());
    expect(list(cors.allow_headers)).toEqual(expect.arrayContaining(['content-type', 'x-grpc-web', 'authorization', 'grpc-timeout']));
    expect(list(cors.expose_headers)).toEqual(expect.arrayContaining(['grpc-status', 'grpc-message']));
    expect(list(cors.allow_methods)).toEqual(expect.arrayContaining(['POST', 'OPTIONS']));
  });

  it('speaks HTTP/2 to the gateway at gateway:50051', () => {
    const cluster = (config.static_resources.clusters as Obj[]).find((c) => c.name === 'gateway')!;
    const options = cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] as Obj;
    expect(typeOf(options)).toBe('envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
    expect(options.explicit_http_config.http2_protocol_options).toBeDefined();
    const addresses = (cluster.load_assignment.endpoints as Obj[])
      .flatMap((e) => e.lb_endpoints as Obj[])
      .map((e) => e.endpoint.address.socket_address);
    expect(addresses).toEqual([{ address: 'gateway', port_value: GATEWAY_PORT }]);
    expect(cluster.health_checks[0].grpc_health_check).toBeDefined();
  });
});

describe('Envoy in front of the web dashboard', () => {
  const config = load();
  const listener = (config.static_resources.listeners as Obj[]).find((l) => l.address?.socket_address?.port_value === DASHBOARD_PORT);
  const hcm = (listener?.filter_chains as Obj[] | undefined)?.flatMap((chain) => chain.filters as Obj[]).find((f) => typeOf(f.typed_config) === HCM)?.typed_config as Obj;

  it('routes everything on its own listener to the dashboard cluster, with no timeout for the status streams', () => {
    expect(hcm).toBeDefined();
    const routes = (hcm.route_config.virtual_hosts as Obj[]).flatMap((vh) => vh.routes as Obj[]);
    expect(routes.map((r) => [r.match.prefix, r.route.cluster, r.route.timeout])).toEqual([['/', 'dashboard', '0s']]);
    expect(hcm.request_timeout === undefined || durationSeconds(hcm.request_timeout) === 0).toBe(true);
    // The dashboard sends a comment line every 15 s on a stream: the idle timeout only ends dead ones.
    expect(durationSeconds(hcm.stream_idle_timeout)).toBeGreaterThan(15);
  });

  it('reaches the dashboard at dashboard:8090, checking its readiness', () => {
    const cluster = (config.static_resources.clusters as Obj[]).find((c) => c.name === 'dashboard')!;
    const addresses = (cluster.load_assignment.endpoints as Obj[]).flatMap((e) => e.lb_endpoints as Obj[]).map((e) => e.endpoint.address.socket_address);
    expect(addresses).toEqual([{ address: 'dashboard', port_value: DASHBOARD_PORT }]);
    expect(cluster.health_checks[0].http_health_check.path).toBe('/health/readiness');
  });
});
