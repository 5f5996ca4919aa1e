import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { makeEvent, type EventType, type OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { meshDown, type Handler, type Mesh, type MeshStatus, type Subscription } from '../../src/mesh/mesh.js';
import { Outbox } from '../../src/mesh/outbox.js';
import type { SqliteStore } from '../../src/storage/sqlite.js';
import { captureLogger, waitFor } from './helpers.js';
import { testKeyring } from './keyring.js';
import { openTenantStore, type TenantTx } from './tenant-store.js';

const keys = testKeyring();
afterAll(() => keys.destroy());

/** A mesh whose broker can be switched off: publish rejects while down. */
class SwitchableMesh implements Mesh {
  down = false;
  attempts = 0;
  constructor(readonly inner: Mesh) {}
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
  let db: SqliteStore<TenantTx>;
  let bus: MemoryBus;
  let mesh: SwitchableMesh;
  let outbox: Outbox<TenantTx>;
  let received: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krypton-outbox-'));
    db = await openTenantStore(join(dir, 'registry.db'));
    const { logger } = captureLogger();
    bus = new MemoryBus({ logger });
    mesh = new SwitchableMesh(keys.on(bus, 'registry'));
    outbox = new Outbox(db, { mesh, logger, initialDelayMs: 5, maxDelayMs: 20 });
    received = [];
    await keys.on(bus, 'cmk').subscribe('cmk', ['Tenant.Define'], async (e) => {
      if (e.type === 'Tenant.Define') received.push(e.payload.tenant);
    });
  });

  afterEach(async () => {
    await outbox.stop();
    await mesh.close();
    await bus.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A Registry-style state change that emits its event through the outbox. */
  const onboardTenant = (tenant: string) =>
    outbox.transact(async (tx) => {
      await tx.insertTenant(tenant);
      return { result: tenant, events: [onboard(tenant)] };
    });

  it('writes the event in the same transaction as the state change', async () => {
    expect(await onboardTenant('t1')).toBe('t1');
    expect(await db.read((tx) => tx.listTenants())).toEqual(['t1']);
    expect(await outbox.rows()).toEqual([expect.objectContaining({ type: 'Tenant.Define', sentAt: null })]);
  });

  it('leaves no outbox row when the state change rolls back', async () => {
    await onboardTenant('t1');
    // The second insert of t1 violates the primary key: the whole transaction goes.
    await expect(onboardTenant('t1')).rejects.toThrow(/UNIQUE/);
    await expect(
      outbox.transact(async (tx) => {
        await outbox.enqueue(tx, onboard('t2'));
        throw new Error('the change failed after the enqueue');
      }),
    ).rejects.toThrow(/change failed/);
    expect(await outbox.rows()).toHaveLength(1);
    expect(await db.read((tx) => tx.listTenants())).toEqual(['t1']);
  });

  it('keeps rows unsent while the broker is down, then delivers them in order, each marked sent once', async () => {
    mesh.down = true;
    for (const t of ['t1', 't2', 't3']) await onboardTenant(t);
    const down = await outbox.flush();
    expect(down).toMatchObject({ sent: 0, pending: 3 });
    expect(down.error).toMatchObject({ code: 'INTERNAL' });
    expect(await outbox.pending()).toBe(3);
    expect((await outbox.rows()).every((r) => r.sentAt === null)).toBe(true);

    mesh.down = false;
    expect(await outbox.flush()).toEqual({ sent: 3, pending: 0 });
    await bus.idle();
    expect(received).toEqual(['t1', 't2', 't3']);
    const sentAt = (await outbox.rows()).map((r) => r.sentAt);
    expect(sentAt.every((t) => typeof t === 'number')).toBe(true);

    // A second flush finds nothing to send and changes no sent_at.
    expect(await outbox.flush()).toEqual({ sent: 0, pending: 0 });
    expect((await outbox.rows()).map((r) => r.sentAt)).toEqual(sentAt);
    await bus.idle();
    expect(received).toEqual(['t1', 't2', 't3']);
  });

  it('stops a pass at the first failed publish so that order is kept', async () => {
    for (const t of ['t1', 't2', 't3']) await onboardTenant(t);
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
    await onboardTenant('t1');
    await onboardTenant('t2');
    await waitFor(() => mesh.attempts >= 3, 2_000, 'relay retries');
    expect(await outbox.pending()).toBe(2);
    mesh.down = false;
    await waitFor(async () => (await outbox.pending()) === 0, 2_000, 'relay to drain');
    await bus.idle();
    expect(received).toEqual(['t1', 't2']);
  });

  it('the relay sends right after a committed change when the broker is up', async () => {
    outbox.start();
    await onboardTenant('t1');
    await waitFor(() => received.length === 1, 2_000, 'delivery');
    expect(await outbox.pending()).toBe(0);
  });

  it('survives a restart: rows written before are sent by a new outbox on the same file', async () => {
    mesh.down = true;
    await onboardTenant('t1');
    await db.close();
    db = await openTenantStore(join(dir, 'registry.db'));
    mesh.down = false;
    outbox = new Outbox(db, { mesh, logger: captureLogger().logger });
    expect(await outbox.flush()).toEqual({ sent: 1, pending: 0 });
    await bus.idle();
    expect(received).toEqual(['t1']);
  });

  it('prunes rows sent before a given time', async () => {
    await onboardTenant('t1');
    await outbox.flush();
    await onboardTenant('t2');
    expect(await outbox.prune(Date.now() + 1)).toBe(1);
    expect((await outbox.rows()).map((r) => r.sentAt)).toEqual([null]);
  });
});
