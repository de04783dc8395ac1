// docs/configuration.md lists every environment variable the code reads, and only those. Every
// tracked .ts/.mjs/.js/.cjs file (node_modules, dist and the carried schemas aside) is scanned for
// reads by test/helpers/env-reads.ts (the env reader, process.env, any `env` object, helpers that
// take the name as a parameter, names from a literal list); the page lists a variable when it
// names it in the first column of a table whose header starts with "variable". Variables that
// only tests and the benchmark read belong in the page's "Tests and benchmarks only" section,
// the others outside it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scanEnvReads, type EnvRead, type SourceText, type UnresolvedRead } from './helpers/env-reads';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PAGE = 'docs/configuration.md';
const TEST_SECTION = 'Tests and benchmarks only';

/** Files whose reads are not of the environment at all. */
const IGNORED_FILES: Readonly<Record<string, string>> = {
  'shared/config.test.ts': "the env reader's own unit test: it reads made-up names (A, BLANK, INT_OK, …) from made-up environments",
};

/** Reads by a computed name that are not reads of a variable, each with the reason. */
type Exemption = Readonly<{ path: string; inside?: string; expression?: RegExp; why: string }>;
const EXEMPTIONS: readonly Exemption[] = [
  {
    path: 'shared/config.ts',
    inside: 'createEnvReader',
    why: "the env reader itself: `env[name]` is how reader.int('NAME', …) and the others read, and those calls are counted where they are made",
  },
  {
    path: 'test/deploy/config-copies.test.ts',
    expression: /^env\[(index|rawIndex)\]$/,
    why: "`env` there is a Kubernetes container's env list, indexed by position",
  },
];

function matches(exemption: Exemption, read: UnresolvedRead): boolean {
  return (
    exemption.path === read.path &&
    (exemption.inside === undefined || read.enclosing.includes(exemption.inside)) &&
    (exemption.expression === undefined || exemption.expression.test(read.expression))
  );
}

export function isTestCode(path: string): boolean {
  return path.startsWith('test/') || path.startsWith('bench/') || /\.test\.[cm]?[jt]s$/.test(path);
}

export type Listed = Readonly<{ name: string; line: number; testOnly: boolean }>;

/** The variables the page lists: backticked names in the first cell of a "variable" table. */
export function readListedVariables(markdown: string): Listed[] {
  const listed: Listed[] = [];
  let testOnly = false;
  let inVariableTable = false;
  markdown.split('\n').forEach((text, index) => {
    const heading = /^(#{1,6})\s+(.*)$/.exec(text);
    if (heading) {
      if (heading[1]!.length <= 2) testOnly = heading[2]!.trim() === TEST_SECTION;
      inVariableTable = false;
      return;
    }
    if (!text.startsWith('|')) {
      inVariableTable = false;
      return;
    }
    const firstCell = text.split('|')[1]!.trim();
    if (/^variable\b/i.test(firstCell)) {
      inVariableTable = true;
      return;
    }
    if (!inVariableTable || /^:?-+:?$/.test(firstCell)) return;
    for (const match of firstCell.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)) listed.push({ name: match[1]!, line: index + 1, testOnly });
  });
  return listed;
}

const where = (read: EnvRead) => `${read.path}:${read.line}`;

/** Every disagreement between the reads and the page, one message each. */
export function compareWithPage(reads: readonly EnvRead[], listed: readonly Listed[]): string[] {
  const problems: string[] = [];
  const readsOf = new Map<string, EnvRead[]>();
  for (const read of reads) readsOf.set(read.name, [...(readsOf.get(read.name) ?? []), read]);
  const listedAs = new Map<string, Listed[]>();
  for (const entry of listed) listedAs.set(entry.name, [...(listedAs.get(entry.name) ?? []), entry]);

  for (const [name, found] of [...readsOf].sort(([a], [b]) => a.localeCompare(b))) {
    const entries = listedAs.get(name);
    const product = found.filter((read) => !isTestCode(read.path));
    if (entries === undefined) {
      for (const read of found) problems.push(`${where(read)} reads ${name}, which ${PAGE} does not list`);
    } else if (product.length > 0 && entries.every((entry) => entry.testOnly)) {
      problems.push(`${where(product[0]!)} reads ${name} outside the tests, but ${PAGE} lists it only under "${TEST_SECTION}" (line ${entries[0]!.line})`);
    } else if (product.length === 0 && entries.some((entry) => !entry.testOnly)) {
      const entry = entries.find((candidate) => !candidate.testOnly)!;
      problems.push(`${PAGE}:${entry.line} lists ${name} as a setting of the code, but only tests read it (${found.map(where).join(', ')}): move it under "${TEST_SECTION}"`);
    }
  }
  for (const entry of listed) {
    if (!readsOf.has(entry.name)) problems.push(`${PAGE}:${entry.line} lists ${entry.name}, which no code reads (stale)`);
  }
  return problems;
}

