import { probeUws } from '../gateway/uws-binary.js';
import { arenaInfo, capabilities } from '../native/index.js';

/** What the native foundation reports about key-memory protection on this host. */
export function selfCheck(): { ok: boolean; lines: string[] } {
  const a = arenaInfo();
  const c = capabilities();
  const lines = [
    `key arena: ${a.size / 1024} KiB, ${a.locked ? 'locked (mlock)' : 'NOT LOCKED'}, ` +
      `${a.dontDump ? 'excluded from core dumps' : 'IN CORE DUMPS'}, ${a.wipeOnFork ? 'wiped on fork' : 'NOT wiped on fork'}, ` +
      `guard pages of ${a.guardBytes} bytes`,
    `AES block function: ${c.aesNi ? 'AES-NI, round keys in the locked arena' : 'OpenSSL fallback, round keys NOT locked'}`,
    // Informational (asked of a child process): the Core, the control plane and the CLI run without uWS.
    probeUws().line,
  ];
  return { ok: a.locked && a.dontDump && c.aesNi, lines };
}
