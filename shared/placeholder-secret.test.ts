// Placeholder secrets: which values count, and that every component's connection settings refuse
// them by naming the variable, never the value.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createEnvReader, readConnectionSettings, type Env } from './config';
import { ConfigError } from './errors';
import { isPlaceholderSecret, toPlaceholderProblem } from './placeholder-secret';

function problemsOf(env: Env): readonly string[] {
  const reader = createEnvReader(env);
  readConnectionSettings(reader);
  try {
    reader.finish();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return [];
}

describe('isPlaceholderSecret', () => {
  it('recognizes the shipped kind of placeholder in any case and spelling', () => {
    for (const value of [
      'placeholder-api-key-change-me',
      'placeholder-grafana-password-change-me',
      'CHANGEME',
      'change_me_please',
      'Change.Me',
      'my-password-replace-me',
      'PlaceHolder',
    ]) {
      expect(isPlaceholderSecret(value), value).toBe(true);
    }
  });

  it('accepts generated secrets and ordinary passwords', () => {
    for (const value of ['', randomBytes(24).toString('hex'), randomBytes(24).toString('base64'), 'dev-only-worker', 's3cret-Pa55word', 'k3y-of-at-least-16-chars']) {
      expect(isPlaceholderSecret(value), value).toBe(false);
    }
  });
});

describe('connection settings refuse placeholder passwords', () => {
  const placeholder = 'placeholder-worker-change-me';

  it('names NATS_PASSWORD, NATS_TOKEN, REDIS_PASSWORD or REDIS_URL, and never prints the value', () => {
    const cases: [Env, string][] = [
      [{ NATS_USER: 'worker', NATS_PASSWORD: placeholder }, toPlaceholderProblem('NATS_PASSWORD')],
      [{ NATS_TOKEN: placeholder }, toPlaceholderProblem('NATS_TOKEN', 'token')],
      [{ REDIS_PASSWORD: placeholder }, toPlaceholderProblem('REDIS_PASSWORD')],
      [{ REDIS_URL: `redis://worker:${placeholder}@redis:6379` }, toPlaceholderProblem('REDIS_URL')],
    ];
    for (const [env, problem] of cases) {
      const problems = problemsOf(env);
      expect(problems).toEqual([problem]);
      expect(problems.join('\n')).not.toContain(placeholder);
    }
    expect(toPlaceholderProblem('NATS_PASSWORD')).toBe(
      'NATS_PASSWORD: the password is a placeholder (it contains "placeholder", "change-me"/"changeme" or "replace-me"); ' +
        'set a real one, e.g. the output of `openssl rand -hex 24`',
    );
  });

  it('accepts real passwords', () => {
    const secret = randomBytes(24).toString('hex');
    expect(problemsOf({ NATS_USER: 'worker', NATS_PASSWORD: secret, REDIS_URL: `redis://worker:${secret}@redis:6379` })).toEqual([]);
  });
});
