import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, fromNative, KryptonError } from '../src/errors.js';
import { statusCode } from '../src/native/status.js';

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8');

function readmeErrorTable(): Map<string, number> {
  const section = readme.split('<!-- errors:start -->')[1]?.split('<!-- errors:end -->')[0] ?? '';
  const rows = new Map<string, number>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line);
    if (m) rows.set(m[1]!, Number(m[2]));
  }
  return rows;
}

describe('the error catalogue', () => {
  it('the README documents every code with its status, and no code that does not exist', () => {
    const documented = readmeErrorTable();
    const catalogue = new Map(Object.entries(ERROR_CATALOGUE).map(([k, v]) => [k, v.status]));
    expect(documented).toEqual(catalogue);
  });

  it('every native status maps to a catalogue code', () => {
    for (let s = 1; s <= 7; s++) expect(Object.hasOwn(ERROR_CATALOGUE, statusCode(s))).toBe(true);
    expect(statusCode(99)).toBe('INTERNAL');
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
