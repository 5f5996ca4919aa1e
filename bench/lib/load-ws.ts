/**
 * Load over the Gateway's WebSocket frame protocol, in the load-generator
 * process. Frames are pre-encoded once; each send patches the ids in place
 * and the client copies (masks) the bytes at once, so nothing is encoded or
 * allocated per request. Replies are matched by the first id read from the
 * bytes: frame i carries ids i*K .. i*K+K-1.
 */
import { performance } from 'node:perf_hooks';
import { forEachReply, makeFrameTemplate, patchIds, type FrameTemplate } from './msgpack-frames.js';
import { buildReport, newHistogram, recordMs, type Histogram } from './load-report.js';
import type { LoadReport, LoadSpec } from './load-types.js';
import { runSchedule } from './pacer.js';
import { LeanWsClient } from './ws-client.js';

/** Largest open-loop schedule we keep per-frame timestamps for (8 bytes each). */
const MAX_FRAMES = 20_000_000;

// Written by the visitor while one reply frame is read (no closure per frame).
let firstId = -1;
let badReplies = 0;
function visit(id: number, status: number): void {
  if (firstId < 0) firstId = id;
  if (status !== 0) badReplies++;
}

interface Shared {
  spec: LoadSpec;
  K: number;
  tpl: FrameTemplate;
  h: Histogram;
  completed: number;
  errors: number;
  firstError: string | undefined;
}

function noteError(s: Shared, message: string): void {
  s.errors++;
  s.firstError ??= message;
}

/** Reads one reply frame; returns [frame index, replies] or null when unreadable. */
function readFrame(s: Shared, buf: Buffer): number {
  firstId = -1;
  badReplies = 0;
  let n: number;
  try {
    n = forEachReply(buf, visit);
  } catch (err) {
    noteError(s, (err as Error).message);
    return -1;
  }
  if (n !== s.K || firstId < 0) {
    noteError(s, `reply frame has ${n} replies, expected ${s.K}`);
    return -1;
  }
  return Math.floor(firstId / s.K);
}

async function connectAll(
  spec: LoadSpec,
  onMessage: (conn: number, buf: Buffer) => void,
  s: Shared,
): Promise<LeanWsClient[]> {
  const headers: Record<string, string> =
    spec.target.token !== undefined ? { authorization: `Bearer ${spec.target.token}` } : {};
  return Promise.all(
    Array.from({ length: spec.connections }, (_, c) =>
      LeanWsClient.connect({
        url: spec.target.url,
        headers,
        onMessage: (buf) => onMessage(c, buf),
        onClose: (err) => {
          if (err !== undefined) noteError(s, `connection ${c}: ${err.message}`);
        },
      }),
    ),
  );
}

function waitUntil(cond: () => boolean, maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  return new Promise((resolve) => {
    const check = () => (cond() || performance.now() >= deadline ? resolve() : setTimeout(check, 5));
    check();
  });
}

export async function runWsLoad(spec: LoadSpec): Promise<LoadReport> {
  const K = Math.max(1, spec.perFrame ?? 1);
  const s: Shared = {
    spec,
    K,
    tpl: makeFrameTemplate(spec.op ?? 'key.create', spec.params ?? { service: 'app' }, K, K > 1),
    h: newHistogram(),
    completed: 0,
    errors: 0,
    firstError: undefined,
  };
  return spec.mode === 'open' ? openLoop(s) : closedLoop(s);
}

