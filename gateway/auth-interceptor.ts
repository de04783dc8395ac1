// The access policy at the transport edge: a grpc-js server interceptor that answers
// UNAUTHENTICATED before any handler runs (so a refused call writes nothing), for every method
// except grpc.health.v1. Reflection needs a key too: it reveals only the public API, but an
// open endpoint invites scanning, and grpcurl sends its -H headers on reflection calls as well.
// The handlers derive the caller's tenant from the same metadata (server.ts).
import * as grpc from '@grpc/grpc-js';
import { UnauthenticatedError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { ApiKeyRefusedError, isOpenMethod, type Authenticator } from './auth';

export const AUTHORIZATION_METADATA = 'authorization';

export function createAuthInterceptor(auth: Authenticator, logger: Logger): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (!auth.enabled || isOpenMethod(method.path)) {
              pass(metadata);
              return;
            }
            try {
              auth.authenticate(metadata.get(AUTHORIZATION_METADATA));
            } catch (error) {
              if (!(error instanceof UnauthenticatedError)) throw error;
              // warn: a stream of these is someone guessing keys, or a client left with a revoked
              // one. The peer says who; the reason says what was wrong; the key is never logged.
              const reason = error instanceof ApiKeyRefusedError ? error.reason : error.message;
              logger.warn({ rpc: method.path, peer: call.getPeer(), reason }, 'call refused: unauthenticated');
              call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: error.message, metadata: new grpc.Metadata() });
              return;
            }
            pass(metadata);
          },
        });
      },
    });
}
