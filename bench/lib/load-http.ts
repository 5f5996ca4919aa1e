/**
 * Load against an HTTP/1.1 JSON key endpoint (the node:http rival). HTTP/1.1
 * does not pipeline, so concurrency is the number of keep-alive sockets:
 * closed-loop runs one request per socket at a time; open-loop sends on the
 * schedule and lets the agent queue when every socket is busy (the queueing
 * counts as latency, timed from the scheduled send).
 */
import { Agent, request, type RequestOptions } from 'node:http';
import { performance } from 'node:perf_hooks';
import { buildReport, newHistogram, recordMs } from './load-report.js';
import type { LoadReport, LoadSpec } from './load-types.js';
import { runSchedule } from './pacer.js';

type Done = (ok: boolean, err?: string) => void;

function waitUntil(cond: () => boolean, maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  return new Promise((resolve) => {
    const check = () => (cond() || performance.now() >= deadline ? resolve() : setTimeout(check, 5));
    check();
  });
}

export async function runHttpLoad(spec: LoadSpec): Promise<LoadReport> {
  const u = new URL(spec.target.url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error('load only goes to 127.0.0.1');
  const agent = new Agent({
    keepAlive: true,
    maxSockets: spec.connections,
    maxFreeSockets: spec.connections,
    scheduling: 'fifo',
  });
  const body = Buffer.from(JSON.stringify(spec.params ?? { service: 'app' }));
  const opts: RequestOptions = {
    agent,
    host: u.hostname,
    port: Number(u.port || 80),
    path: u.pathname,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'content-length': body.length,
      ...(spec.target.token !== undefined ? { authorization: `Bearer ${spec.target.token}` } : {}),
    },
  };
  const issue = (done: Done) => {
    const req = request(opts, (res) => {
      const ok = res.statusCode === 200;
      res.resume(); // the body is not inspected: the status says whether a key was made
      res.on('end', () => done(ok, ok ? undefined : `HTTP ${res.statusCode}`));
      res.on('error', (e) => done(false, e.message));
    });
    req.on('error', (e) => done(false, e.message));
    req.end(body);
  };

  const h = newHistogram();
  let completed = 0;
  let errors = 0;
  let sent = 0;
  let firstError: string | undefined;
  let outstanding = 0;
  const tally = (ok: boolean, err: string | undefined) => {
    if (ok) completed++;
    else {
      errors++;
      firstError ??= err;
    }
  };

  let report: LoadReport;
  if (spec.mode === 'open') {
    const rate = spec.rate ?? 1000;
    const intervalMs = 1000 / rate;
    const warm = Math.floor((spec.warmupSec ?? 0) * rate);
    const total = warm + Math.ceil(spec.durationSec * rate);
    let answeredMeasured = 0;
    let firstSend = 0;
    let lastSend = 0;
    let lastReply = 0;
    const sendLag = newHistogram();
    const t0 = performance.now() + 20;
    const measureStart = t0 + warm * intervalMs;
    await new Promise<void>((resolve) =>
      runSchedule(
        total,
        intervalMs,
        t0,
        (i, due) => {
          const measured = i >= warm;
          if (measured) {
            sent++;
            lastSend = performance.now();
            if (i === warm) firstSend = lastSend;
            recordMs(sendLag, lastSend - due);
          }
          outstanding++;
          issue((ok, err) => {
            outstanding--;
            if (!measured) return;
            const now = performance.now();
            answeredMeasured++;
            lastReply = now;
            if (ok) recordMs(h, now - due);
            tally(ok, err);
          });
        },
        resolve,
      ),
    );
    await waitUntil(() => answeredMeasured >= total - warm, spec.drainMs ?? 2000);
    const end = Math.max(lastReply, lastSend);
    const sendSpanSec = (lastSend - firstSend + intervalMs) / 1000;
    report = buildReport(spec, h, {
      elapsedSec: end > measureStart ? (end - measureStart) / 1000 : spec.durationSec,
      sent,
      completed,
      errors,
      timeouts: Math.max(0, sent - completed - errors),
      sentRate: sendSpanSec > 0 ? sent / sendSpanSec : 0,
      sendLag,
      ...(firstError !== undefined ? { firstError } : {}),
    });
  } else {
    const t0 = performance.now();
    const measureStart = t0 + (spec.warmupSec ?? 0) * 1000;
    const measureEnd = measureStart + spec.durationSec * 1000;
    const loop = () => {
      const start = performance.now();
      if (start >= measureEnd) return;
      if (start >= measureStart) sent++;
      outstanding++;
      issue((ok, err) => {
        outstanding--;
        const now = performance.now();
        if (now >= measureStart && now <= measureEnd) {
          if (ok) recordMs(h, now - start);
          tally(ok, err);
        }
        // After an error, do not spin on a refusing server.
        if (ok) loop();
        else setTimeout(loop, 10);
      });
    };
    for (let c = 0; c < spec.connections; c++) loop();
    await new Promise((r) => setTimeout(r, measureEnd - performance.now()));
    await waitUntil(() => outstanding === 0, spec.drainMs ?? 2000);
    report = buildReport({ ...spec, inFlight: 1 }, h, {
      elapsedSec: spec.durationSec,
      sent,
      completed,
      errors,
      timeouts: outstanding,
      ...(firstError !== undefined ? { firstError } : {}),
    });
  }
  agent.destroy();
  return report;
}
