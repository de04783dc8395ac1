import { describe, expect, it } from 'vitest';
import { exposedSeriesNames, metricNamesOf } from './dashboard';

describe('metric names of a PromQL expression', () => {
  it.each([
    ['sum by (taskmanager_task_priority) (rate(taskmanager_tasks_submitted_total{taskmanager_task_type=~"$task_type"}[$__rate_interval]))', ['taskmanager_tasks_submitted_total']],
    ['histogram_quantile(0.95, sum by (le, x) (rate(a_bucket{y="by (z)"}[5m])))', ['a_bucket']],
    ['sum(rate(a_total[1m])) / sum(rate(b_count[1m]))', ['a_total', 'b_count']],
    ['max by (q) (gauge_x{q=~"worker\\\\..*"})', ['gauge_x']],
    ['label_values(taskmanager_tasks_submitted_total, taskmanager_task_type)', ['taskmanager_tasks_submitted_total']],
    ['sum(increase(d_total[1h])) > bool 1e3', ['d_total']],
    ['up', ['up']],
    ['a_total offset 5m + on (job) group_left (instance) b', ['a_total', 'b']],
  ])('%s selects %j', (expr, names) => {
    expect(metricNamesOf(expr).sort()).toEqual([...names].sort());
  });
});

describe('series names of an exposition', () => {
  it('reads sample lines and skips comments', () => {
    const text = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\nb 4\nc_bucket{le="+Inf"} 1\n';
    expect([...exposedSeriesNames(text)].sort()).toEqual(['a_total', 'b', 'c_bucket']);
  });
});
