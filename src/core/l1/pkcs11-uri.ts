/**
 * RFC 7512 PKCS #11 URIs: parsing and printing. The parser is strict
 * because the URI selects a root of trust: an attribute we did not
 * understand could have been meant to narrow the match, so unknown
 * standard attributes, duplicates and malformed escapes are BAD_REQUEST
 * rather than ignored. Vendor attributes (`x-...`) are kept for the caller
 * to accept or refuse.
 */
import { errors } from '../../errors.js';

export type Pkcs11ObjectType = 'public' | 'private' | 'cert' | 'secret-key' | 'data';

export interface Pkcs11Uri {
  // Path attributes (identify library, slot, token, object).
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  libraryManufacturer?: string;
  libraryDescription?: string;
  libraryVersion?: string;
  slotDescription?: string;
  slotManufacturer?: string;
  slotId?: number;
  object?: string;
  type?: Pkcs11ObjectType;
  /** CKA_ID: raw bytes, percent-encoded in the URI. */
  id?: Buffer;
  // Query attributes (how to access).
  pinValue?: string;
  pinSource?: string;
  moduleName?: string;
  modulePath?: string;
  /** Vendor-specific attributes (`x-` prefix), path and query, decoded. */
  vendorPath: Record<string, string>;
  vendorQuery: Record<string, string>;
}

const PATH_ATTRS = {
  token: 'token',
  manufacturer: 'manufacturer',
  serial: 'serial',
  model: 'model',
  'library-manufacturer': 'libraryManufacturer',
  'library-description': 'libraryDescription',
  'library-version': 'libraryVersion',
  'slot-description': 'slotDescription',
  'slot-manufacturer': 'slotManufacturer',
  'slot-id': 'slotId',
  object: 'object',
  type: 'type',
  id: 'id',
} as const;

const QUERY_ATTRS = {
  'pin-value': 'pinValue',
  'pin-source': 'pinSource',
  'module-name': 'moduleName',
  'module-path': 'modulePath',
} as const;

const TYPES: readonly Pkcs11ObjectType[] = ['public', 'private', 'cert', 'secret-key', 'data'];

// RFC 7512 section 2.3: characters allowed unescaped in attribute values ("%" starts an escape).
const UNRESERVED = 'A-Za-z0-9\\-._~';
const PATH_CHARS = new RegExp(`^[${UNRESERVED}:\\[\\]@!$'()*+,=&%]*$`);
const QUERY_CHARS = new RegExp(`^[${UNRESERVED}:\\[\\]@!$'()*+,;/?%]*$`);
const VENDOR_NAME = /^x-[A-Za-z0-9\-._]+$/;
const LIBRARY_VERSION = /^\d+(\.\d+)?$/;

/** Percent-decodes into bytes; a "%" not followed by two hex digits is refused. */
export function percentDecodeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw errors.badRequest('pkcs11 URI: malformed percent-encoding');
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      // Only ASCII survives the character-class checks, so one char is one byte.
      out.push(c);
    }
  }
  return Buffer.from(out);
}

/** Percent-decodes into a UTF-8 string (RFC 7512 text attributes are UTF-8). */
function percentDecodeText(s: string): string {
  const bytes = percentDecodeBytes(s);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw errors.badRequest('pkcs11 URI: an attribute is not valid UTF-8');
  }
}

function splitAttr(part: string, where: string): [string, string] {
  const eq = part.indexOf('=');
  if (eq <= 0) throw errors.badRequest(`pkcs11 URI: malformed ${where} attribute`);
  return [part.slice(0, eq).toLowerCase(), part.slice(eq + 1)];
}

function assignPath(uri: Pkcs11Uri, name: string, raw: string): void {
  if (VENDOR_NAME.test(name)) {
    if (Object.hasOwn(uri.vendorPath, name)) throw errors.badRequest(`pkcs11 URI: duplicate attribute ${name}`);
    uri.vendorPath[name] = percentDecodeText(raw);
    return;
  }
  if (!Object.hasOwn(PATH_ATTRS, name)) throw errors.badRequest(`pkcs11 URI: unknown path attribute ${name}`);
  const key = PATH_ATTRS[name as keyof typeof PATH_ATTRS];
  if (uri[key] !== undefined) throw errors.badRequest(`pkcs11 URI: duplicate attribute ${name}`);
  switch (key) {
    case 'id':
      uri.id = percentDecodeBytes(raw);
      return;
    case 'type': {
      const t = percentDecodeText(raw);
      if (!(TYPES as readonly string[]).includes(t)) throw errors.badRequest('pkcs11 URI: unknown object type');
      uri.type = t as Pkcs11ObjectType;
      return;
    }
    case 'slotId': {
      const v = percentDecodeText(raw);
      if (!/^\d{1,15}$/.test(v)) throw errors.badRequest('pkcs11 URI: slot-id must be a decimal number');
      uri.slotId = Number(v);
      return;
    }
    case 'libraryVersion': {
      const v = percentDecodeText(raw);
      if (!LIBRARY_VERSION.test(v)) throw errors.badRequest('pkcs11 URI: library-version must be M or M.N');
      uri.libraryVersion = v;
      return;
    }
    default:
      uri[key] = percentDecodeText(raw);
  }
}

