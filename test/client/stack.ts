/**
 * The local stack for client tests (Core and Gateway processes from the
 * compiled CLI), a client on it, and the error-code helper the tests share.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { KryptonClient, KryptonError } from '@krypton/client';
import { spawnService, type Service } from '../../src/dev/spawn.js';
import { startDevStack, type DevStack } from '../../src/dev/stack.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The catalogue code a call is refused with (fails the test if it is not refused with a KryptonError). */
export async function refusedWith(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KryptonError);
  return (e as KryptonError).code;
}

/** A stack and a connected client for the whole test file, stopped afterwards. */
export function useStackClient(): { readonly stack: TestStack; readonly client: KryptonClient } {
  let stack: TestStack | undefined;
  let client: KryptonClient | undefined;
  beforeAll(async () => {
    stack = await startStack();
    client = await KryptonClient.connect({ url: stack.gatewayUrl, token: stack.token });
  });
  afterAll(async () => {
    await client?.close();
    await stack?.stop();
  });
  return {
    get stack() {
      return stack!;
    },
    get client() {
      return client!;
    },
  };
}

export interface TestStack extends DevStack {
  /**
   * Stops the running Gateway process and starts a new one with the same
   * config; returns its port. The port is a fresh one: see reconnect.test.ts
   * for why clients reach it through a proxy.
   */
  restartGateway(): Promise<number>;
  /** Rotates service `app`; returns the new ACTIVE version. */
  rotate(service?: string): Promise<number>;
}

export async function startStack(): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-client-'));
  const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
  const config = join(dir, 'gateway.json');
  let gateway: Service = stack.gateway;
  return {
    ...stack,
    get gateway() {
      return gateway;
    },
    restartGateway: async () => {
      await gateway.stop();
      gateway = await spawnService(['gateway', '--config', config], 'gateway.listening');
      return gateway.port;
    },
    rotate: async (service = 'app') => {
      const r = await stack.core
        .client('admin')
        .request<{ version: number }>('POST', `/v1/admin/tenants/demo/services/${service}/rotate`);
      return r.body.version;
    },
    stop: async () => {
      await gateway.stop();
      await stack.core.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
