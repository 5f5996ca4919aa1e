/**
 * A throw-away SoftHSM2 for tests: its own token directory and config in a
 * temp dir (never the system's), SOFTHSM2_CONF set for this process before
 * any test loads the module. When SoftHSM2 is missing the suite FAILS with
 * the reason, unless KRYPTON_SKIP_SOFTHSM=1 says skipping is intended.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULE_CANDIDATES = [
  process.env.KRYPTON_SOFTHSM_MODULE,
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
].filter((p): p is string => typeof p === 'string' && p !== '');

export const modulePath = MODULE_CANDIDATES.find((p) => existsSync(p));
const util = spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' });
export const missing =
  modulePath === undefined || util.status !== 0
    ? 'SoftHSM2 is not installed (libsofthsm2.so or softhsm2-util not found): `apt-get install softhsm2`, ' +
      'or set KRYPTON_SKIP_SOFTHSM=1 to skip the pkcs11 L1 tests on purpose'
    : undefined;
export const skip = missing !== undefined && process.env.KRYPTON_SKIP_SOFTHSM === '1';

export const PIN = '1234-user';
export const SO_PIN = '5678-so';

export class SoftHsm {
  readonly dir: string;
  readonly conf: string;
  readonly module: string;

  constructor() {
    if (missing !== undefined || modulePath === undefined) throw new Error(missing);
    this.module = modulePath;
    this.dir = mkdtempSync(join(tmpdir(), 'krypton-softhsm-'));
    const tokens = join(this.dir, 'tokens');
    mkdirSync(tokens, { mode: 0o700 });
    this.conf = join(this.dir, 'softhsm2.conf');
    writeFileSync(this.conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    // Read by the library at C_Initialize: must be set before a provider opens.
    process.env.SOFTHSM2_CONF = this.conf;
  }

  #util(args: string[]): void {
    const r = spawnSync('softhsm2-util', args, { env: { ...process.env, SOFTHSM2_CONF: this.conf }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`softhsm2-util ${args[0]} failed: ${r.stderr || r.stdout}`);
  }

  initToken(label: string): void {
    this.#util(['--init-token', '--free', '--label', label, '--pin', PIN, '--so-pin', SO_PIN]);
  }

  deleteToken(label: string): void {
    this.#util(['--delete-token', '--token', label]);
  }

  /** A URI for `object` in token `label`, with the module path and (optionally) the PIN. */
  uri(label: string, object: string, { pin = true }: { pin?: boolean } = {}): string {
    const enc = encodeURIComponent;
    return `pkcs11:token=${enc(label)};object=${enc(object)};type=secret-key?module-path=${this.module}${pin ? `&pin-value=${enc(PIN)}` : ''}`;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