function assignQuery(uri: Pkcs11Uri, name: string, raw: string): void {
  if (VENDOR_NAME.test(name)) {
    if (Object.hasOwn(uri.vendorQuery, name)) throw errors.badRequest(`pkcs11 URI: duplicate attribute ${name}`);
    uri.vendorQuery[name] = percentDecodeText(raw);
    return;
  }
  if (!Object.hasOwn(QUERY_ATTRS, name)) throw errors.badRequest(`pkcs11 URI: unknown query attribute ${name}`);
  const key = QUERY_ATTRS[name as keyof typeof QUERY_ATTRS];
  if (uri[key] !== undefined) throw errors.badRequest(`pkcs11 URI: duplicate attribute ${name}`);
  uri[key] = percentDecodeText(raw);
}

/** Parses an RFC 7512 URI. Never echoes attribute values in errors: one may be a PIN. */
export function parsePkcs11Uri(input: string): Pkcs11Uri {
  if (typeof input !== 'string' || !/^pkcs11:/i.test(input)) {
    throw errors.badRequest('pkcs11 URI must start with "pkcs11:"');
  }
  const body = input.slice('pkcs11:'.length);
  if (body.includes('#')) throw errors.badRequest('pkcs11 URI: fragments are not allowed');
  const q = body.indexOf('?');
  const path = q < 0 ? body : body.slice(0, q);
  const query = q < 0 ? '' : body.slice(q + 1);
  const uri: Pkcs11Uri = { vendorPath: {}, vendorQuery: {} };
  if (path !== '') {
    for (const part of path.split(';')) {
      const [name, raw] = splitAttr(part, 'path');
      if (!PATH_CHARS.test(raw)) throw errors.badRequest('pkcs11 URI: invalid character in path');
      assignPath(uri, name, raw);
    }
  }
  if (q >= 0 && query !== '') {
    for (const part of query.split('&')) {
      const [name, raw] = splitAttr(part, 'query');
      if (!QUERY_CHARS.test(raw)) throw errors.badRequest('pkcs11 URI: invalid character in query');
      assignQuery(uri, name, raw);
    }
  }
  if (uri.pinValue !== undefined && uri.pinSource !== undefined) {
    throw errors.badRequest('pkcs11 URI: pin-value and pin-source are mutually exclusive');
  }
  return uri;
}

// Printing: escape everything outside the unreserved set, plus the
// delimiters of the component, so the output always parses back the same.
function encode(bytes: Buffer, keep: RegExp): string {
  let out = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && keep.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
// "&" is read in paths (some writers leave it bare) but always printed escaped.
const PATH_KEEP = /^[A-Za-z0-9\-._~:[\]@!$'()*+,=]$/;
const QUERY_KEEP = /^[A-Za-z0-9\-._~:[\]@!$'()*+,;/?]$/;
const encPath = (s: string) => encode(Buffer.from(s, 'utf8'), PATH_KEEP);
const encQuery = (s: string) => encode(Buffer.from(s, 'utf8'), QUERY_KEEP);

/**
 * Prints a URI in a canonical order. `withPin: false` (the default) drops
 * pin-value, so the result can be stored (the KSI ref) and logged.
 */
export function formatPkcs11Uri(uri: Pkcs11Uri, { withPin = false }: { withPin?: boolean } = {}): string {
  const path: string[] = [];
  for (const [name, key] of Object.entries(PATH_ATTRS)) {
    const v = uri[key];
    if (v === undefined) continue;
    if (key === 'id')
      path.push(`id=${encode(v as Buffer, /^$/)}`); // ids are binary: always escaped
    else path.push(`${name}=${encPath(String(v))}`);
  }
  for (const [name, v] of Object.entries(uri.vendorPath)) path.push(`${name}=${encPath(v)}`);
  const query: string[] = [];
  for (const [name, key] of Object.entries(QUERY_ATTRS)) {
    const v = uri[key];
    if (v === undefined || (key === 'pinValue' && !withPin)) continue;
    query.push(`${name}=${encQuery(v)}`);
  }
  for (const [name, v] of Object.entries(uri.vendorQuery)) query.push(`${name}=${encQuery(v)}`);
  return `pkcs11:${path.join(';')}${query.length > 0 ? `?${query.join('&')}` : ''}`;
}
