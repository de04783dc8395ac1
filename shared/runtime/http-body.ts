// Reads a request body into one Buffer, with a size limit and the content-encodings HTTP clients
// use (what express.raw did, without its dependencies): identity, gzip, deflate, br and, where
// node has it, zstd. The limit counts the decoded bytes, so a small compressed body cannot
// inflate into a large one. Refusals carry the status the request has earned: 413 over the
// limit, 415 for an encoding we cannot undo, 400 for a corrupt encoding or an aborted upload.
// The rest of a refused body is read and dropped before the refusal settles, so the answer
// reaches a client that is still sending and the connection stays usable.
import type { IncomingMessage } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { RequestError, toRequestErrorResponse } from './error-response';
import type { RouteRequest, RouteResponse } from './http-router';


function createDecoder(encoding: string): Transform | undefined {
  // Loaded on the first compressed body, not on every cold start (sources send identity).
  const zlib = process.getBuiltinModule('node:zlib');
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return 'createZstdDecompress' in zlib ? (zlib as unknown as { createZstdDecompress(): Transform }).createZstdDecompress() : undefined;
    default:
      return undefined;
  }
}

function tooLarge(limitBytes: number): RequestError {
  return new RequestError(413, `request body too large: more than ${limitBytes} bytes`);
}

export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let decoder: Transform | undefined;
    let source: Readable = req;

    const fail = (error: RequestError) => {
      if (settled) return;
      settled = true;
      source.removeListener('data', onData);
      if (decoder) {
        req.unpipe(decoder);
        decoder.on('error', () => undefined);
        decoder.destroy();
      }
      if (req.readableEnded || req.destroyed) {
        reject(error);
        return;
      }
      // Drop the rest of the upload, then answer.
      req.once('end', () => reject(error));
      req.once('close', () => reject(error));
      req.resume();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) fail(tooLarge(limitBytes));
      else chunks.push(chunk);
    };

    req.once('error', (error) => fail(new RequestError(400, `request aborted: ${error.message}`, { cause: error })));
    req.once('close', () => {
      if (!req.complete) fail(new RequestError(400, 'request aborted before its body was complete'));
    });

    if (encoding !== 'identity') {
      decoder = createDecoder(encoding);
      if (!decoder) {
        fail(new RequestError(415, `unsupported content encoding "${encoding}"`));
        return;
      }
      decoder.once('error', (error) => fail(new RequestError(400, `cannot decode the ${encoding} body: ${error.message}`, { cause: error })));
      req.pipe(decoder);
      source = decoder;
    } else {
      const declared = Number(req.headers['content-length']);
      if (declared > limitBytes) {
        fail(tooLarge(limitBytes));
        return;
      }
    }
    source.on('data', onData);
    source.once('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  });
}

/**
 * The request's body, or undefined once the request has been answered with why it could not be
 * read (oversized 413, an encoding we cannot undo 415, corrupt 400, aborted): its own status, not
 * 500, which a caller would retry.
 */
export async function readBodyOrRefuse(req: RouteRequest, res: RouteResponse, limitBytes: number): Promise<Buffer | undefined> {
  try {
    return await readBody(req.raw, limitBytes);
  } catch (error) {
    const response = toRequestErrorResponse(error);
    res.status(response.status).json({ error: response.code, message: response.message });
    return undefined;
  }
}
