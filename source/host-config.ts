// Several sources in one process (docs/design.md §6: "locally one process may host several
// sources"). TM_HOSTED_SOURCES names them, each with the variables that differ from the process's
// own environment: typically its sink and the port of its /healthz.
//
//   TM_HOSTED_SOURCES={"ingest":{"K_SINK":"http://127.0.0.1:8101/","PORT":"8201"}, ...}
//
// Each hosted source's config is read exactly as a lone source reads its own (loadSourceConfig),
// from the process environment with TM_SOURCE_FUNCTION set to the entry's name and the entry's
// variables on top. They share one NATS connection, opened from the process's own NATS_*
// settings, so an entry may not set any NATS_* variable.
import { ConfigError } from '../shared/errors';
import type { Env } from '../shared/config';
import { loadSourceConfig, type SourceConfig } from './config';

export const HOSTED_SOURCES_VARIABLE = 'TM_HOSTED_SOURCES';

/** Whether this process hosts several sources (TM_HOSTED_SOURCES is set). */
export function hostsSources(env: Env): boolean {
  return (env.TM_HOSTED_SOURCES ?? '').trim() !== '';
}

/** The JSON text of TM_HOSTED_SOURCES for these entries (what the local stack sets). */
export function toHostedSourcesValue(entries: Readonly<Record<string, Readonly<Record<string, string>>>>): string {
  return JSON.stringify(entries);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses the variable into entries of string variables; lists every problem. */
function parseEntries(raw: string, problems: string[]): [string, Record<string, string>][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    problems.push(`${HOSTED_SOURCES_VARIABLE} is not valid JSON: ${(error as Error).message}`);
    return [];
  }
  if (!isPlainObject(parsed) || Object.keys(parsed).length === 0) {
    problems.push(`${HOSTED_SOURCES_VARIABLE} must be a JSON object with one entry per hosted source, e.g. {"ingest":{"K_SINK":"http://127.0.0.1:8101/"}}`);
    return [];
  }
  const entries: [string, Record<string, string>][] = [];
  for (const [name, variables] of Object.entries(parsed)) {
    if (!isPlainObject(variables) || !Object.values(variables).every((value) => typeof value === 'string')) {
      problems.push(`${HOSTED_SOURCES_VARIABLE}: the entry "${name}" must be an object of string variables`);
      continue;
    }
    const shared = Object.keys(variables).filter((key) => key.startsWith('NATS_') || key === 'TM_SOURCE_FUNCTION');
    if (shared.length > 0) {
      problems.push(
        `${HOSTED_SOURCES_VARIABLE}: the entry "${name}" sets ${shared.join(', ')}; hosted sources share one NATS connection (the process's own NATS_* settings) and take their function from the entry's name`,
      );
      continue;
    }
    entries.push([name, variables as Record<string, string>]);
  }
  return entries;
}

/** The config of every hosted source; throws ConfigError listing every problem of every entry. */
export function loadHostedSourceConfigs(env: Env): SourceConfig[] {
  const problems: string[] = [];
  const { TM_HOSTED_SOURCES: raw = '', ...shared } = env;
  const configs: SourceConfig[] = [];
  for (const [name, variables] of parseEntries(raw, problems)) {
    try {
      configs.push(loadSourceConfig({ ...shared, ...variables, TM_SOURCE_FUNCTION: name }));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems.map((problem) => `${HOSTED_SOURCES_VARIABLE} "${name}": ${problem}`));
    }
  }
  const ports = configs.map((config) => config.port).filter((port) => port !== 0);
  const repeated = ports.filter((port, index) => ports.indexOf(port) !== index);
  if (repeated.length > 0) problems.push(`${HOSTED_SOURCES_VARIABLE}: two hosted sources listen on port ${repeated[0]}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return configs;
}
