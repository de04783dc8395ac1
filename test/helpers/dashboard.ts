// Reading the provisioned Grafana dashboard for the tests: its PromQL expressions (panel targets
// and query variables) and the metric names they select. The names come from the expressions'
// text, without a full PromQL parser: string literals, label matchers in braces, range
// selectors, `by (...)` / `without (...)` / `on (...)` / `ignoring (...)` groupings and
// `$__`/`${...}` variables are removed first; what is left that looks like a name and is not a
// function, keyword or aggregation is a metric name. promtool (test/deploy/dashboard.test.ts)
// checks separately that every expression parses.
import { readFileSync } from 'node:fs';

export const DASHBOARD_FILE = 'configs/grafana/provisioning/dashboards/taskmanager.json';

export type Dashboard = {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating?: { list: Variable[] };
};
export type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr?: string; datasource?: { type: string; uid: string } }[];
  fieldConfig?: { defaults?: { links?: { title: string; url: string }[] } };
  panels?: Panel[];
};
export type Variable = { name: string; type: string; datasource?: { type: string; uid: string }; query?: { query?: string } | string };

export function readDashboard(path = DASHBOARD_FILE): Dashboard {
  return JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** Every PromQL expression: panel targets, and the query of each query variable. */
export function dashboardExpressions(dashboard: Dashboard): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (target.expr) found.push({ where: `panel ${panel.id} "${panel.title}" ${target.refId}`, expr: target.expr });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (query) found.push({ where: `variable ${variable.name}`, expr: query });
  }
  return found;
}

const NOT_METRICS = new Set([
  // aggregations and keywords
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2',
  // functions
  'abs', 'absent', 'absent_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'day_of_month', 'day_of_week', 'day_of_year',
  'days_in_month', 'delta', 'deriv', 'exp', 'floor', 'histogram_quantile', 'histogram_count', 'histogram_sum', 'histogram_fraction',
  'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'ln', 'log2', 'log10', 'minute', 'month',
  'predict_linear', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt', 'time', 'timestamp', 'vector', 'year',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'quantile_over_time', 'stddev_over_time',
  'stdvar_over_time', 'last_over_time', 'present_over_time',
  // Grafana's variable functions
  'label_values', 'label_names', 'metrics', 'query_result',
  'inf', 'nan',
]);

/** The metric names an expression selects (see the file's note on how). */
export function metricNamesOf(expr: string): string[] {
  let text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  // Label matchers and groupings name labels, not metrics.
  text = text.replace(/\{[^}]*\}/g, ' ').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // label_values(metric, label): the label is not a metric.
  text = text.replace(/\blabel_values\s*\(\s*([A-Za-z_:][\w:]*)\s*,\s*[A-Za-z_]\w*\s*\)/g, ' $1 ');
  const names = new Set<string>();
  for (const match of text.matchAll(/(?<![\w.])([A-Za-z_:][\w:]*)(?![\w.])/g)) {
    const name = match[1]!;
    if (NOT_METRICS.has(name) || /^\d/.test(name) || /^(e|E)$/.test(name)) continue;
    names.add(name);
  }
  return [...names];
}

/** `name_bucket`/`_count`/`_sum` of a histogram, `_total` of a counter: the family names a
 * scrape lists in `# TYPE` lines. */
export function toFamilyCandidates(series: string): string[] {
  const candidates = [series];
  for (const suffix of ['_bucket', '_count', '_sum']) if (series.endsWith(suffix)) candidates.push(series.slice(0, -suffix.length));
  return candidates;
}

/** Series names in a Prometheus text exposition (sample lines, not comments). */
export function exposedSeriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{|\s)/.exec(line);
    if (match) names.add(match[1]!);
  }
  return names;
}
