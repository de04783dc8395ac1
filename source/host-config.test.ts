import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors';
import { HOSTED_SOURCES_VARIABLE, hostsSources, loadHostedSourceConfigs, toHostedSourcesValue } from './host-config';

const BASE = { NATS_URL: 'nats://127.0.0.1:4222', TM_SOURCE_MAX_IN_FLIGHT: '8' };
const withHosted = (value: string) => ({ ...BASE, [HOSTED_SOURCES_VARIABLE]: value });

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadHostedSourceConfigs(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('TM_HOSTED_SOURCES', () => {
  it('reads each entry as a lone source reads its environment: the shared variables, its own on top', () => {
    const env = withHosted(
      toHostedSourcesValue({
        notifier: { K_SINK: 'http://127.0.0.1:8105/', PORT: '8205' },
        worker: { K_SINK: 'http://127.0.0.1:8103/', PORT: '8203', TM_SOURCE_MAX_IN_FLIGHT: '2' },
      }),
    );
    expect(hostsSources(env)).toBe(true);
    const configs = loadHostedSourceConfigs(env);
    expect(configs.map((c) => [c.functionName, c.component, c.sink, c.port, c.maxInFlight, c.natsUrl])).toEqual([
      ['notifier', 'source-notifier', 'http://127.0.0.1:8105/', 8205, 8, 'nats://127.0.0.1:4222'],
      ['worker', 'source-worker', 'http://127.0.0.1:8103/', 8203, 2, 'nats://127.0.0.1:4222'],
    ]);
    expect(configs[1]!.consumers.map((c) => c.durable)).toEqual(['worker-high', 'worker-medium', 'worker-low']);
  });

  it('is off when unset or blank', () => {
    expect(hostsSources(BASE)).toBe(false);
    expect(hostsSources(withHosted('  '))).toBe(false);
  });

  it('names what is wrong: not JSON, not an object, an entry that is not variables', () => {
    expect(problemsOf(withHosted('{ingest'))[0]).toMatch(/^TM_HOSTED_SOURCES is not valid JSON/);
    expect(problemsOf(withHosted('[]'))[0]).toMatch(/must be a JSON object with one entry per hosted source/);
    expect(problemsOf(withHosted('{}'))[0]).toMatch(/must be a JSON object/);
    expect(problemsOf(withHosted('{"ingest":{"PORT":8201}}'))).toEqual(['TM_HOSTED_SOURCES: the entry "ingest" must be an object of string variables']);
  });

  it('refuses an entry with its own NATS settings or function: the connection and the name are shared', () => {
    const problems = problemsOf(withHosted('{"ingest":{"K_SINK":"http://127.0.0.1:8101/","NATS_URL":"nats://elsewhere:4222","TM_SOURCE_FUNCTION":"worker"}}'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/"ingest" sets NATS_URL, TM_SOURCE_FUNCTION; hosted sources share one NATS connection/);
  });

  it("lists every entry's own problems under its name", () => {
    const problems = problemsOf(
      withHosted(
        toHostedSourcesValue({
          enricher: { K_SINK: 'http://127.0.0.1:8100/' },
          nobody: { K_SINK: 'http://127.0.0.1:8100/' },
          worker: { K_SINK: 'ftp://127.0.0.1/', PORT: '8203' },
        }),
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^TM_HOSTED_SOURCES "enricher": TM_SOURCE_FUNCTION "enricher" reads no consumer/),
      expect.stringMatching(/^TM_HOSTED_SOURCES "nobody": TM_SOURCE_FUNCTION must be one of ingest, scheduler, worker/),
      'TM_HOSTED_SOURCES "worker": K_SINK must be an http(s) URL, got "ftp://127.0.0.1/"',
    ]);
  });

  it('refuses two hosted sources on one port', () => {
    const problems = problemsOf(
      withHosted(toHostedSourcesValue({ worker: { K_SINK: 'http://127.0.0.1:8103/', PORT: '8203' }, audit: { K_SINK: 'http://127.0.0.1:8106/', PORT: '8203' } })),
    );
    expect(problems).toEqual(['TM_HOSTED_SOURCES: two hosted sources listen on port 8203']);
  });
});
