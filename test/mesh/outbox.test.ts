import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeEvent, type EventType, type OrbitalEvent } from '../../src/mesh/events.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { meshDown, type Handler, type Mesh, type MeshStatus, type Subscription } from '../../src/mesh/mesh.js';
import { Outbox } from '../../src/mesh/outbox.js';
import { captureLogger, waitFor } from './helpers.js';

/** A mesh whose broker can be switched off: publish rejects while down. */
class SwitchableMesh implements Mesh {
  down = false;
  attempts = 0;
  constructor(readonly inner: MemoryBus) {}
  async publish(event: OrbitalEvent): Promise<void> {
    this.attempts++;
    if (this.down) throw meshDown();
    await this.inner.publish(event);
  }
  declare(consumer: string, types: readonly EventType[]): Promise<void> {
    return this.inner.declare(consumer, types);
  }
  subscribe(consumer: string, types: readonly EventType[], handler: Handler): Promise<Subscription> {
    return this.inner.subscribe(consumer, types, handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  status(): MeshStatus {
    return { ...this.inner.status(), connected: !this.down };
  }
}

const onboard = (tenant: string) => makeEvent('Tenant.Define', 'registry', { tenant, action: 'onboard' });

describe('Outbox', () => {
  let dir: string;
  let db: Database.Database;
  let bus: MemoryBus;
  let mesh: SwitchableMesh;
  let outbox: Outbox;
  let received: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krypton-outbox-'));
    db = new Database(join(dir, 'registry.db'));
    db.exec('CREATE TABLE tenants (tenant TEXT PRIMARY KEY)');
    const { logger } = captureLogger();
    bus = new MemoryBus({ logger });
    mesh = new SwitchableMesh(bus);
    outbox = new Outbox(db, { mesh, logger, initialDelayMs: 5, maxDelayMs: 20 });
    received = [];
    await bus.subscribe('cmk', ['Tenant.Define'], async (e) => {
      if (e.type === 'Tenant.Define') received.push(e.payload.tenant);
    });
  });

  afterEach(async () => {
    await outbox.stop();
    await mesh.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A Registry-style state change that emits its event through the outbox. */
  const onboardTenant = (tenant: string) =>
    outbox.transact((d) => {
      d.prepare('INSERT INTO tenants (tenant) VALUES (?)').run(tenant);
      return { result: tenant, events: [onboard(tenant)] };
    });

  it('writes the event in the same transaction as the state change', () => {
    expect(onboardTenant('t1')).toBe('t1');
    expect(db.prepare('SELECT count(*) AS n FROM tenants').get()).toEqual({ n: 1 });
    expect(outbox.rows()).toEqual([expect.objectContaining({ type: 'Tenant.Define', sentAt: null })]);
  });

  it('leaves no outbox row when the state change rolls back', () => {
    onboardTenant('t1');
    // The second insert of t1 violates the primary key: the whole transaction goes.
    expect(() => onboardTenant('t1')).toThrow(/UNIQUE/);
    expect(() =>
      outbox.transact(() => {
        outbox.enqueue(onboard('t2'));
        throw new Error('the change failed after the enqueue');
      }),
    ).toThrow(/change failed/);
    expect(outbox.rows()).toHaveLength(1);
    expect(db.prepare('SELECT tenant FROM tenants').all()).toEqual([{ tenant: 't1' }]);
  });

  it('keeps rows unsent while the broker is down, then delivers them in order, each marked sent once', async () => {
    mesh.down = true;
    for (const t of ['t1', 't2', 't3']) onboardTenant(t);
    const down = await outbox.flush();
    expect(down).toMatchObject({ sent: 0, pending: 3 });
    expect(down.error).toMatchObject({ code: 'INTERNAL' });
    expect(outbox.pending()).toBe(3);
    expect(outbox.rows().every((r) => r.sentAt === null)).toBe(true);

    mesh.down = false;
    expect(await outbox.flush()).toEqual({ sent: 3, pending: 0 });
    await bus.idle();
    expect(received).toEqual(['t1', 't2', 't3']);
    const sentAt = outbox.rows().map((r) => r.sentAt);
    expect(sentAt.every((t) => typeof t === 'number')).toBe(true);

    // A second flush finds nothing to send and changes no sent_at.
    expect(await outbox.flush()).toEqual({ sent: 0, pending: 0 });
    expect(outbox.rows().map((r) => r.sentAt)).toEqual(sentAt);
    await bus.idle();
    expect(received).toEqual(['t1', 't2', 't3']);
  });

  it('stops a pass at the first failed publish so that order is kept', async () => {
    for (const t of ['t1', 't2', 't3']) onboardTenant(t);
    let n = 0;
    const publish = mesh.publish.bind(mesh);
    mesh.publish = async (e) => {
      if (++n === 2) throw meshDown();
      return publish(e);
    };
    expect(await outbox.flush()).toMatchObject({ sent: 1, pending: 2 });
    expect(await outbox.flush()).toEqual({ sent: 2, pending: 0 });
    await bus.idle();
    expect(received).toEqual(['t1', 't2', 't3']);
  });

  it('the relay retries with backoff and sends when the broker returns', async () => {
    mesh.down = true;
    outbox.start();
    onboardTenant('t1');
    onboardTenant('t2');
    await waitFor(() => mesh.attempts >= 3, 2_000, 'relay retries');
    expect(outbox.pending()).toBe(2);
    mesh.down = false;
    await waitFor(() => outbox.pending() === 0, 2_000, 'relay to drain');
    await bus.idle();
    expect(received).toEqual(['t1', 't2']);
  });

  it('the relay sends right after a committed change when the broker is up', async () => {
    outbox.start();
    onboardTenant('t1');
    await waitFor(() => received.length === 1, 2_000, 'delivery');
    expect(outbox.pending()).toBe(0);
  });

  it('survives a restart: rows written before are sent by a new outbox on the same file', async () => {
    mesh.down = true;
    onboardTenant('t1');
    db.close();
    db = new Database(join(dir, 'registry.db'));
    mesh.down = false;
    outbox = new Outbox(db, { mesh, logger: captureLogger().logger });
    expect(await outbox.flush()).toEqual({ sent: 1, pending: 0 });
    await bus.idle();
    expect(received).toEqual(['t1']);
  });

  it('prunes rows sent before a given time', async () => {
    onboardTenant('t1');
    await outbox.flush();
    onboardTenant('t2');
    expect(outbox.prune(Date.now() + 1)).toBe(1);
    expect(outbox.rows().map((r) => r.sentAt)).toEqual([null]);
  });
});
