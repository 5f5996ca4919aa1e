import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve('dist/src/cli/main.js');

describe('krypton token (the built CLI)', () => {
  let cwd: string;
  const file = () => join(cwd, '.krypton', 'dev', 'tokens.json');

  const krypton = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--secure-heap=65536', MAIN, 'token', ...args], {
      cwd,
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.error !== undefined) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    expect(existsSync(MAIN), 'run `npm run build` first (npm test does it in pretest)').toBe(true);
    cwd = await mkdtemp(join(tmpdir(), 'krypton-token-cli-'));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('creates two tokens, lists them without any digest or token, revokes one, and refuses an unknown id', async () => {
    const one = krypton('create', '--tenant', 'demo');
    expect(one.status, one.stderr).toBe(0);
    const two = krypton('create', '--tenant', 'acme', '--services', 'billing,mail');
    expect(two.status, two.stderr).toBe(0);
    const tokens = [one.stdout.trim(), two.stdout.trim()];
    for (const t of tokens) expect(t).toMatch(/^kt_[A-Za-z0-9_-]{43}$/);
    expect((await stat(file())).mode & 0o777).toBe(0o600);

    const digests = (JSON.parse(await readFile(file(), 'utf8')) as { tokens: { id: string; sha256: string }[] }).tokens;
    expect(digests).toHaveLength(2);
    const [idOne, idTwo] = digests.map((r) => r.id) as [string, string];
    const secrets = [...tokens, ...digests.map((r) => r.sha256)];

    const listed = krypton('list');
    expect(listed.status, listed.stderr).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TENANT\s+SERVICES\s+CREATED\s+STATE$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^${idOne}\\s+demo\\s+\\*\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+active$`));
    expect(lines[2]).toMatch(new RegExp(`^${idTwo}\\s+acme\\s+billing,mail\\s+\\S+\\s+active$`));
    for (const s of secrets) expect(listed.stdout).not.toContain(s);
    expect(listed.stdout).not.toMatch(/sha256|kt_/);

    const revoked = krypton('revoke', idOne);
    expect(revoked.status, revoked.stderr).toBe(0);
    const after = krypton('list').stdout.trim().split('\n');
    expect(after[1]).toMatch(new RegExp(`^${idOne}\\s+demo\\s.*\\srevoked$`));
    expect(after[2]).toMatch(new RegExp(`^${idTwo}\\s.*\\sactive$`));

    const json = krypton('list', '--json');
    expect(json.status, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { id: string; state: string; revokedAt?: string }[];
    expect(parsed.map((t) => [t.id, t.state])).toEqual([
      [idOne, 'revoked'],
      [idTwo, 'active'],
    ]);
    expect(parsed[0].revokedAt).toEqual(expect.any(String));
    for (const s of secrets) expect(json.stdout).not.toContain(s);
    expect(json.stdout).not.toContain('sha256');

    const unknown = krypton('revoke', '0123456789ab');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr.trim()).toBe('error: no token 0123456789ab');
    const malformed = krypton('revoke', 'not-hex');
    expect(malformed.status).toBe(1);
    expect(malformed.stderr).toMatch(/^error: token id must be 12 hex characters/);
  });

  it('--file points every subcommand at another token file', async () => {
    const other = join(cwd, 'elsewhere', 'tokens.json');
    expect(krypton('create', '--tenant', 'demo', '--file', other).status).toBe(0);
    const [id] = (JSON.parse(await readFile(other, 'utf8')) as { tokens: { id: string }[] }).tokens.map((r) => r.id);
    expect(krypton('list', '--file', other).stdout).toContain(id);
    expect(krypton('revoke', id, '--file', other).status).toBe(0);
    expect(krypton('list', '--file', other, '--json').stdout).toContain('"revoked"');
    expect(krypton('list', '--file', join(cwd, 'none.json')).stdout.trim()).toBe(
      `no tokens in ${join(cwd, 'none.json')}`,
    );
  });

  it('the token command module loads no native addon (and so no uWS)', () => {
    const mod = resolve('dist/src/cli/token.js');
    const code = [
      "process.dlopen = (m, f) => { console.log('dlopen ' + f); process.exit(3); };",
      `const { registerTokenCommand } = await import(${JSON.stringify(mod)});`,
      'console.log(typeof registerTokenCommand);',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function');
    expect(r.status).toBe(0);
  });
});
