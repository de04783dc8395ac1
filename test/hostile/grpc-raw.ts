// Test-only gRPC clients below the usual generated stubs: `createRawSubmitter` sends SubmitTask
// requests as bytes the test encoded itself (through grpc-js, so framing is correct and only
// the message is hostile); `rawGrpcCall` opens an HTTP/2 stream with node:http2 and writes any
// bytes at all as the request body, to see what the transport does with broken framing.
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { PROTO_FILE, PROTO_LOADER_OPTIONS, SERVICE_NAME, type SubmitTaskResponse } from '../../gateway/proto';

export type CallOutcome =
  | { ok: true; response: SubmitTaskResponse }
  | { ok: false; code: grpc.status; details: string };

export type RawSubmitter = {
  submit(message: Uint8Array): Promise<CallOutcome>;
  close(): void;
};

export const SUBMIT_PATH = `/${SERVICE_NAME}/SubmitTask`;

export function createRawSubmitter(address: string, protoDir = 'proto'): RawSubmitter {
  const definition = loadSync(join(protoDir, PROTO_FILE), PROTO_LOADER_OPTIONS);
  const method = (definition[SERVICE_NAME] as ServiceDefinition).SubmitTask!;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
  });
  return {
    submit(message) {
      return new Promise((resolve) => {
        client.makeUnaryRequest(
          method.path,
          (bytes: Uint8Array) => Buffer.from(bytes),
          (bytes: Buffer) => method.responseDeserialize(bytes) as SubmitTaskResponse,
          message,
          { deadline: Date.now() + 30_000 },
          (error, response) => {
            if (error) resolve({ ok: false, code: error.code, details: error.details });
            else resolve({ ok: true, response: response! });
          },
        );
      });
    },
    close: () => client.close(),
  };
}

export type RawOutcome = {
  /** grpc-status from the trailers (or headers, for a trailers-only answer); undefined if none came. */
  grpcStatus: number | undefined;
  grpcMessage: string;
  /** The HTTP/2 stream was reset or the session failed instead of a gRPC status. */
  streamError: string | undefined;
  httpStatus: number | undefined;
};

export type RawCallOptions = {
  path?: string;
  headers?: Record<string, string>;
  /** Close our side after the body (default true); false leaves the request open. */
  end?: boolean;
  /** Give up waiting for an answer after this long (the stream is then cancelled). */
  timeoutMs?: number;
};

export function openSession(address: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${address}`);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** One gRPC-over-HTTP/2 request whose body is exactly `body`, on an open session. */
export function rawGrpcCall(session: ClientHttp2Session, body: Uint8Array, options: RawCallOptions = {}): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const outcome: RawOutcome = { grpcStatus: undefined, grpcMessage: '', streamError: undefined, httpStatus: undefined };
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: options.path ?? SUBMIT_PATH,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      ...options.headers,
    });
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      resolve(outcome);
    };
    // The status is the answer: once it is there, our half of the stream (maybe still open) goes.
    const read = (headers: Record<string, unknown>) => {
      if (typeof headers['grpc-message'] === 'string') outcome.grpcMessage = decodeURIComponent(headers['grpc-message']);
      if (headers['grpc-status'] === undefined) return;
      outcome.grpcStatus = Number(headers['grpc-status']);
      finish();
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    };
    stream.on('response', (headers) => {
      outcome.httpStatus = Number(headers[constants.HTTP2_HEADER_STATUS]);
      read(headers);
    });
    stream.on('trailers', read);
    stream.on('data', () => undefined);
    stream.on('error', (error) => {
      outcome.streamError = error.message;
    });
    stream.on('close', finish);
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        outcome.streamError = `no answer within ${options.timeoutMs} ms`;
        stream.close(constants.NGHTTP2_CANCEL);
      }, options.timeoutMs);
    }
    if (options.end === false) stream.write(body);
    else stream.end(body);
  });
}
