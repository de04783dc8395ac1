// One error type for every failure a caller sees, carrying the gRPC status code name (stable,
// switchable) and the server's message, so callers never have to import @grpc/grpc-js.
import { status as GrpcStatus } from '@grpc/grpc-js';

const CODE_NAMES = new Map<number, string>(
  Object.entries(GrpcStatus)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => [value as number, name]),
);

export function toCodeName(code: number): string {
  return CODE_NAMES.get(code) ?? `CODE_${code}`;
}

export class TaskManagerClientError extends Error {
  override readonly name = 'TaskManagerClientError';
  /** The gRPC status code name: 'NOT_FOUND', 'INVALID_ARGUMENT', 'UNAVAILABLE', ... */
  readonly code: string;
  readonly grpcCode: number;
  /** The server's message (or the client's, for requests it refuses to send). */
  readonly details: string;

  constructor(grpcCode: number, details: string, options?: { cause?: unknown }) {
    const code = toCodeName(grpcCode);
    super(`${code}: ${details}`, options);
    this.code = code;
    this.grpcCode = grpcCode;
    this.details = details;
  }
}

type GrpcLikeError = { code?: unknown; details?: unknown; message?: unknown };

/** Any error from a call → TaskManagerClientError (a non-gRPC error counts as UNKNOWN). */
export function toClientError(error: unknown): TaskManagerClientError {
  if (error instanceof TaskManagerClientError) return error;
  const candidate = (error ?? {}) as GrpcLikeError;
  const grpcCode = typeof candidate.code === 'number' ? candidate.code : GrpcStatus.UNKNOWN;
  const details =
    typeof candidate.details === 'string' && candidate.details !== ''
      ? candidate.details
      : typeof candidate.message === 'string'
        ? candidate.message
        : String(error);
  return new TaskManagerClientError(grpcCode, details, { cause: error });
}

export function invalidArgument(details: string): TaskManagerClientError {
  return new TaskManagerClientError(GrpcStatus.INVALID_ARGUMENT, details);
}
