// Module boundaries of docs/design.md §2 / STYLE.md as a check: functions import shared/ and
// their own folder only; the gateway, the source and the client never import a function; shared/
// imports no component; the dashboard is a client of the public API: shared/ and client/ only.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve('.');

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listTs(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The component a repository path belongs to: 'shared', 'gateway', 'functions/worker', ... */
export function toComponent(path: string): string {
  const parts = relative(ROOT, path).split('/');
  return parts[0] === 'functions' ? `functions/${parts[1]}` : parts[0]!;
}

function relativeImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((specifier) => resolve(dirname(file), specifier));
}

function allowed(from: string, to: string): boolean {
  if (from === to || to === 'shared' || to === 'proto') return true;
  // The package's own metadata (the `tm` entry prints its version) belongs to no component.
  if (to === 'package.json') return true;
  // The dashboard calls the gateway through the client library, like any other client.
  if (from === 'dashboard' && to === 'client') return true;
  return false;
}

describe('module boundaries', () => {
  const files = ['shared', 'functions', 'gateway', 'source', 'client', 'dashboard'].flatMap((dir) => listTs(join(ROOT, dir)));

  it('finds the components it checks', () => {
    expect(files.some((f) => f.includes('/functions/'))).toBe(true);
    expect(files.some((f) => f.includes('/shared/'))).toBe(true);
  });

  it('no component imports another component except shared/', () => {
    const violations = files.flatMap((file) =>
      relativeImports(file)
        .filter((target) => !allowed(toComponent(file), toComponent(target)))
        .map((target) => `${relative(ROOT, file)} imports ${relative(ROOT, target)}`),
    );
    expect(violations).toEqual([]);
  });

  it('the check itself catches a function importing another function', () => {
    expect(allowed(toComponent(join(ROOT, 'functions/worker/handler.ts')), toComponent(join(ROOT, 'functions/ingest/handler.ts')))).toBe(false);
    expect(allowed(toComponent(join(ROOT, 'shared/status.ts')), toComponent(join(ROOT, 'gateway/service.ts')))).toBe(false);
    expect(allowed(toComponent(join(ROOT, 'dashboard/api.ts')), toComponent(join(ROOT, 'gateway/service.ts')))).toBe(false);
    expect(allowed(toComponent(join(ROOT, 'dashboard/api.ts')), toComponent(join(ROOT, 'client/types.ts')))).toBe(true);
  });
});
