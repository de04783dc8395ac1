// GET /metrics on a function's own router, when metrics are on (shared/metrics.ts): the
// OpenTelemetry series of the process in Prometheus's text format. With metrics off no route is
// added (a scrape gets 404, and nothing of the SDK is loaded).
import { appendMetrics, isMetricsOn, PROMETHEUS_CONTENT_TYPE } from '../metrics';
import type { Router } from './http-router';

export function addMetricsRoute(router: Router): void {
  if (!isMetricsOn()) return;
  router.get('/metrics', async (_req, res) => {
    res.status(200).type(PROMETHEUS_CONTENT_TYPE).send(await appendMetrics(''));
  });
}
