/**
 * Reaching an L1 key in a token: resolve the URI (module, token, object,
 * PIN), find the one matching slot, open a logged-in session and find the
 * one matching AES secret key. Shared by the provider and the admin helpers.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors, KryptonError } from '../../errors.js';
import { acquireModule, pkcs11js, releaseModule, safely, unavailable } from './pkcs11-module.js';
import type { Pkcs11Handle, SharedModule } from './pkcs11-module.js';
import { formatPkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';
import type { Pkcs11Uri } from './pkcs11-uri.js';

/** A URI checked for what a pkcs11 L1 needs; `ref` is it without the PIN. */
export interface L1Target {
  uri: Pkcs11Uri;
  ref: string;
  modulePath: string;
  object: string;
}

export function resolveTarget(uriText: string, objectOverride?: string): L1Target {
  const uri = parsePkcs11Uri(uriText);
  if (objectOverride !== undefined) uri.object = objectOverride;
  if (uri.modulePath === undefined) {
    // module-name would mean searching the system's library directories: refused, be explicit.
    throw errors.badRequest('pkcs11 URI: module-path is required');
  }
  if (uri.token === undefined && uri.serial === undefined) {
    throw errors.badRequest('pkcs11 URI: token or serial is required');
  }
  if (uri.object === undefined || uri.object === '') throw errors.badRequest('pkcs11 URI: object is required');
  if (uri.type !== undefined && uri.type !== 'secret-key') {
    throw errors.badRequest('pkcs11 URI: an L1 is a secret key (type=secret-key)');
  }
  // A vendor attribute could narrow the match in a way we cannot honour.
  if (Object.keys(uri.vendorPath).length > 0)
    throw errors.badRequest('pkcs11 URI: vendor path attributes are not supported');
  return { uri, ref: formatPkcs11Uri(uri), modulePath: uri.modulePath, object: uri.object };
}

/** The PIN: explicit option, then pin-value, then pin-source (a file: URI or absolute path). */
export function resolvePin(uri: Pkcs11Uri, pin?: string): string {
  if (pin !== undefined) return pin;
  if (uri.pinValue !== undefined) return uri.pinValue;
  if (uri.pinSource !== undefined) {
    const src = uri.pinSource;
    let path: string;
    if (/^file:/i.test(src)) {
      try {
        path = fileURLToPath(new URL(src));
      } catch {
        throw errors.badRequest('pkcs11 URI: pin-source is not a valid file URI');
      }
    } else if (isAbsolute(src)) {
      path = src;
    } else {
      throw errors.badRequest('pkcs11 URI: pin-source must be a file: URI or an absolute path');
    }
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw unavailable('cannot read the PIN source', err);
    }
  }
  throw errors.badRequest('pkcs11 L1 needs a PIN (option, pin-value or pin-source)');
}

const trimmed = (s: string) => s.replace(/[ \0]+$/, '');

