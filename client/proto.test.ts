// Where the client finds taskmanager.proto, and that it loads the TaskManager service from it.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTaskManagerService, locateProtoFile, toProtoCandidates } from './proto';

describe('proto location', () => {
  it('looks beside the module first (the proto a package or bundle ships), then next to the running script, then in the working directory', () => {
    expect(toProtoCandidates('/opt/tm/dist/tm.cjs', '/home/me', '/opt/tm/dist')).toEqual([
      '/opt/tm/dist/proto/taskmanager.proto',
      '/home/me/proto/taskmanager.proto',
      '/opt/tm/proto/taskmanager.proto',
    ]);
    // An installed package: its own proto, never the application's file of the same name.
    expect(toProtoCandidates('/app/main.js', '/app', '/app/node_modules/@taskmanager/client/dist')[0]).toBe(
      '/app/node_modules/@taskmanager/client/dist/proto/taskmanager.proto',
    );
    expect(toProtoCandidates(undefined, '/repo', undefined)).toEqual([path.join('.', 'proto', 'taskmanager.proto'), '/repo/proto/taskmanager.proto']);
  });

  it('uses an explicit protoPath, and names it when it does not exist', () => {
    const file = path.resolve('proto/taskmanager.proto');
    expect(locateProtoFile({ protoPath: file })).toBe(file);
    expect(() => locateProtoFile({ protoPath: '/nowhere/x.proto' })).toThrow('proto file not found: /nowhere/x.proto');
  });

  it('loads the TaskManager service with the public RPCs', () => {
    const service = loadTaskManagerService();
    expect(Object.keys(service.service).sort()).toEqual(['CancelTask', 'GetQueueStats', 'GetResult', 'GetTask', 'ListAuditEvents', 'ListDeadLetters', 'ListTaskTypes', 'ListTasks', 'PauseQueue', 'ReplayDeadLetters', 'ResumeQueue', 'StreamStatus', 'SubmitTask']);
    expect(service.service.StreamStatus!.path).toBe('/taskmanager.v1.TaskManager/StreamStatus');
    expect(service.service.StreamStatus!.responseStream).toBe(true);
  });
});
