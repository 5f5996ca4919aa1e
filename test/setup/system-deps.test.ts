/**
 * The README's promise: on a machine where scripts/test-deps.sh has run (as
 * `npm test` does by itself as root), nothing the tests need is missing, so
 * no test skips for want of it.
 */
import { describe, expect, it } from 'vitest';
import { missingSystemDeps } from './system-deps.js';

describe('the system the tests need', () => {
  it('has every tool and service scripts/test-deps.sh provides', async () => {
    expect(await missingSystemDeps()).toEqual([]);
  });
});
