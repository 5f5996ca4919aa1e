import { describe, expect, it } from 'vitest';
import { runTransportComparison } from '../../bench/gateway-compare.js';
import { requireBuilt } from './fixtures.js';

describe('transport comparison', () => {
  it('runs closed and open loads against the echo and node:http servers and stops them', async () => {
    requireBuilt();
    const r = await runTransportComparison({
      durationSec: 0.3,
      warmupSec: 0,
      openRate: 200,
      httpConnections: 4,
      scenarios: ['closed', 'closed-array', 'open'],
    });
    expect(r.results.map((x) => `${x.scenario}:${x.target}`)).toEqual([
      'closed:uws-echo',
      'closed:node-http',
      'closed-array:uws-echo',
      'closed-array:node-http',
      'open:uws-echo',
      'open:node-http',
    ]);
    for (const x of r.results) {
      if (x.scenario === 'closed-array' && x.kind === 'http') expect(x.skipped).toBeDefined();
      else {
        expect(x.error).toBeUndefined();
        expect(x.report!.completed).toBeGreaterThan(0);
        expect(x.report!.errors).toBe(0);
      }
    }
  });
});
