// The client package's entry (`import { createTaskManagerClient } from '@taskmanager/client'`):
// the typed gRPC client, its errors and types, and the module-handler helper.
export { createTaskManagerClient, toChannelCredentials, toSubmitRequest, TaskManagerClientError } from './client';
export type { ClientOptions, TaskManagerClient, TlsOptions, WaitOptions, RetryPolicy, WatchOptions } from './client';
export * from './types';
export { defineTaskHandler, PermanentTaskError } from './handler';
export type { TaskHandlerContext, TaskHandlerModule } from './handler';
