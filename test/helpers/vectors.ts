import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');

export function loadVectors<T>(relative: string): T {
  return JSON.parse(readFileSync(join(VECTORS, relative), 'utf8')) as T;
}

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');
