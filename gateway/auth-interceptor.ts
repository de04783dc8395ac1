// The access policy at the transport edge: a grpc-js server interceptor that answers
// UNAUTHENTICATED before any handler runs (so a refused call writes nothing), for every method
// except grpc.health.v1. Reflection needs a key too: it reveals only the public API, but an
// open endpoint invites scanning, and grpcurl sends its -H headers on reflection calls as well.
// The handlers derive the caller's tenant from the same metadata (server.ts).
import * as grpc from '@grpc/grpc-js';
import { UnauthenticatedError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { isOpenMethod, type Authenticator } from './auth';

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
              logger.debug({ rpc: method.path, reason: error.message }, 'call refused: unauthenticated');
              call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: error.message, metadata: new grpc.Metadata() });
              return;
            }
            pass(metadata);
          },
        });
      },
    });
}
