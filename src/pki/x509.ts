/**
 * The one way this project loads @peculiar/x509: after the Reflect shim it
 * needs, and with Node's WebCrypto as its provider.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
