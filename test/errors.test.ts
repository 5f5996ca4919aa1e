import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, fromNative, KryptonError, type ErrorCode } from '../src/errors.js';
import { view } from '../src/native/addon.js';
import { openBlob } from '../src/native/blob.js';
import { statusCode, statusError } from '../src/native/status.js';

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8');

function readmeErrorTable(): Map<string, number> {
  const section = readme.split('<!-- errors:start -->')[1]?.split('<!-- errors:end -->')[0] ?? '';
  const rows = new Map<string, number>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line);
    if (m) rows.set(m[1], Number(m[2]));
  }
  return rows;
}

describe('the error catalogue', () => {
  it('the README documents every code with its status, and no code that does not exist', () => {
    const documented = readmeErrorTable();
    const catalogue = new Map(Object.entries(ERROR_CATALOGUE).map(([k, v]) => [k, v.status]));
    expect(documented).toEqual(catalogue);
  });

  it('each native status (native/status.h) becomes its own catalogue code, as the addon names it', () => {
    // The contract of native/status.h, one code per status: a change on either side of the boundary fails here.
    const expected = [
      'INVALID_BLOB',
      'KEY_REVOKED',
      'KEY_UNAVAILABLE',
      'BAD_REQUEST',
      'INTERNAL',
      'ARENA_EXHAUSTED',
      'INVALID_LEASE',
    ];
    expect([1, 2, 3, 4, 5, 6, 7].map(statusCode)).toEqual(expected);
    expect(view<{ STATUS_CODES: string[] }>().STATUS_CODES).toEqual(['OK', ...expected]);
    for (let s = 1; s <= 7; s++)
      expect(statusError(s)).toMatchObject({
        code: expected[s - 1],
        status: ERROR_CATALOGUE[expected[s - 1] as ErrorCode].status,
      });
    // Anything else is INTERNAL, never a guess.
    expect([0, 8, 99, -1].map(statusCode)).toEqual(['INTERNAL', 'INTERNAL', 'INTERNAL', 'INTERNAL']);
  });

  it('a real refusal of the addon arrives with its status code', () => {
    let err: unknown;
    try {
      openBlob('t-errors', Buffer.alloc(120, 7));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KryptonError);
    expect(err).toMatchObject({ code: 'INVALID_BLOB', status: 400 });
  });

  it('errors from the addon become KryptonErrors; unknown errors become INTERNAL without their message', () => {
    const native = Object.assign(new Error('invalid blob'), { code: 'INVALID_BLOB' });
    expect(fromNative(native)).toMatchObject({ code: 'INVALID_BLOB', status: 400 });
    const weird = fromNative(new Error('secret detail'));
    expect(weird).toBeInstanceOf(KryptonError);
    expect(weird.code).toBe('INTERNAL');
    expect(weird.message).not.toContain('secret');
  });
});
