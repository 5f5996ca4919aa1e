/**
 * Drift repair (a Core's manifest lacks what an authority defined) sends
 * the definition again. A Core that cannot apply it yet (a tenant onboarded
 * but not linked, a link for a tenant not onboarded) would otherwise get
 * the same repair with every manifest, once a minute, for ever. So a repair
 * of one subject goes to one Core at most once per period; what revokes or
 * purges is never held back.
 */
import type { OrbitalTx } from '../storage/orbital/orbital-tx.js';

export const REPAIR_EVERY_MS = 10 * 60_000;

/** True (and recorded) when this repair may go to this Core now. */
export async function repairDue(
  tx: OrbitalTx,
  core: string,
  subject: string,
  now: number,
  everyMs = REPAIR_EVERY_MS,
): Promise<boolean> {
  const name = `repair:${core}:${subject}`;
  const last = await tx.getMark(name);
  if (last !== null && now - last < everyMs) return false;
  await tx.putMark(name, now);
  return true;
}
