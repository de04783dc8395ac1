// The observability configs under configs/, offline: they fit together (ports, endpoints,
// datasource uids, mounted paths), use the current component names and formats, and read the
// log lines our processes really write.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createLogger, LOG_LEVELS } from '../../shared/logger';
import { loadCompose, type ComposeService } from './compose-drift';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const read = (path: string): Obj => parse(readFileSync(resolve(path), 'utf8')) as Obj;
const collector = read('configs/otel-collector/config.yaml');
const tempo = read('configs/tempo/tempo.yaml');
const loki = read('configs/loki/loki.yaml');
const grafana = read('configs/grafana/provisioning/datasources/datasources.yaml');
const compose = loadCompose(resolve('docker-compose.yml'));

const service = (name: string): ComposeService => compose.services[name]!;
const portOf = (endpoint: string) => Number(/:(\d+)(\/|$)/.exec(endpoint)?.[1]);
const typeOf = (id: string) => id.split('/')[0]!;
const mounts = (name: string) =>
  (service(name).volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0]!, target: v.split(':')[1]! } : { source: v.source ?? '', target: v.target }));
const mountTarget = (name: string, source: string) => mounts(name).find((m) => m.source === source)?.target;
const datasource = (type: string): Obj => (grafana.datasources as Obj[]).find((d) => d.type === type)!;
const imageVersion = (name: string) => String(service(name).image).split(':')[1]!;

describe('OpenTelemetry Collector', () => {
  it('uses the component names of the current releases, not the deprecated aliases', () => {
    // otlp -> otlp_grpc and otlphttp -> otlp_http (0.144), filelog -> file_log (0.149); the
    // loki and logging exporters are gone.
    const deprecated = ['otlphttp', 'filelog', 'loki', 'logging'];
    const exporters = Object.keys(collector.exporters).map(typeOf);
    const receivers = Object.keys(collector.receivers).map(typeOf);
    expect([...exporters, ...receivers].filter((t) => deprecated.includes(t))).toEqual([]);
    expect(exporters.filter((t) => t === 'otlp')).toEqual([]);
    expect(Number(imageVersion('otel-collector').split('.')[1])).toBeGreaterThanOrEqual(150);
  });

  it('defines every component a pipeline uses, and uses every component it defines', () => {
    const used = { receivers: new Set<string>(), processors: new Set<string>(), exporters: new Set<string>() };
    for (const pipeline of Object.values(collector.service.pipelines) as Obj[]) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) {
        for (const id of (pipeline[kind] ?? []) as string[]) used[kind].add(id);
      }
    }
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      expect([...used[kind]].sort(), kind).toEqual(Object.keys(collector[kind] ?? {}).sort());
    }
    expect((collector.service.extensions as string[]).sort()).toEqual(Object.keys(collector.extensions).sort());
  });

  it('sends traces to Tempo and logs to Loki on the ports those servers listen on', () => {
    const { traces, logs } = collector.service.pipelines as Obj;
    const traceExporter = collector.exporters[traces.exporters[0]] as Obj;
    expect(traces.exporters).toHaveLength(1);
    expect(typeOf(traces.exporters[0])).toBe('otlp_grpc');
    expect(traceExporter.endpoint).toBe(`tempo:${portOf(tempo.distributor.receivers.otlp.protocols.grpc.endpoint)}`);
    expect(logs.exporters).toHaveLength(1);
    expect(typeOf(logs.exporters[0])).toBe('otlp_http');
    expect(collector.exporters[logs.exporters[0]].endpoint).toBe(`http://loki:${loki.server.http_listen_port}/otlp`);
    expect(traces.receivers).toContain('otlp');
    expect(logs.receivers).toContain('file_log/containers');
  });

  it('tails the Docker log files that compose mounts into it', () => {
    const include = collector.receivers['file_log/containers'].include as string[];
    const target = mountTarget('otel-collector', '/var/lib/docker/containers');
    expect(target).toBe('/var/lib/docker/containers');
    for (const pattern of include) expect(pattern.startsWith(`${target}/`), pattern).toBe(true);
    expect(mountTarget('otel-collector', './configs/otel-collector/config.yaml')).toBe(
      String((service('otel-collector').command as string[])[0]).replace('--config=', ''),
    );
  });

  it('reads our log lines: their level numbers, the component and the trace id of the line', () => {
    const operators = collector.receivers['file_log/containers'].operators as Obj[];
    const json = operators.find((o) => o.type === 'json_parser')!;
    const mapping = json.severity.mapping as Record<string, number>;
    expect(mapping).toEqual(LOG_LEVELS);
    const lines: string[] = [];
    createLogger('worker', 'info', { write: (line) => lines.push(line) }).warn('a line');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line.component).toBe('worker');
    expect(Object.values(mapping)).toContain(line.level);
    expect(operators.find((o) => o.type === 'filter')?.expr).toBe('attributes.component == nil');
    expect(operators.find((o) => o.type === 'trace_parser')?.trace_id.parse_from).toBe('attributes.traceId');
    expect(readFileSync(resolve('shared/runtime/function-app.ts'), 'utf8')).toContain('traceId: currentTraceId()');
  });
});

