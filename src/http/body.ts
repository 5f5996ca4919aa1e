/** Reading a request body under a size limit, refusing early when possible. */
import type { ServerHttp2Stream } from 'node:http2';
import { KryptonError } from '../errors.js';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export function tooLarge(limit: number): KryptonError {
  return new KryptonError('FRAME_TOO_LARGE', `body exceeds ${limit} bytes`);
}

/** Refuses from the declared length before a byte is read. */
export function checkDeclaredLength(header: string | undefined, limit: number): void {
  if (header === undefined) return;
  const n = Number(header);
  if (!/^\d+$/.test(header) || !Number.isSafeInteger(n)) throw new KryptonError('BAD_REQUEST', 'bad content-length');
  if (n > limit) throw tooLarge(limit);
}

/**
 * Collects the body, failing with FRAME_TOO_LARGE as soon as it passes the
 * limit (a missing or lying content-length must not let it grow), and
 * stops reading at that point. With `wipe` (a secret body), every chunk
 * that is not itself the returned body is zeroed, on every path.
 */
export function readBody(stream: ServerHttp2Stream, limit: number, wipe = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
    };
    const drop = (): void => {
      if (wipe) for (const c of chunks) c.fill(0);
      chunks.length = 0;
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        stream.pause(); // stop consuming: flow control holds the sender back
        if (wipe) chunk.fill(0);
        drop();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      if (chunks.length === 1) {
        resolve(chunks[0]!);
        return;
      }
      const body = Buffer.concat(chunks, size);
      drop();
      resolve(body);
    };
    const onClose = (): void => {
      cleanup();
      drop();
      reject(new KryptonError('BAD_REQUEST', 'request closed before its body ended'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
  });
}
