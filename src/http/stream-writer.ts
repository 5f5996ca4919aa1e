/**
 * The writer a streaming route pushes frames through: NDJSON, or msgpack
 * frames behind a 4-byte length, honouring backpressure and noticing when
 * the client has gone.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { encodeFrame, MSGPACK_TYPE, NDJSON_TYPE, type BodyFormat } from './codec.js';
import type { StreamWriter } from './router.js';

export function openStreamWriter(
  stream: ServerHttp2Stream,
  format: BodyFormat,
  controller: AbortController,
): StreamWriter {
  stream.respond({ ':status': 200, 'content-type': format === 'msgpack' ? MSGPACK_TYPE : NDJSON_TYPE });
  const isClosed = (): boolean =>
    controller.signal.aborted || stream.destroyed || stream.closed || stream.writableEnded;
  return {
    get closed() {
      return isClosed();
    },
    signal: controller.signal,
    async send(frame: unknown): Promise<void> {
      if (isClosed()) return;
      if (stream.write(encodeFrame(frame, format))) return;
      // Wait for the peer to take more, or for the stream to go away.
      await new Promise<void>((resolve) => {
        const settle = (): void => {
          stream.off('drain', settle);
          controller.signal.removeEventListener('abort', settle);
          resolve();
        };
        stream.once('drain', settle);
        controller.signal.addEventListener('abort', settle, { once: true });
      });
    },
  };
}