describe('Tempo and Loki', () => {
  it('run their current majors as single binaries storing on the compose volumes', () => {
    expect(imageVersion('tempo')).toMatch(/^2\./);
    expect(imageVersion('loki')).toMatch(/^3\./);
    expect(mountTarget('tempo', 'tempo-data')).toBe('/var/tempo');
    expect(tempo.storage.trace.backend).toBe('local');
    expect(String(tempo.storage.trace.wal.path).startsWith('/var/tempo/')).toBe(true);
    expect(String(tempo.storage.trace.local.path).startsWith('/var/tempo/')).toBe(true);
    expect(mountTarget('loki', 'loki-data')).toBe('/loki');
    expect(String(loki.common.path_prefix)).toBe('/loki');
    for (const [name, file] of [['tempo', 'tempo.yaml'], ['loki', 'loki.yaml']] as const) {
      const target = mountTarget(name, `./configs/${name}/${file}`);
      expect(service(name).command, name).toEqual([`-config.file=${target}`]);
    }
  });

  it('accept OTLP logs in Loki: TSDB schema v13 with structured metadata', () => {
    const schema = (loki.schema_config.configs as Obj[]).at(-1)!;
    expect(schema.store).toBe('tsdb');
    expect(schema.schema).toBe('v13');
    expect(loki.limits_config.allow_structured_metadata).toBe(true);
    expect(loki.auth_enabled).toBe(false);
  });

  it('listen on all interfaces for OTLP in Tempo (2.7+ defaults to localhost)', () => {
    for (const protocol of Object.values(tempo.distributor.receivers.otlp.protocols) as Obj[]) {
      expect(String(protocol.endpoint).startsWith('0.0.0.0:')).toBe(true);
    }
  });
});

describe('Grafana', () => {
  const tempoSource = datasource('tempo');
  const lokiSource = datasource('loki');

  it('provisions Tempo and Loki at the addresses they serve', () => {
    expect(tempoSource.url).toBe(`http://tempo:${tempo.server.http_listen_port}`);
    expect(lokiSource.url).toBe(`http://loki:${loki.server.http_listen_port}`);
    expect(mountTarget('grafana', './configs/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    expect(existsSync(resolve('configs/grafana/provisioning/datasources'))).toBe(true);
  });

  it('links a trace to its logs and a log line to its trace', () => {
    const toLogs = tempoSource.jsonData.tracesToLogsV2 as Obj;
    expect(toLogs.datasourceUid).toBe(lokiSource.uid);
    // `$$` is a literal `$` in provisioning files; a single `$` would be an environment variable.
    expect(toLogs.query).toContain('trace_id="$${__trace.traceId}"');
    expect(toLogs.query).toContain('service_namespace="taskmanager"');
    const collectorNamespace = (collector.receivers['file_log/containers'].operators as Obj[]).find(
      (o) => o.type === 'add' && o.field === 'resource["service.namespace"]',
    )?.value;
    expect(collectorNamespace).toBe('taskmanager');

    const [derived] = lokiSource.jsonData.derivedFields as Obj[];
    expect(derived).toMatchObject({ datasourceUid: tempoSource.uid, matcherType: 'label', matcherRegex: 'trace_id', url: '$${__value.raw}' });
  });
});

describe('docs/decisions/0007-logs-through-collector.md', () => {
  it('records why logs go through the Collector instead of Promtail', () => {
    const text = readFileSync(resolve('docs/decisions/0007-logs-through-collector.md'), 'utf8');
    expect(text).toMatch(/Promtail/);
    expect(text).toMatch(/March 2026/);
  });
});
