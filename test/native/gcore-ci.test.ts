/**
 * The memory proofs need gcore and gdb. Under CI=true a missing tool must
 * fail the build, not skip the proofs (a green build that proved nothing);
 * elsewhere the suites may skip, saying why. This runs the suites in a
 * nested vitest with the tools hidden (KRYPTON_TEST_HIDE_TOOLS, honoured by
 * test/helpers/core-dump.ts) and checks both outcomes.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, toolRequiredMessage } from '../helpers/core-dump.js';

const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const SUITES = ['test/native/memory.test.ts', 'test/core/core-memory.test.ts', 'test/security/memory-hygiene.test.ts'];

function runWithoutTools(ci: boolean): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VITEST') && k !== 'CI' && k !== 'NODE_OPTIONS') env[k] = v;
  }
  env.KRYPTON_TEST_HIDE_TOOLS = 'gcore,gdb';
  env.NO_COLOR = '1';
  if (ci) env.CI = 'true';
  const r = spawnSync(process.execPath, [VITEST, 'run', '--reporter=verbose', ...SUITES], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe('gcore and gdb under CI', () => {
  it('with CI=true and gcore/gdb missing, every memory-proof suite fails with the install hint', () => {
    const r = runWithoutTools(true);
    expect(r.status, r.output).not.toBe(0);
    expect(r.output).toContain(toolRequiredMessage('gcore'));
    expect(r.output).toContain(toolRequiredMessage('gdb'));
    // Every suite that needs a tool fails (memory.test.ts's gcore and gdb suites, core-memory's,
    // memory-hygiene's two), and nothing else does.
    const failed = r.output.split('\n').filter((l) => /^\s*×/.test(l));
    expect(failed.length, r.output).toBeGreaterThanOrEqual(5);
    expect(
      failed.filter((l) => !/needs (gcore|gdb)/.test(l)),
      r.output,
    ).toEqual([]);
  });

  it('outside CI the same suites skip, naming the missing tool in their titles', () => {
    const r = runWithoutTools(false);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(
      'core dumps of a process holding a marker key (gcore NOT INSTALLED: apt-get install gdb)',
    );
    expect(r.output).toContain('guard pages fault on access (gdb NOT INSTALLED: apt-get install gdb)');
    expect(r.output).toContain('a running Core in a core dump (gcore NOT INSTALLED: apt-get install gdb)');
    expect(r.output).toContain(
      'idle bulk workers and XAES subkeys (review L3) (gcore NOT INSTALLED: apt-get install gdb)',
    );
    expect(r.output).toContain('data keys the Gateway served (review L5) (gcore NOT INSTALLED: apt-get install gdb)');
    expect(r.output).not.toContain(toolRequiredMessage('gcore'));
  });
});
