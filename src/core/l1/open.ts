/** Opens an L1 by what the KSI stored about it: its kind and ref. */
import { errors } from '../../errors.js';
import { Pkcs11L1Provider } from './pkcs11.js';
import type { L1Kind, L1Provider, OpenL1Options } from './provider.js';
import { SoftL1Provider } from './soft.js';

export async function openL1Provider(kind: L1Kind, ref: string, opts: OpenL1Options = {}): Promise<L1Provider> {
  if (typeof ref !== 'string' || ref === '') throw errors.badRequest('L1 ref must be a non-empty string');
  switch (kind) {
    case 'soft':
      return SoftL1Provider.open(ref);
    case 'pkcs11':
      return Pkcs11L1Provider.open(ref, opts);
    default:
      throw errors.badRequest('unknown L1 kind');
  }
}