function slotNumber(slot: Pkcs11Handle): bigint {
  // CK_SLOT_ID is a CK_ULONG, handed over as its native (little-endian) bytes.
  let n = 0n;
  for (let i = slot.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(slot[i] ?? 0);
  return n;
}

function findSlot(m: SharedModule, uri: Pkcs11Uri): Pkcs11Handle {
  const lib = m.lib;
  if (
    uri.libraryManufacturer !== undefined ||
    uri.libraryDescription !== undefined ||
    uri.libraryVersion !== undefined
  ) {
    const info = lib.C_GetInfo();
    const version = `${info.libraryVersion.major}.${info.libraryVersion.minor}`;
    if (
      (uri.libraryManufacturer !== undefined && trimmed(info.manufacturerID) !== uri.libraryManufacturer) ||
      (uri.libraryDescription !== undefined && trimmed(info.libraryDescription) !== uri.libraryDescription) ||
      (uri.libraryVersion !== undefined && !(version === uri.libraryVersion || `${uri.libraryVersion}.0` === version))
    ) {
      throw unavailable('the module does not match the URI');
    }
  }
  const matches = lib.C_GetSlotList(true).filter((slot) => {
    if (uri.slotId !== undefined && slotNumber(slot) !== BigInt(uri.slotId)) return false;
    if (uri.slotDescription !== undefined || uri.slotManufacturer !== undefined) {
      const s = lib.C_GetSlotInfo(slot);
      if (uri.slotDescription !== undefined && trimmed(s.slotDescription) !== uri.slotDescription) return false;
      if (uri.slotManufacturer !== undefined && trimmed(s.manufacturerID) !== uri.slotManufacturer) return false;
    }
    const t = lib.C_GetTokenInfo(slot);
    return (
      (uri.token === undefined || trimmed(t.label) === uri.token) &&
      (uri.manufacturer === undefined || trimmed(t.manufacturerID) === uri.manufacturer) &&
      (uri.model === undefined || trimmed(t.model) === uri.model) &&
      (uri.serial === undefined || trimmed(t.serialNumber) === uri.serial)
    );
  });
  if (matches.length === 0) throw unavailable('no token matches the URI');
  if (matches.length > 1) throw errors.badRequest('pkcs11 URI matches more than one token');
  return matches[0] as Pkcs11Handle;
}

/** A logged-in session on the L1's token. */
export class TokenSession {
  readonly module: SharedModule;
  readonly session: Pkcs11Handle;
  readonly #slotKey: string;
  #open = true;

  private constructor(module: SharedModule, slotKey: string, session: Pkcs11Handle) {
    this.module = module;
    this.#slotKey = slotKey;
    this.session = session;
  }

  static open(target: L1Target, pin: string, { readWrite = false } = {}): TokenSession {
    const m = acquireModule(target.modulePath);
    let session: Pkcs11Handle | undefined;
    let slotKey: string | undefined;
    let counted = false;
    try {
      let slot: Pkcs11Handle;
      try {
        slot = findSlot(m, target.uri);
        const flags = pkcs11js.CKF_SERIAL_SESSION | (readWrite ? pkcs11js.CKF_RW_SESSION : 0);
        session = m.lib.C_OpenSession(slot, flags);
      } catch (err) {
        if (err instanceof KryptonError) throw err; // already classified
        throw unavailable('cannot open a session on the token', err);
      }
      slotKey = slot.toString('hex');
      const tag = pinTag(pin);
      const login = m.slots.get(slotKey);
      if (login === undefined) {
        try {
          m.lib.C_Login(session, pkcs11js.CKU_USER, pin);
        } catch (err) {
          // ALREADY_LOGGED_IN here means someone outside this registry logged in: the PIN is unverifiable.
          throw unavailable('login to the token failed', err);
        }
        m.slots.set(slotKey, { sessions: 1, pinTag: tag });
      } else {
        if (!timingSafeEqual(login.pinTag, tag)) throw unavailable('login to the token failed');
        login.sessions++;
      }
      counted = true;
      return new TokenSession(m, slotKey, session);
    } catch (err) {
      if (session !== undefined) closeSession(m, counted ? slotKey : undefined, session);
      releaseModule(m);
      throw err;
    }
  }

  /** Handles of AES secret keys labelled `label` (and with CKA_ID `id` when given). */
  findKeys(label: string, id?: Buffer): Pkcs11Handle[] {
    const lib = this.module.lib;
    const template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_LABEL, value: label },
      ...(id === undefined ? [] : [{ type: pkcs11js.CKA_ID, value: id }]),
    ];
    try {
      lib.C_FindObjectsInit(this.session, template);
      try {
        return lib.C_FindObjects(this.session, 16);
      } finally {
        lib.C_FindObjectsFinal(this.session);
      }
    } catch (err) {
      throw unavailable('cannot search the token', err);
    }
  }

  /** The one key the target names; none: KEY_UNAVAILABLE; several: BAD_REQUEST. */
  findKey(target: L1Target): Pkcs11Handle {
    const keys = this.findKeys(target.object, target.uri.id);
    if (keys.length === 0) throw unavailable('the L1 key is not in the token');
    if (keys.length > 1) throw errors.badRequest('pkcs11 URI matches more than one key');
    return keys[0] as Pkcs11Handle;
  }

  /** Fails (KEY_UNAVAILABLE) when the session or token is gone. */
  ping(): void {
    if (!this.#open) throw unavailable('the L1 provider is closed');
    try {
      this.module.lib.C_GetSessionInfo(this.session);
    } catch (err) {
      throw unavailable('the token session is gone', err);
    }
  }

  get isOpen(): boolean {
    return this.#open;
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    closeSession(this.module, this.#slotKey, this.session);
    releaseModule(this.module);
  }
}

/** Closes a session; the last logged-in session of the token logs out first. */
function closeSession(m: SharedModule, slotKey: string | undefined, session: Pkcs11Handle): void {
  const login = slotKey === undefined ? undefined : m.slots.get(slotKey);
  if (slotKey !== undefined && login !== undefined) {
    login.sessions--;
    if (login.sessions <= 0) {
      m.slots.delete(slotKey);
      safely(() => m.lib.C_Logout(session));
    }
  }
  safely(() => m.lib.C_CloseSession(session));
}

// Keyed per process so the remembered digest says nothing about the PIN outside it.
const PIN_TAG_KEY = randomBytes(32);
function pinTag(pin: string): Buffer {
  return createHmac('sha256', PIN_TAG_KEY).update(pin, 'utf8').digest();
}
