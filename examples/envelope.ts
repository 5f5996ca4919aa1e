/**
 * Envelope encryption with the Krypton client: encrypt a record under a
 * fresh data key, store the envelope, decrypt it later. Run against
 * `npm start` (the local stack) with:
 *
 *   npx tsc -p examples && node dist/examples/envelope.js
 *
 * KRYPTON_URL and KRYPTON_TOKEN override the local stack's defaults.
 * test/client/envelope.test.ts runs this file, so it cannot rot.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { KryptonClient, KryptonError } from '@krypton/client';

export async function run(url: string, token: string): Promise<string> {
  const client = await KryptonClient.connect({ url, token });
  try {
    // The context binds the envelope to its row: the same bytes are needed to open it.
    const context = Buffer.from('users/42/email');
    const envelope = await client.encrypt(Buffer.from('ada@example.com'), { service: 'app', context });
    // ... store `envelope` (a Buffer) in the row ...
    const email = await client.decrypt(envelope, { context });

    // Any other context, or any change to the envelope, is refused.
    try {
      await client.decrypt(envelope, { context: Buffer.from('users/43/email') });
    } catch (err) {
      if (!(err instanceof KryptonError && err.code === 'INVALID_BLOB')) throw err;
    }
    return email.toString('utf8');
  } finally {
    await client.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.env.KRYPTON_URL ?? 'ws://127.0.0.1:7070/v1/ws';
  const token = process.env.KRYPTON_TOKEN ?? readFileSync('.krypton/dev/token', 'utf8').trim();
  console.log(await run(url, token));
}
