import { describe, expect, it } from 'vitest';
import { createEnvReader } from './config';
import { parseTaskRegistry, readTaskTypes } from './task-registry';
import { TASK_TYPES } from './task-types';

const VALID = `
task_types:
  - name: resize
    description: makes thumbnails
    http: { url: "http://images.internal:8080/resize" }
    schema: { type: object, required: [url], properties: { url: { type: string } } }
    timeout_ms: 30000
    max_attempts: 3
    retry_delays_ms: [100, 200]
  - name: slugify
    module: ./handlers/slugify.ts
    schema: {}
    timeout_ms: 5000
    max_attempts: 1
  - name: shout
    builtin: echo
    schema: { type: object }
    timeout_ms: 1000
    max_attempts: 2
`;

describe('the task type registry file', () => {
  it('reads every kind of handler, with its limits; relative module paths resolve against the file', () => {
    const parsed = parseTaskRegistry(VALID, '/etc/taskmanager');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.types.map((spec) => [spec.type, spec.handler])).toEqual([
      ['resize', { kind: 'http', url: 'http://images.internal:8080/resize' }],
      ['slugify', { kind: 'module', path: '/etc/taskmanager/handlers/slugify.ts' }],
      ['shout', { kind: 'builtin', name: 'echo' }],
    ]);
    expect(parsed.types[0]).toMatchObject({ defaultTimeoutMs: 30_000, maxAttempts: 3, retryDelaysMs: [100, 200], description: 'makes thumbnails' });
    expect(parsed.types[1]).toMatchObject({ maxAttempts: 1, retryDelaysMs: undefined, description: 'module handler' });
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({ task_types: [{ name: 'a', http: { url: 'https://h/' }, schema: {}, timeout_ms: 1, max_attempts: 1 }] });
    expect(parseTaskRegistry(json, '/')).toMatchObject({ ok: true, types: [{ type: 'a', handler: { kind: 'http', url: 'https://h/' } }] });
  });

  it('lists every problem of a bad file at once, each naming its entry', () => {
    const bad = `
task_types:
  - name: echo
    builtin: echo
    schema: {}
    timeout_ms: 1000
    max_attempts: 1
  - name: resize
    http: { url: "ftp://files/x", verb: PUT }
    schema: { type: nonsense }
    timeout_ms: -1
    max_attempts: 0
    retry_delays_ms: []
    colour: blue
  - name: resize
    schema: {}
    timeout_ms: 1000
    max_attempts: 1
    module: ./a.js
  - name: "bad name!"
    schema: {}
    timeout_ms: 1000
    max_attempts: 1
  - name: two
    module: ./a.js
    http: { url: "http://h/" }
    schema: {}
    max_attempts: 1
extra: true
`;
    const parsed = parseTaskRegistry(bad, '/');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const text = parsed.problems.join('\n');
    expect(text).toContain('unknown top-level key extra');
    expect(text).toContain('task_types[0] "echo": name "echo" is a built-in task type');
    expect(text).toContain('task_types[1] "resize": unknown key(s) colour');
    expect(text).toContain('task_types[1] "resize": schema is not a valid JSON Schema');
    expect(text).toContain('task_types[1] "resize": timeout_ms must be an integer from 1 to 86400000, got -1');
    expect(text).toContain('task_types[1] "resize": max_attempts must be an integer from 1 to 100, got 0');
    expect(text).toContain('task_types[1] "resize": retry_delays_ms must be a list');
    expect(text).toContain('task_types[1] "resize": http has unknown key(s) verb');
    expect(text).toContain('task_types[1] "resize": http.url must be http:// or https://, got "ftp://files/x"');
    expect(text).toContain('task_types[3] "bad name!": name must be 1 to 128 letters');
    expect(text).toContain('task_types[3] "bad name!": needs exactly one handler (http, module or builtin), got none');
    expect(text).toContain('task_types[4] "two": timeout_ms is required');
    expect(text).toContain('task_types[4] "two": needs exactly one handler (http, module or builtin), got http and module');
    // The duplicate is only found for entries that are otherwise valid.
    const duplicates = parseTaskRegistry(
      'task_types:\n- {name: a, builtin: echo, schema: {}, timeout_ms: 1, max_attempts: 1}\n- {name: a, builtin: hash, schema: {}, timeout_ms: 1, max_attempts: 1}\n',
      '/',
    );
    expect(duplicates).toEqual({ ok: false, problems: ['task_types[1] "a": name "a" is already used by task_types[0]'] });
  });

  it('refuses a document that is not a registry, or not YAML at all', () => {
    expect(parseTaskRegistry('task_types: {}', '/')).toEqual({ ok: false, problems: ['must be a mapping with a task_types list at its top level'] });
    expect(parseTaskRegistry('[1, 2', '/')).toMatchObject({ ok: false, problems: [expect.stringContaining('is neither valid YAML nor JSON')] });
    expect(parseTaskRegistry('task_types: []\ntask_types: []', '/')).toMatchObject({ ok: false });
  });

  it('without TM_TASK_TYPES_FILE a component knows the built-ins; with it, the built-ins and the file’s types', () => {
    const none = createEnvReader({});
    expect(readTaskTypes(none, () => '')).toBe(TASK_TYPES);
    none.finish();
    const reader = createEnvReader({ TM_TASK_TYPES_FILE: '/etc/types.yaml' });
    const types = readTaskTypes(reader, (path) => (path === '/etc/types.yaml' ? VALID : ''));
    reader.finish();
    expect(types.map((spec) => spec.type)).toEqual([...TASK_TYPES.map((spec) => spec.type), 'resize', 'slugify', 'shout']);
  });

  it('a file that cannot be read, or is bad, becomes problems of the component’s configuration', () => {
    const unreadable = createEnvReader({ TM_TASK_TYPES_FILE: '/nope.yaml' });
    readTaskTypes(unreadable, () => {
      throw new Error('ENOENT: no such file');
    });
    expect(() => unreadable.finish()).toThrow(/TM_TASK_TYPES_FILE: cannot read "\/nope.yaml": ENOENT/);
    const bad = createEnvReader({ TM_TASK_TYPES_FILE: '/bad.yaml' });
    readTaskTypes(bad, () => 'task_types:\n- {name: x, schema: {}, timeout_ms: 0, max_attempts: 1}\n');
    expect(() => bad.finish()).toThrow(/TM_TASK_TYPES_FILE \(\/bad.yaml\): task_types\[0\] "x": timeout_ms[\s\S]*task_types\[0\] "x": needs exactly one handler/);
  });
});