async function openLoop(s: Shared): Promise<LoadReport> {
  const { spec, K, tpl } = s;
  const rate = spec.rate ?? 1000;
  const frameRate = rate / K;
  const intervalMs = 1000 / frameRate;
  const warmFrames = Math.floor((spec.warmupSec ?? 0) * frameRate);
  const total = warmFrames + Math.ceil(spec.durationSec * frameRate);
  if (total > MAX_FRAMES || total * K > 0xffffffff)
    throw new Error(`open-loop schedule of ${total} frames is too long`);
  const due = new Float64Array(total);
  const answered = new Uint8Array(total);
  let sentFrames = 0; // frames sent so far (any phase)
  let sent = 0; // measured requests sent
  let answeredMeasured = 0;
  let firstSend = 0;
  let lastSend = 0;
  let lastReply = 0;
  const sendLag = newHistogram();

  const conns = await connectAll(
    spec,
    (_c, buf) => {
      const now = performance.now();
      const f = readFrame(s, buf);
      if (f < 0) return;
      if (f >= sentFrames || answered[f] === 1) return noteError(s, `unexpected reply id ${firstId}`);
      answered[f] = 1;
      if (f < warmFrames) return;
      answeredMeasured++;
      lastReply = now;
      recordMs(s.h, now - due[f]!, K);
      s.completed += K - badReplies;
      s.errors += badReplies;
    },
    s,
  );

  const t0 = performance.now() + 20;
  const measureStart = t0 + warmFrames * intervalMs;
  await new Promise<void>((resolve) =>
    runSchedule(
      total,
      intervalMs,
      t0,
      (i, dueMs) => {
        const conn = conns[i % conns.length]!;
        due[i] = dueMs;
        sentFrames = i + 1;
        if (i >= warmFrames) {
          sent += K;
          lastSend = performance.now();
          if (i === warmFrames) firstSend = lastSend;
          recordMs(sendLag, lastSend - dueMs, K);
        }
        if (!conn.isOpen) return noteError(s, 'connection closed during the run');
        patchIds(tpl, i * K);
        conn.send(tpl.buf);
      },
      resolve,
    ),
  );
  const measuredFrames = total - warmFrames;
  await waitUntil(() => answeredMeasured >= measuredFrames, spec.drainMs ?? 2000);
  for (const c of conns) c.close();
  const elapsedSec =
    Math.max(lastReply, lastSend) > measureStart
      ? (Math.max(lastReply, lastSend) - measureStart) / 1000
      : spec.durationSec;
  const sendSpanSec = (lastSend - firstSend + intervalMs) / 1000;
  return buildReport(spec, s.h, {
    elapsedSec,
    sent,
    completed: s.completed,
    errors: s.errors,
    timeouts: Math.max(0, sent - s.completed - s.errors),
    sentRate: sendSpanSec > 0 ? sent / sendSpanSec : 0,
    sendLag,
    ...(s.firstError !== undefined ? { firstError: s.firstError } : {}),
  });
}

async function closedLoop(s: Shared): Promise<LoadReport> {
  const { spec, K, tpl } = s;
  const P = Math.max(1, spec.inFlight ?? 1);
  const slots = spec.connections * P;
  if (slots * K > 0xffffffff) throw new Error('too many requests in flight');
  // Slot s is always on connection floor(s / P) and always carries ids s*K..;
  // a slot has at most one frame in flight, so its ids are unambiguous.
  const sendTime = new Float64Array(slots);
  const inFlight = new Uint8Array(slots);
  let outstanding = 0;
  let running = true;
  let sent = 0;
  let measureStart = Infinity;
  let measureEnd = Infinity;
  let conns: LeanWsClient[] = [];

  const sendSlot = (slot: number, now: number) => {
    const conn = conns[Math.floor(slot / P)]!;
    if (!conn.isOpen) return;
    patchIds(tpl, slot * K);
    sendTime[slot] = now;
    inFlight[slot] = 1;
    outstanding++;
    if (now >= measureStart) sent += K;
    conn.send(tpl.buf);
  };

  conns = await connectAll(
    spec,
    (_c, buf) => {
      const now = performance.now();
      const slot = readFrame(s, buf);
      if (slot < 0) return;
      if (slot >= slots || inFlight[slot] !== 1) return noteError(s, `unexpected reply id ${firstId}`);
      inFlight[slot] = 0;
      outstanding--;
      if (now >= measureStart && now <= measureEnd) {
        recordMs(s.h, now - sendTime[slot]!, K);
        s.completed += K - badReplies;
        s.errors += badReplies;
      }
      if (running && now < measureEnd) sendSlot(slot, now);
    },
    s,
  );

  const t0 = performance.now();
  measureStart = t0 + (spec.warmupSec ?? 0) * 1000;
  measureEnd = measureStart + spec.durationSec * 1000;
  for (let slot = 0; slot < slots; slot++) sendSlot(slot, t0);
  await new Promise((r) => setTimeout(r, measureEnd - performance.now()));
  running = false;
  await waitUntil(() => outstanding === 0, spec.drainMs ?? 2000);
  for (const c of conns) c.close();
  return buildReport(spec, s.h, {
    elapsedSec: spec.durationSec,
    sent,
    completed: s.completed,
    errors: s.errors,
    // Replies to frames sent in the window that arrived after it are not late: only the unanswered count.
    timeouts: outstanding * K,
    ...(s.firstError !== undefined ? { firstError: s.firstError } : {}),
  });
}
