import { describe, expect, it } from 'vitest';
import { CONSUMERS } from '../shared/contract';
import { ConfigError } from '../shared/errors';
import { findFunction } from '../shared/topology';
import { MAX_TASK_TIMEOUT_MS } from '../shared/task-types';
import { loadSourceConfig } from './config';

const BASE = { K_SINK: 'http://127.0.0.1:8103/', TM_SOURCE_FUNCTION: 'worker' };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadSourceConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadSourceConfig', () => {
  it('takes the function consumers, in priority order, and the topology defaults', () => {
    const config = loadSourceConfig(BASE);
    const worker = findFunction('worker');
    expect(config.consumers.map((c) => c.durable)).toEqual(['worker-high', 'worker-medium', 'worker-low']);
    expect(config.maxInFlight).toBe(worker.maxInFlight);
    expect(config.port).toBe(worker.sourcePort);
    expect(config.host).toBe('127.0.0.1');
    expect(config.requestTimeoutMs).toBe(worker.requestTimeoutMs);
    expect(config.component).toBe('source-worker');
    expect(config.flow.maxDeliver).toBe(5);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("waits for the worker longer than the longest task may run, and one minute for other stages", () => {
    expect(loadSourceConfig(BASE).requestTimeoutMs).toBeGreaterThan(MAX_TASK_TIMEOUT_MS);
    expect(loadSourceConfig({ ...BASE, TM_SOURCE_FUNCTION: 'notifier' }).requestTimeoutMs).toBe(60_000);
  });

  it('lets TM_SOURCE_CONSUMERS override the consumers and the priority order', () => {
    const config = loadSourceConfig({ ...BASE, TM_SOURCE_CONSUMERS: 'worker-low, worker-high' });
    expect(config.consumers).toEqual([CONSUMERS.worker[2], CONSUMERS.worker[0]]);
  });

  it('reads the numeric settings and the scaled-down flow', () => {
    const config = loadSourceConfig({
      ...BASE,
      TM_SOURCE_MAX_IN_FLIGHT: '3',
      TM_SOURCE_REQUEST_TIMEOUT_MS: '1500',
      PORT: '0',
      HOST: '0.0.0.0',
      TM_RETRY_DELAYS_MS: '100,200',
      TM_ACK_WAIT_MS: '2000',
    });
    expect(config).toMatchObject({ maxInFlight: 3, requestTimeoutMs: 1500, port: 0, host: '0.0.0.0' });
    expect(config.flow.retryDelaysMs).toEqual([100, 200]);
    expect(config.flow.ackWaitMs).toBe(2000);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({
      TM_SOURCE_FUNCTION: 'nope',
      K_SINK: 'not a url',
      TM_SOURCE_CONSUMERS: 'worker-high,ghost,worker-high',
      TM_SOURCE_MAX_IN_FLIGHT: '0',
      TM_SOURCE_REQUEST_TIMEOUT_MS: 'soon',
      PORT: '70000',
      LOG_LEVEL: 'loud',
      TM_RETRY_DELAYS_MS: '1,x',
    });
    const expected = [
      /TM_SOURCE_FUNCTION must be one of ingest, scheduler, worker.*got "nope"/,
      /K_SINK must be a URL, got "not a url"/,
      /unknown consumer "ghost"/,
      /lists "worker-high" twice/,
      /TM_SOURCE_MAX_IN_FLIGHT must be >= 1/,
      /TM_SOURCE_REQUEST_TIMEOUT_MS must be an integer/,
      /PORT must be <= 65535/,
      /LOG_LEVEL must be one of/,
      /TM_RETRY_DELAYS_MS must be a comma-separated list/,
    ];
    for (const pattern of expected) expect(problems.some((p) => pattern.test(p)), String(pattern)).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it('requires K_SINK and TM_SOURCE_FUNCTION', () => {
    expect(problemsOf({})).toEqual(['TM_SOURCE_FUNCTION is required', 'K_SINK is required']);
  });

  it('refuses a non-http sink and a function without consumers', () => {
    const problems = problemsOf({ K_SINK: 'ftp://host/x', TM_SOURCE_FUNCTION: 'enricher' });
    expect(problems).toEqual([
      expect.stringContaining('"enricher" reads no consumer'),
      expect.stringContaining('K_SINK must be an http(s) URL'),
    ]);
  });
});