function listSources(): SourceText[] {
  const files = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.mts', '*.cts', '*.js', '*.mjs', '*.cjs'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean)
    .filter((path) => !/(^|\/)(node_modules|dist)\//.test(path) && !path.startsWith('test/deploy/schemas/'));
  return files.map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
}

describe(`${PAGE} lists every environment variable the code reads`, () => {
  const sources = listSources().filter((source) => IGNORED_FILES[source.path] === undefined);
  const used = new Set<Exemption>();
  const scan = scanEnvReads(sources, (read) => {
    const exemption = EXEMPTIONS.find((candidate) => matches(candidate, read));
    if (exemption) used.add(exemption);
    return exemption !== undefined;
  });
  const listed = readListedVariables(readFileSync(join(ROOT, PAGE), 'utf8'));

  it('scans the code and reads the page', () => {
    const names = new Set(scan.reads.map((read) => read.name));
    // One of each kind of read: reader call, helper parameter, env object, process.env, raw read.
    for (const name of ['PORT', 'NATS_TLS_CA_FILE', 'TM_TLS', 'NO_COLOR', 'OTEL_SERVICE_NAME', 'TM_API_KEYS', 'TM_FAULT_BURST']) {
      expect(names, name).toContain(name);
    }
    expect(listed.length).toBeGreaterThan(50);
    expect(listed.some((entry) => entry.testOnly)).toBe(true);
  });

  it('every read names its variable, or is exempted for a stated reason', () => {
    expect(scan.unresolved.map((read) => `${read.path}:${read.line}: ${read.expression} reads a variable whose name is not a literal; name it, or teach test/helpers/env-reads.ts`)).toEqual([]);
    expect(EXEMPTIONS.filter((exemption) => !used.has(exemption)).map((exemption) => `unused exemption: ${exemption.path} (${exemption.why})`)).toEqual([]);
  });

  it('every variable read is listed, in the right section, and every variable listed is read', () => {
    expect(compareWithPage(scan.reads, listed)).toEqual([]);
  });

  it('no variable is listed twice in one section', () => {
    const seen = new Map<string, number>();
    const twice = listed.flatMap((entry) => {
      const key = `${entry.testOnly}:${entry.name}`;
      const first = seen.get(key);
      seen.set(key, entry.line);
      return first === undefined ? [] : [`${PAGE}:${entry.line} lists ${entry.name} again (first at line ${first})`];
    });
    expect(twice).toEqual([]);
  });
});

describe('the check itself', () => {
  const scanOne = (text: string, path = 'shared/example.ts') => scanEnvReads([{ path, text }]);
  const namesIn = (text: string) => [...new Set(scanOne(text).reads.map((read) => read.name))].sort();

  it('finds each way the code reads a variable', () => {
    const text = [
      "const a = reader.int('A_INT', 1, { min: 0 });",
      "const b = reader.string(\n  'B_MULTILINE',\n  'x',\n);",
      "const c = settingsReader.url('C_URL');",
      "const d = createEnvReader(env).bool('D_BOOL', false);",
      "const e = process.env.E_DOT ?? process.env?.E_OPTIONAL;",
      "const f = process.env['F_BRACKET'];",
      'const g = env.G_ENV || spec.env.G_SPEC;',
      'function read(values: Env) { return values.H_TYPED; }',
      'const { I_ONE, I_TWO: renamed, ...rest } = process.env;',
      "const j = 'J_IN' in env;",
      "function optional(reader: EnvReader, variable: string) { return reader.string(variable, ''); }",
      "optional(reader, 'K_HELPER');",
      'function flag(env: Env, name: string) { return env[name] === "1"; }',
      'function twice(env: Env, what: string) { return flag(env, what); }',
      "twice(env, 'L_CHAINED');",
      "for (const name of ['M_LIST', 'N_LIST']) console.log(process.env[name]);",
    ].join('\n');
    expect(namesIn(text)).toEqual([
      'A_INT', 'B_MULTILINE', 'C_URL', 'D_BOOL', 'E_DOT', 'E_OPTIONAL', 'F_BRACKET', 'G_ENV', 'G_SPEC', 'H_TYPED',
      'I_ONE', 'I_TWO', 'J_IN', 'K_HELPER', 'L_CHAINED', 'M_LIST', 'N_LIST',
    ]);
    expect(scanOne(text).unresolved).toEqual([]);
    expect(scanOne("const x = 1;\nconst b = reader.string(\n  'B_MULTILINE');").reads).toEqual([{ name: 'B_MULTILINE', path: 'shared/example.ts', line: 3 }]);
  });

  it('ignores writes, strings, comments, methods of objects named env and other readers', () => {
    const text = [
      "env.W_ASSIGNED = '1';",
      'delete env.W_DELETED;',
      "const text = 'process.env.W_IN_A_STRING';",
      '// reader.int(\'W_IN_A_COMMENT\', 1)',
      'const list = env.filter((v) => v.name === "x");',
      "const s = fc.string({ maxLength: 3 }); const t = schema.string('W_NOT_A_READER');",
      'const first = env[0];',
    ].join('\n');
    expect(namesIn(text)).toEqual([]);
    expect(scanOne(text).unresolved).toEqual([]);
  });

  it('reports a read whose name it cannot follow', () => {
    const text = [
      'const computed = process.env[`TM_${kind}`];',
      'const fromCall = reader.int(nameOf(kind), 1);',
      'const looped = names.map((name) => env[name]);',
    ].join('\n');
    expect(scanOne(text).unresolved.map((read) => `${read.line}: ${read.expression}`)).toEqual([
      '1: process.env[`TM_${kind}`]',
      '2: reader.int(nameOf(kind), 1)',
      '3: env[name]',
    ]);
  });

  it('fails on an undocumented variable, a stale entry, and a variable in the wrong section', () => {
    const page = [
      '## Gateway',
      '',
      '| variable | default | meaning |',
      '|---|---|---|',
      '| `DOCUMENTED` | `1` | read by the gateway |',
      '| `STALE` | `2` | read by nothing |',
      '| `ONLY_TESTS_READ_IT` | `3` | listed as a product setting |',
      '',
      '| component | port |',
      '|---|---|',
      '| `NOT_A_VARIABLE` | 1 |',
      '',
      `## ${TEST_SECTION}`,
      '',
      '| variable | default | meaning |',
      '|---|---|---|',
      '| `READ_BY_PRODUCT` | unset | listed as a test knob |',
    ].join('\n');
    const listed = readListedVariables(page);
    expect(listed.map((entry) => `${entry.name}:${entry.testOnly}`)).toEqual([
      'DOCUMENTED:false', 'STALE:false', 'ONLY_TESTS_READ_IT:false', 'READ_BY_PRODUCT:true',
    ]);
    const reads: EnvRead[] = [
      { name: 'DOCUMENTED', path: 'gateway/config.ts', line: 10 },
      { name: 'UNDOCUMENTED', path: 'source/config.ts', line: 20 },
      { name: 'ONLY_TESTS_READ_IT', path: 'test/faults/burst.int.test.ts', line: 30 },
      { name: 'READ_BY_PRODUCT', path: 'scripts/start.ts', line: 40 },
    ];
    expect(compareWithPage(reads, listed)).toEqual([
      `${PAGE}:7 lists ONLY_TESTS_READ_IT as a setting of the code, but only tests read it (test/faults/burst.int.test.ts:30): move it under "${TEST_SECTION}"`,
      `scripts/start.ts:40 reads READ_BY_PRODUCT outside the tests, but ${PAGE} lists it only under "${TEST_SECTION}" (line 17)`,
      `source/config.ts:20 reads UNDOCUMENTED, which ${PAGE} does not list`,
      `${PAGE}:6 lists STALE, which no code reads (stale)`,
    ]);
  });

  it('tells test code from product code', () => {
    expect(['test/helpers/stack.ts', 'bench/bench.ts', 'gateway/faults.int.test.ts', 'client/cli-args.test.ts'].every(isTestCode)).toBe(true);
    expect(['gateway/config.ts', 'scripts/start.ts', 'shared/telemetry-bootstrap.ts', 'bin/tm.js'].some(isTestCode)).toBe(false);
  });
});
