// Prometheus in compose scrapes every long-lived process of the local stack (the topology), on
// the port each serves GET /metrics on, and only those; every scraped process runs with metrics
// on; Grafana can reach it. (Kubernetes discovers its targets through headless Services:
// kube-resolution.test.ts checks that their ports resolve.)
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { toLocalStack } from '../../scripts/local-stack';
import { GATEWAY_METRICS_PORT } from '../../shared/topology';
import { COMPOSE_HOSTS, loadCompose, toEnvironment, topologyPorts } from './compose-drift';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const config = parse(readFileSync(resolve('configs/prometheus/prometheus.yaml'), 'utf8')) as Obj;
const compose = loadCompose(resolve('docker-compose.yml'));
const specs = toLocalStack({ distDir: '/app/dist', ...COMPOSE_HOSTS }).filter((spec) => !spec.oneShot);

describe('Prometheus in compose', () => {
  const job = (config.scrape_configs as Obj[]).find((entry) => entry.job_name === 'taskmanager')!;
  const targets = (job.static_configs as Obj[]).flatMap((entry) => entry.targets as string[]);

  it('scrapes every process of the local stack on the port it serves /metrics on, and nothing else', () => {
    const ports = topologyPorts();
    const expected = specs.map((spec) => `${spec.name}:${spec.name === 'gateway' ? GATEWAY_METRICS_PORT : ports[spec.name]}`);
    expect([...targets].sort()).toEqual(expected.sort());
    expect(job.metrics_path).toBe('/metrics');
  });

  it('scrapes processes that run with metrics on', () => {
    for (const spec of specs) expect(toEnvironment(compose.services[spec.name]!).TM_METRICS, spec.name).toBe('prometheus');
  });

  it('runs the pinned image with its config mounted where its command reads it', () => {
    const service = compose.services.prometheus!;
    expect(service.image).toMatch(/^prom\/prometheus:v3\.\d+\.\d+$/);
    const config = (service.command as string[]).find((arg) => arg.startsWith('--config.file='))!.slice('--config.file='.length);
    expect(service.volumes).toContain(`./configs/prometheus/prometheus.yaml:${config}:ro`);
    expect(service.expose).toContain('9090');
    expect((compose.services.grafana!.depends_on as Obj).prometheus).toBeDefined();
  });
});
