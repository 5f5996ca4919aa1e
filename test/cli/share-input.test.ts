import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decodeShareLine, readShares, sharesFromLines } from '../../src/cli/share-input.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('unseal shares from stdin (M5): bytes in, bytes out, no strings', () => {
  it('decodes base64 lines, with or without padding, blanks or the `share N:` label of `core init`', () => {
    for (let n = 1; n <= 40; n++) {
      const b = randomBytes(n);
      const b64 = b.toString('base64');
      expect(decodeShareLine(Buffer.from(b64))).toEqual(b);
      expect(decodeShareLine(Buffer.from(`  ${b64.replace(/=+$/, '')}\r`))).toEqual(b);
      expect(decodeShareLine(Buffer.from(`share 3: ${b64}`))).toEqual(b);
    }
  });

  it('refuses what is not base64, naming the line and never its content', () => {
    for (const bad of ['abc$', 'a', 'ab cd', '-_-_', 'share 1:']) expect(decodeShareLine(Buffer.from(bad))).toBeNull();
    const secret = randomBytes(33).toString('base64');
    let err: unknown;
    try {
      sharesFromLines(Buffer.from(`${secret}\nnot base64!\n`));
    } catch (e) {
      err = e;
    }
    expect(err).toEqual(code('BAD_REQUEST'));
    expect(String((err as Error).message)).toBe('line 2 is not a base64 share');
  });

  it('reads every non-empty line of a piped stdin as one share, and at least one', async () => {
    const shares = [randomBytes(33), randomBytes(33)];
    const input = Readable.from([
      Buffer.from(`${shares[0].toString('base64')}\n\n`),
      Buffer.from(`share 2: ${shares[1].toString('base64')}\n`),
    ]);
    expect(await readShares(input as unknown as NodeJS.ReadStream)).toEqual(shares);
    await expect(readShares(Readable.from([Buffer.from('\n \n')]) as unknown as NodeJS.ReadStream)).rejects.toThrow(
      code('BAD_REQUEST'),
    );
  });
});
