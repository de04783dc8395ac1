// V8's compile cache for the bundle a process runs (Node's `module.enableCompileCache`). Part of a
// function's cold start is V8 compiling its 1–1.6 MB bundle: with the code compiled on an earlier
// start read back from disk, a function is ready about 30 ms sooner (docs/performance.md).
//
// Called from dist/telemetry.cjs, which every process `--require`s before its bundle, so the
// bundle itself is compiled through the cache. Where the cache lives is Node's own setting:
// NODE_COMPILE_CACHE names the directory (the image bakes one at build time: Dockerfile), and
// without it Node uses `<os.tmpdir()>/node-compile-cache`; NODE_DISABLE_COMPILE_CACHE=1 turns it
// off. A stale or foreign entry is only a miss: Node checks each against the file's content and
// the Node and V8 versions and flags. A directory that cannot be written (a read-only root file
// system) is still read; what cannot be saved is skipped.
import * as nodeModule from 'node:module';

/** Turns the cache on for every module loaded from here on. Never throws: a start must not fail
 * because a cache could not be opened (Node then runs without one). */
export function enableCompileCache(): void {
  try {
    nodeModule.enableCompileCache?.();
  } catch {
    // Without a cache the process only starts slower.
  }
}
