/**
 * The package as an app installs it (issue 11): its `exports` map gives the
 * same API to ESM `import` and CommonJS `require`, with type declarations
 * for both, and nothing in it or in what it requires is native code, so it
 * installs on macOS, Windows and arm64 as on Linux x86-64 (msgpackr's
 * optional accelerator aside: test/client/other-platforms.test.ts).
 * Runs against the built package (`npm run build`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | Record<string, Record<string, string>>>;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
  files: string[];
};
const API = [
  'ERROR_CATALOGUE',
  'KryptonClient',
  'KryptonConnectionError',
  'KryptonError',
  'decrypt',
  'encrypt',
  'isErrorCode',
];

/** What a fresh Node process sees of the package, loaded by its name from the package's own folder. */
function surface(kind: 'import' | 'require', specifier: string): string[] {
  const script =
    kind === 'import'
      ? `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort())))`
      : `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(specifier)})).filter((k) => k !== '__esModule').sort()))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' })) as string[];
}

describe('@krypton/client as a package', () => {
  it('ESM import and CommonJS require by name give the same API', () => {
    expect(surface('import', manifest.name)).toEqual(API);
    expect(surface('require', manifest.name)).toEqual(API);
  });

  it('the error catalogue and the wire codec are subpaths, the same in both formats', () => {
    for (const sub of ['errors', 'codec']) {
      const esm = surface('import', `${manifest.name}/${sub}`);
      expect(esm.length).toBeGreaterThan(0);
      expect(surface('require', `${manifest.name}/${sub}`)).toEqual(esm);
    }
  });

  it('a CommonJS app gets working classes: a KryptonError from require is an Error with its catalogue status', () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const { KryptonError } = require(${JSON.stringify(manifest.name)}); const e = new KryptonError('KEY_REVOKED'); console.log(JSON.stringify([e instanceof Error, e.code, e.status]))`,
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual([true, 'KEY_REVOKED', 410]);
  });

  it('every entry of the exports map points at a built file, with its type declarations', () => {
    const targets = Object.values(manifest.exports).flatMap((e) =>
      typeof e === 'string' ? [e] : Object.values(e).flatMap((c) => Object.values(c)),
    );
    expect(targets.length).toBeGreaterThan(8);
    for (const t of targets) expect(existsSync(join(ROOT, t)), t).toBe(true);
    expect(readFileSync(join(ROOT, 'dist/cjs/index.d.ts'), 'utf8')).toContain('KryptonClient');
  });

  it('has no native code: no install scripts, no .node or binding.gyp, and no required dependency that needs either', () => {
    expect(Object.keys(manifest.scripts).filter((s) => /^(pre|post)?install$/.test(s))).toEqual([]);
    const shipped = manifest.files.map((f) => join(ROOT, f));
    const walk = (p: string): string[] =>
      statSync(p).isDirectory() ? readdirSync(p).flatMap((n) => walk(join(p, n))) : [p];
    const files = shipped.filter(existsSync).flatMap(walk);
    expect(files.length).toBeGreaterThan(10);
    expect(files.filter((f) => /\.node$|binding\.gyp$/.test(f))).toEqual([]);

    // Every required (non-optional) dependency, transitively, installs without a build step.
    const require = createRequire(join(ROOT, 'package.json'));
    const seen = new Set<string>();
    const visit = (name: string, from: NodeJS.Require) => {
      if (seen.has(name)) return;
      seen.add(name);
      // Where Node would look for it (its package.json need not be exported).
      const path = (from.resolve.paths(name) ?? [])
        .map((d) => join(d, name, 'package.json'))
        .find((p) => existsSync(p));
      if (path === undefined) throw new Error(`${name} is not installed`);
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as {
        scripts?: Record<string, string>;
        dependencies?: Record<string, string>;
        gypfile?: boolean;
      };
      expect(
        Object.keys(pkg.scripts ?? {}).filter((s) => /^(pre|post)?install$/.test(s)),
        name,
      ).toEqual([]);
      expect(pkg.gypfile ?? false, name).toBe(false);
      for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, createRequire(path));
    };
    for (const dep of Object.keys(manifest.dependencies)) visit(dep, require);
    expect([...seen].sort()).toEqual(['msgpackr', 'ws']);
  });
});
