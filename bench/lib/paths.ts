/**
 * Where the compiled bench files live. Child processes (servers, the load
 * generator) always run compiled JS from dist/bench, also when the caller is
 * a vitest test importing the .ts sources.
 */
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // <root>/bench/lib or <root>/dist/bench/lib
const inDist = here.split(sep).includes('dist');
export const ROOT = inDist ? join(here, '..', '..', '..') : join(here, '..', '..');

/** Absolute path of a compiled file under dist/bench, e.g. distBench('servers/echo-uws.js'). */
export function distBench(rel: string): string {
  return join(ROOT, 'dist', 'bench', rel);
}

export const RESULTS_DIR = join(ROOT, 'bench', 'results');
