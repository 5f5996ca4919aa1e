/**
 * The one loader of the native addon. Each module of src/native declares
 * the narrow, typed view of the exports it wraps; nothing else imports the
 * .node file. Loading throws (loudly, with the reason) when key memory
 * cannot be locked or AES-NI is missing, unless a development flag allows it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BINARY = join('build', 'Release', 'krypton.node');

function findBinary(): string {
  // src/native (tests) and dist/src/native (built) sit at different depths.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, BINARY);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`krypton: native addon not found (${BINARY}); run \`npm install\` or \`npm run build:native\``);
}

const require = createRequire(import.meta.url);

/** The raw exports. Typed views are declared next to their wrappers. */
export const addon = require(findBinary()) as Record<string, unknown>;

/** A typed view of the raw exports. */
export function view<T>(): T {
  return addon as unknown as T;
}
