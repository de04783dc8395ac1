// Loads proto/taskmanager.proto at run time with @grpc/proto-loader, so the client needs no
// generated code and stays importable by any Node service that has the proto file next to it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_FILE = 'taskmanager.proto';

/** The options the whole project loads the proto with: field names as in the proto, int64 as
 *  strings (never lossy), enums as their names, absent fields filled with defaults, and proto3
 *  `optional` presence visible through the synthetic oneof (`_after_seq`, `_delay_ms`). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export type ProtoOptions = { protoPath?: string };

/** Where the proto file may live, most specific first: next to this module (the proto the
 *  package or the dist/ bundle ships, never another project's file of the same name), then next
 *  to the running script, the working directory (the repository root), and ../proto from the
 *  source tree. */
export function toProtoCandidates(argv1: string | undefined, cwd: string, moduleDir: string | undefined): string[] {
  const candidates = [
    ...(moduleDir ? [path.join(moduleDir, 'proto', PROTO_FILE)] : []),
    path.join(path.dirname(argv1 ?? ''), 'proto', PROTO_FILE),
    path.join(cwd, 'proto', PROTO_FILE),
    ...(moduleDir ? [path.join(moduleDir, '..', 'proto', PROTO_FILE)] : []),
  ];
  return [...new Set(candidates)];
}

export function locateProtoFile(options: ProtoOptions = {}): string {
  if (options.protoPath) {
    if (!existsSync(options.protoPath)) throw new Error(`proto file not found: ${options.protoPath}`);
    return options.protoPath;
  }
  // __dirname exists in the CJS bundle; under an ESM loader it may not, and the other candidates remain.
  const moduleDir = typeof __dirname === 'string' ? __dirname : undefined;
  const candidates = toProtoCandidates(process.argv[1], process.cwd(), moduleDir);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`proto file ${PROTO_FILE} not found; looked in: ${candidates.join(', ')} (set the protoPath option, or TM_PROTO_PATH for tm)`);
  return found;
}

/** The TaskManager service: a client constructor, whose `.service` a (test) server can implement. */
export type TaskManagerService = grpc.ServiceClientConstructor;

const cache = new Map<string, TaskManagerService>();

export function loadTaskManagerService(options: ProtoOptions = {}): TaskManagerService {
  const file = locateProtoFile(options);
  const cached = cache.get(file);
  if (cached) return cached;
  const definition = protoLoader.loadSync(file, LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    taskmanager?: { v1?: { TaskManager?: TaskManagerService } };
  };
  const service = loaded.taskmanager?.v1?.TaskManager;
  if (!service) throw new Error(`${file} does not define taskmanager.v1.TaskManager`);
  cache.set(file, service);
  return service;
}
