import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, PermanentError } from '../../shared/errors';
import { recordingContext } from '../../test/helpers/task-run-context';
import { findHandle, loadModuleHandler } from './module-handler';

describe('module handlers', () => {
  it('find handle as the default export’s method, by name, or through CommonJS interop', () => {
    const handle = () => 1;
    expect(findHandle({ default: { handle } })).toBeTypeOf('function');
    expect(findHandle({ handle })).toBeTypeOf('function');
    expect(findHandle({ default: { default: { handle } } })).toBeTypeOf('function');
    expect(findHandle({ default: {} })).toBeUndefined();
  });

  it('run the example module (TypeScript, loaded as it is): output, progress, and a PermanentTaskError that fails for good', async () => {
    const handler = await loadModuleHandler('slugify', resolve('examples/handlers/module/slugify.ts'));
    const ctx = recordingContext();
    expect(await handler.run({ title: 'Héllo, Wörld!' }, ctx)).toEqual({ slug: 'hello-world' });
    expect(ctx.progress).toEqual([[100, 'slug made']]);
    const failure = handler.run({ title: '!!!' }, recordingContext());
    await expect(failure).rejects.toBeInstanceOf(PermanentError);
    await expect(failure).rejects.toThrow('"!!!" has no letters or digits');
  });

  it('a module that does not load, or exports no handle, stops the start-up with the reason', async () => {
    await expect(loadModuleHandler('gone', '/nowhere/handler.js')).rejects.toThrow(ConfigError);
    await expect(loadModuleHandler('gone', '/nowhere/handler.js')).rejects.toThrow(/task type "gone": module \/nowhere\/handler.js cannot be loaded/);
    const dir = mkdtempSync(join(tmpdir(), 'tm-module-'));
    writeFileSync(join(dir, 'empty.mjs'), 'export const nothing = 1;\n');
    await expect(loadModuleHandler('empty', join(dir, 'empty.mjs'))).rejects.toThrow(/exports no handle\(payload, context\) function/);
  });
});
