/**
 * vitest's asymmetric matchers, typed `unknown` instead of `any`: they go
 * inside the values a test expects (`toMatchObject({ reason:
 * stringMatching(/x/) })`) without letting an `any` in there. The same
 * matchers: each returns vitest's own.
 */
import { expect } from 'vitest';

export const stringMatching = (expected: string | RegExp): unknown => expect.stringMatching(expected);
export const stringContaining = (expected: string): unknown => expect.stringContaining(expected);
export const objectContaining = (expected: Record<string, unknown>): unknown => expect.objectContaining(expected);
export const arrayContaining = (expected: unknown[]): unknown => expect.arrayContaining(expected);
/** Any value made by `type`: `anyOf(String)` is any string. */
export const anyOf = (type: unknown): unknown => expect.any(type);
