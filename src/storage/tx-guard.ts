import { AsyncLocalStorage } from 'node:async_hooks';
import { errors } from '../errors.js';
import type { TxState } from './sql-base.js';

/**
 * Detects a `tx` started from inside another `tx` of the same store. With
 * the store's mutex it would wait for itself forever; failing loudly
 * instead turns a silent hang into a bug report.
 */
const current = new AsyncLocalStorage<{ owner: object; state: TxState }>();

export function assertNotNested(owner: object): void {
  const outer = current.getStore();
  if (outer && outer.owner === owner && outer.state.active) {
    throw errors.internal('storage: a KSI transaction was started inside another one (use the tx it was given)');
  }
}

export function runInTx<T>(owner: object, state: TxState, fn: () => Promise<T>): Promise<T> {
  return current.run({ owner, state }, fn);
}
