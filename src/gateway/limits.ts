/**
 * The Gateway's limits (docs/design.md section 9), filled with defaults and
 * checked once, at start. Frames and bodies over `maxFrameBytes` are
 * FRAME_TOO_LARGE; deeper or larger structures, and frames naming more than
 * `maxScopesPerFrame` services, are BAD_REQUEST; requests past
 * `maxInflightPerConnection` are OVERLOADED.
 */
import { errors } from '../errors.js';

export interface GatewayLimits {
  maxFrameBytes: number;
  maxDepth: number;
  maxElements: number;
  maxInflightPerConnection: number;
  maxConnections: number;
  idleTimeoutSeconds: number;
  maxBackpressureBytes: number;
  /** Distinct services one frame may name, in creates and blob headers together. */
  maxScopesPerFrame: number;
  /** Lease fetches one connection may have waiting on the Core at once. */
  maxLeaseFetchesPerConnection: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxFrameBytes: 64 * 1024,
  maxDepth: 8,
  maxElements: 20_000,
  maxInflightPerConnection: 1024,
  maxConnections: 10_000,
  idleTimeoutSeconds: 120,
  maxBackpressureBytes: 1024 * 1024,
  maxScopesPerFrame: 32,
  maxLeaseFetchesPerConnection: 8,
};

const RANGES: Record<keyof GatewayLimits, [min: number, max: number]> = {
  maxFrameBytes: [1024, 16 * 1024 * 1024],
  maxDepth: [2, 64],
  maxElements: [16, 1_000_000],
  maxInflightPerConnection: [1, 1_000_000],
  maxConnections: [1, 1_000_000],
  idleTimeoutSeconds: [8, 3600],
  maxBackpressureBytes: [64 * 1024, 1024 * 1024 * 1024],
  maxScopesPerFrame: [1, 4096],
  maxLeaseFetchesPerConnection: [1, 1024],
};

/** The defaults with `given` over them; an unknown key or an out-of-range value is refused with its name. */
export function resolveLimits(given: Partial<Record<string, unknown>> = {}): GatewayLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    const range = RANGES[k as keyof GatewayLimits];
    if (range === undefined) throw errors.badRequest(`gateway limits: unknown limit ${k}`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
      throw errors.badRequest(`gateway limits: ${k} must be an integer from ${range[0]} to ${range[1]}`);
    }
    out[k as keyof GatewayLimits] = v;
  }
  return out;
}
