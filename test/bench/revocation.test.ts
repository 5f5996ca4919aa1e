import { describe, expect, it } from 'vitest';
import { runRevocationBench } from '../../bench/revocation.js';

describe('revocation bench', () => {
  it('skips, not fails, when the broker does not answer', async () => {
    const r = await runRevocationBench({ url: 'amqp://guest:guest@127.0.0.1:1', trials: 1 });
    expect(r.skipped).toMatch(/^RabbitMQ not reachable at amqp:\/\/127\.0\.0\.1:1 /);
    expect(r.samples).toBeUndefined();
  });

  it.skipIf(process.env['KRYPTON_SKIP_AMQP'] === '1')(
    'sees every revocation refused with KEY_REVOKED and every relink served again (RabbitMQ, Core and Gateway processes)',
    async () => {
      const r = await runRevocationBench({ url: process.env['KRYPTON_TEST_AMQP_URL'], trials: 3 });
      expect(r.skipped).toBeUndefined();
      expect(r.incomplete).toBeUndefined();
      expect(r.samples).toHaveLength(3);
      for (const t of r.samples!) {
        // A refusal came (probeUntil returns only on KEY_REVOKED), then a success after the relink.
        expect(Number.isFinite(t.revokedMs)).toBe(true);
        expect(t.probesUntilRefused).toBeGreaterThanOrEqual(1);
        expect(Number.isFinite(t.relinkMs)).toBe(true);
        expect(t.probesUntilServing).toBeGreaterThanOrEqual(1);
        expect(Number.isFinite(t.revokeConfirmMs)).toBe(true);
      }
      expect(r.revokeToRefusedMs!.count).toBe(3);
      expect(r.relinkToServingMs!.count).toBe(3);
    },
    120_000,
  );
});
