// The provisioned Grafana dashboard, offline: it is one Grafana 13 (the version compose and the
// manifests pin) provisions as it is, every panel queries a datasource that is provisioned,
// panels are laid out without overlap, the latency panels link to Tempo and Loki, and every
// PromQL expression parses (promtool, over a rules file that records each). That every metric
// it queries is exported is test/e2e/metrics.int.test.ts's part.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { allPanels, dashboardExpressions, readDashboard } from '../helpers/dashboard';
import { loadCompose } from './compose-drift';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const dashboard = readDashboard();
const datasources = (parse(readFileSync(resolve('configs/grafana/provisioning/datasources/datasources.yaml'), 'utf8')) as Obj).datasources as Obj[];
const provider = (parse(readFileSync(resolve('configs/grafana/provisioning/dashboards/dashboards.yaml'), 'utf8')) as Obj).providers[0] as Obj;
const compose = loadCompose(resolve('docker-compose.yml'));
const hasPromtool = !spawnSync('promtool', ['--version']).error;

/** Panel types that ship with Grafana 13 (the angular `graph`, `singlestat` and `table-old` are gone). */
const CORE_PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'barchart', 'heatmap', 'histogram', 'logs', 'text', 'state-timeline', 'status-history', 'piechart', 'traces']);

describe('the Taskmanager dashboard', () => {
  it('targets the Grafana that compose and Kubernetes pin, with a schema version it reads as it is', () => {
    const pinned = String(compose.services.grafana!.image);
    expect(pinned).toBe('grafana/grafana:13.0.1');
    expect(readFileSync(resolve('k8s/base/observability/grafana.yaml'), 'utf8')).toContain(`image: ${pinned}`);
    // 36 made datasource references objects with a uid (what the panels use); Grafana 12.2 and
    // later write 42 and read anything up to it without guessing.
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(42);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toBe('Taskmanager');
  });

  it('has unique panel ids, core panel types only, and a grid without overlaps', () => {
    const panels = allPanels(dashboard);
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(panels.filter((panel) => !CORE_PANEL_TYPES.has(panel.type)).map((panel) => `${panel.title}: ${panel.type}`)).toEqual([]);
    const problems: string[] = [];
    for (const { id, gridPos: g } of panels) {
      if (![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) {
        problems.push(`panel ${id}: gridPos ${JSON.stringify(g)} is not on the 24-column grid`);
      }
    }
    for (let i = 0; i < panels.length; i += 1) {
      for (let j = i + 1; j < panels.length; j += 1) {
        const a = panels[i]!.gridPos;
        const b = panels[j]!.gridPos;
        if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) problems.push(`panels ${panels[i]!.id} and ${panels[j]!.id} overlap`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('queries only datasources that are provisioned, by uid and type', () => {
    const byUid = new Map(datasources.map((source) => [source.uid as string, source.type as string]));
    const problems: string[] = [];
    const check = (where: string, ref: { type: string; uid: string } | undefined) => {
      if (!ref) return problems.push(`${where}: no datasource`);
      if (byUid.get(ref.uid) !== ref.type) problems.push(`${where}: datasource ${JSON.stringify(ref)} is not provisioned`);
      return undefined;
    };
    for (const panel of allPanels(dashboard)) {
      if (panel.type === 'row') continue;
      check(`panel ${panel.id}`, panel.datasource);
      for (const target of panel.targets ?? []) check(`panel ${panel.id} ${target.refId}`, target.datasource);
    }
    for (const variable of dashboard.templating?.list ?? []) check(`variable ${variable.name}`, variable.datasource);
    expect(problems).toEqual([]);
    expect(byUid.get('prometheus')).toBe('prometheus');
    expect(datasources.find((source) => source.uid === 'prometheus')?.url).toBe('http://prometheus:9090');
  });

  it('links its latency panels to traces in Tempo and logs in Loki', () => {
    const latency = allPanels(dashboard).filter((panel) => panel.targets?.some((target) => /histogram_quantile/.test(target.expr ?? '')));
    expect(latency.length).toBeGreaterThan(0);
    for (const panel of latency) {
      const urls = (panel.fieldConfig?.defaults?.links ?? []).map((link) => decodeURIComponent(link.url.replace(/\$\{[^}]*\}/g, 'X')));
      expect(urls.some((url) => url.startsWith('/explore?') && url.includes('"uid":"tempo"') && url.includes('traceql')), `${panel.title} links to Tempo`).toBe(true);
      if (panel.title.startsWith('End-to-end')) expect(urls.some((url) => url.includes('"uid":"loki"')), `${panel.title} links to Loki`).toBe(true);
    }
  });

  it('is provisioned from where compose and Kubernetes mount it', () => {
    expect(provider.type).toBe('file');
    expect(provider.options.path).toBe('/etc/grafana/provisioning/dashboards');
    const grafanaK8s = readFileSync(resolve('k8s/base/observability/grafana.yaml'), 'utf8');
    expect(grafanaK8s).toContain('mountPath: /etc/grafana/provisioning/dashboards');
    expect(compose.services.grafana!.volumes).toContain('./configs/grafana/provisioning:/etc/grafana/provisioning:ro');
  });

  it.skipIf(!hasPromtool)('has PromQL that parses (promtool check rules; skipped without promtool: apt-get install prometheus)', () => {
    const expressions = dashboardExpressions(dashboard);
    expect(expressions.length).toBeGreaterThan(10);
    // Grafana's variables become what they stand for at query time; a variable's label_values()
    // is Grafana's, not PromQL: its metric is checked alone.
    const toPromQL = (expr: string) =>
      expr
        .replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
        .replace(/\$\{?task_type\}?/g, '.*')
        .replace(/^label_values\(\s*([^,]+),\s*[^)]+\)$/, '$1');
    const rules = { groups: [{ name: 'dashboard', rules: expressions.map((e, i) => ({ record: `dashboard:expr_${i}`, expr: toPromQL(e.expr) })) }] };
    const dir = mkdtempSync(join(tmpdir(), 'tm-dashboard-'));
    try {
      const file = join(dir, 'rules.yaml');
      writeFileSync(file, stringify(rules));
      const result = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!hasPromtool)('the Prometheus configs (promtool check config; skipped without promtool)', () => {
  for (const file of ['configs/prometheus/prometheus.yaml', 'k8s/base/observability/prometheus/prometheus.yaml']) {
    it(`${file} is valid`, () => {
      const out = execFileSync('promtool', ['check', 'config', '--syntax-only', resolve(file)], { encoding: 'utf8' });
      expect(out).toContain('SUCCESS');
    });
  }
});
