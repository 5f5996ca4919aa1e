/** What a load run is asked to do and what it reports (JSON across the process boundary). */

/** A system under test: a WebSocket frame endpoint or an HTTP key-create endpoint. */
export interface LoadTarget {
  name: string;
  kind: 'ws' | 'http';
  /** ws://127.0.0.1:port/v1/ws or http://127.0.0.1:port/v1/keys/create */
  url: string;
  /** Sent as `Authorization: Bearer <token>` (on the upgrade for ws). */
  token?: string;
}

export interface LoadSpec {
  target: LoadTarget;
  /** open: a fixed schedule at `rate`; closed: `inFlight` outstanding per connection. */
  mode: 'open' | 'closed';
  connections: number;
  durationSec: number;
  /** Run this long first and throw the numbers away (JIT, connection warm-up). */
  warmupSec?: number;
  /** open: requests per second across all connections. */
  rate?: number;
  /** closed: frames outstanding per connection. HTTP/1.1 cannot pipeline: always 1 there. */
  inFlight?: number;
  /** ws op, default 'key.create'. */
  op?: string;
  /** Request params, default {service: 'app'}; {count: 256} asks for 256 DEKs per request. */
  params?: Record<string, unknown>;
  /** ws only: K requests per array frame (1 = plain `[id, op, params]` frames). */
  perFrame?: number;
  /** After the run, how long to wait for replies still outstanding. */
  drainMs?: number;
}

export interface LatencySummary {
  /** Microseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

/** One point of a percentile curve: `nines` = -log10(1 - p/100), 0 at p0, 2 at p99. */
export interface CurvePoint {
  percentile: number;
  nines: number;
  us: number;
}

export interface LoadReport {
  spec: LoadSpec;
  /** Measured window (after warm-up), seconds. */
  elapsedSec: number;
  /** Requests sent / answered in the measured window. */
  sent: number;
  completed: number;
  /** Replies with status 1 or HTTP status >= 400, and transport errors. */
  errors: number;
  /** Sent but never answered by the end of the drain. */
  timeouts: number;
  /** Answered requests per second over the measured window. */
  opsPerSec: number;
  /** opsPerSec x params.count (DEKs per second). */
  deksPerSec: number;
  /** open only: the rate the schedule asked for and the rate sent. */
  targetRate?: number;
  sentRate?: number;
  latencyUs: LatencySummary;
  /**
   * open only: how late the generator itself sent (actual - scheduled), µs.
   * Already inside latencyUs; shown apart to tell a late generator (a busy
   * or descheduled VM) from a slow server.
   */
  sendLagUs?: LatencySummary;
  curve: CurvePoint[];
  /** HDR histogram (µs), compressed base64, to merge or redraw later. */
  histogram: string;
  firstError?: string;
}
