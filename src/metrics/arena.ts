/**
 * The locked key arena as metrics, on the Core and the Gateway alike: its
 * size (KRYPTON_ARENA_BYTES) and the bytes in use. Running out is
 * ARENA_EXHAUSTED for every tenant, so `used / size` is worth an alert.
 */
import { arenaInfo } from '../native/index.js';
import type { Registry } from './registry.js';

export function addArenaMetrics(metrics: Registry): void {
  metrics
    .gauge('krypton_arena_bytes', 'Size of the locked key arena (KRYPTON_ARENA_BYTES)')
    .set(() => arenaInfo().size);
  metrics
    .gauge('krypton_arena_used_bytes', 'Bytes of the locked key arena in use (keys, round keys, scratch)')
    .set(() => arenaInfo().used);
}
