// Test-only: real gRPC clients generated at run time from the same .proto files the gateway
// serves (TaskManager, grpc.health.v1, server reflection), with promise wrappers.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  PROTO_FILE,
  PROTO_LOADER_OPTIONS,
  type CancelTaskResponse,
  type StreamStatusRequest,
  type SubmitTaskRequest,
  type SubmitTaskResponse,
  type Task,
  type TaskResult,
  type TaskStatusUpdate,
} from '../proto';

const require = createRequire(import.meta.url);

type ServiceClientCtor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;

function loadClientCtor(protoPath: string, serviceName: string): ServiceClientCtor {
  const definition = loadSync(protoPath, PROTO_LOADER_OPTIONS);
  const root = grpc.loadPackageDefinition(definition) as Record<string, unknown>;
  let node: unknown = root;
  for (const part of serviceName.split('.')) node = (node as Record<string, unknown>)[part];
  return node as ServiceClientCtor;
}

type UnaryMethod = (request: unknown, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: unknown) => void) => void;

function call<Res>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method]!.bind(client);
  return new Promise((resolve, reject) => {
    fn(request, metadata, (error, response) => (error ? reject(error) : resolve(response as Res)));
  });
}

export type TaskManagerClient = {
  submitTask(request: Partial<SubmitTaskRequest>, metadata?: grpc.Metadata): Promise<SubmitTaskResponse>;
  getTask(taskId: string): Promise<Task>;
  getResult(taskId: string): Promise<TaskResult>;
  cancelTask(taskId: string): Promise<CancelTaskResponse>;
  streamStatus(request: StreamStatusRequest): grpc.ClientReadableStream<TaskStatusUpdate>;
  close(): void;
};

export function createTaskManagerClient(address: string, protoDir = 'proto'): TaskManagerClient {
  const Ctor = loadClientCtor(join(protoDir, PROTO_FILE), 'taskmanager.v1.TaskManager');
  const client = new Ctor(address, grpc.credentials.createInsecure());
  return {
    submitTask: (request, metadata) => call(client, 'SubmitTask', request, metadata),
    getTask: (taskId) => call(client, 'GetTask', { task_id: taskId }),
    getResult: (taskId) => call(client, 'GetResult', { task_id: taskId }),
    cancelTask: (taskId) => call(client, 'CancelTask', { task_id: taskId }),
    streamStatus: (request) =>
      (client as unknown as { StreamStatus(r: unknown): grpc.ClientReadableStream<TaskStatusUpdate> }).StreamStatus(request),
    close: () => client.close(),
  };
}

export type StreamOutcome = { updates: TaskStatusUpdate[]; error?: grpc.ServiceError; ended: boolean };

/** Reads a stream until it ends or fails. */
export function readStream(stream: grpc.ClientReadableStream<TaskStatusUpdate>): Promise<StreamOutcome> {
  const updates: TaskStatusUpdate[] = [];
  return new Promise((resolve) => {
    stream.on('data', (update: TaskStatusUpdate) => updates.push(update));
    stream.on('end', () => resolve({ updates, ended: true }));
    stream.on('error', (error: grpc.ServiceError) => resolve({ updates, error, ended: false }));
  });
}

/** Expects a unary call to fail; returns its error. */
export async function rejection(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export async function checkHealth(address: string, service = ''): Promise<string> {
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const client = new (loadClientCtor(protoPath, 'grpc.health.v1.Health'))(address, grpc.credentials.createInsecure());
  try {
    const response = await call<{ status: string }>(client, 'Check', { service });
    return response.status;
  } finally {
    client.close();
  }
}

export async function listServices(address: string, metadata?: grpc.Metadata): Promise<string[]> {
  const protoPath = join(dirname(require.resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
  const client = new (loadClientCtor(protoPath, 'grpc.reflection.v1.ServerReflection'))(address, grpc.credentials.createInsecure());
  type Response = { list_services_response?: { service: { name: string }[] } };
  try {
    const stream = (
      client as unknown as { ServerReflectionInfo(metadata?: grpc.Metadata): grpc.ClientDuplexStream<unknown, Response> }
    ).ServerReflectionInfo(metadata ?? new grpc.Metadata());
    const response = await new Promise<Response>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    return (response.list_services_response?.service ?? []).map((entry) => entry.name);
  } finally {
    client.close();
  }
}
