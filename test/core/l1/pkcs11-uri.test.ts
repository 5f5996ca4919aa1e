import { describe, expect, it } from 'vitest';
import { formatPkcs11Uri, parsePkcs11Uri, percentDecodeBytes } from '../../../src/core/l1/pkcs11-uri.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('RFC 7512 URI parser: the RFC section 3 examples', () => {
  it('pkcs11: alone matches everything', () => {
    expect(parsePkcs11Uri('pkcs11:')).toEqual({ vendorPath: {}, vendorQuery: {} });
  });

  it('object and type', () => {
    const u = parsePkcs11Uri('pkcs11:object=my-pubkey;type=public');
    expect(u.object).toBe('my-pubkey');
    expect(u.type).toBe('public');
  });

  it('token, manufacturer, percent-encoded id and a pin-value', () => {
    const u = parsePkcs11Uri(
      'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin',
    );
    expect(u.token).toBe('The Software PKCS#11 Softtoken');
    expect(u.manufacturer).toBe('Snake Oil, Inc.');
    expect(u.model).toBe('1.0');
    expect(u.type).toBe('cert');
    expect(u.id).toEqual(Buffer.from([0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91]));
    expect(u.serial).toBe('');
    expect(u.pinSource).toBe('file:/etc/token_pin');
  });

  it('module-name, module-path, pin-value', () => {
    expect(parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-name=mypkcs11').moduleName).toBe('mypkcs11');
    expect(parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1').modulePath).toBe(
      '/mnt/libmypkcs11.so.1',
    );
    const u = parsePkcs11Uri(
      'pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin',
    );
    expect(u.pinValue).toBe('the-pin');
  });

  it('slot and library attributes', () => {
    expect(parsePkcs11Uri('pkcs11:slot-description=Sun%20Metaslot').slotDescription).toBe('Sun Metaslot');
    const u = parsePkcs11Uri(
      'pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23',
    );
    expect(u.libraryManufacturer).toBe('Snake Oil, Inc.');
    expect(u.libraryDescription).toBe('Soft Token Library');
    expect(u.libraryVersion).toBe('1.23');
    expect(parsePkcs11Uri('pkcs11:slot-manufacturer=Snake%20Oil,%20Inc.;slot-id=692').slotId).toBe(692);
  });

  it('percent-encoded delimiters and UTF-8', () => {
    expect(
      parsePkcs11Uri('pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert').token,
    ).toBe('A name with a substring %;');
    expect(
      parsePkcs11Uri('pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate').token,
    ).toBe('Name with a small A with acute: \u00e1');
  });

  it('vendor attributes in path and query', () => {
    const u = parsePkcs11Uri(
      'pkcs11:token=my-token;object=my-certificate;type=cert;x-vend-aaa=value-a?pin-source=file:/etc/token_pin&x-vend-bbb=value-b',
    );
    expect(u.vendorPath).toEqual({ 'x-vend-aaa': 'value-a' });
    expect(u.vendorQuery).toEqual({ 'x-vend-bbb': 'value-b' });
  });

  it('the scheme and attribute names are case-insensitive, hex digits either case', () => {
    const u = parsePkcs11Uri('PKCS11:Object=a%2fb%2Fc');
    expect(u.object).toBe('a/b/c');
  });
});

describe('RFC 7512 URI parser: refusals (BAD_REQUEST)', () => {
  const bad = [
    'pkcs12:object=x',
    'object=x',
    'pkcs11:object=x;object=y', // duplicate
    'pkcs11:unknown=x', // unknown standard attribute could narrow the match
    'pkcs11:object=x?unknown=y',
    'pkcs11:object=x?pin-value=a&pin-value=b',
    'pkcs11:object=x?pin-value=a&pin-source=file:/p', // mutually exclusive
    'pkcs11:object=%4', // truncated escape
    'pkcs11:object=%zz',
    'pkcs11:object=a b', // space must be escaped
    'pkcs11:object=a/b', // "/" must be escaped in the path
    'pkcs11:object=a?b=c', // unknown query attribute b
    'pkcs11:type=secret', // unknown type
    'pkcs11:slot-id=abc',
    'pkcs11:library-version=1.2.3',
    'pkcs11:object=x;', // empty attribute
    'pkcs11:=x',
    'pkcs11:object',
    'pkcs11:object=x#frag',
    'pkcs11:token=%C3%28', // invalid UTF-8
  ];
  it.each(bad)('%s', (s) => {
    expect(() => parsePkcs11Uri(s)).toThrow(code('BAD_REQUEST'));
  });

  it('never echoes a value (a PIN) in the error', () => {
    try {
      parsePkcs11Uri('pkcs11:object=x?pin-value=s3cr3t&pin-value=s3cr3t');
      expect.unreachable();
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('s3cr3t');
    }
  });
});

describe('RFC 7512 URI printing', () => {
  it('round-trips and drops pin-value unless asked', () => {
    const text =
      'pkcs11:token=My%20Token;object=l1%3Bkey%20%C3%A1;type=secret-key;id=%01%FF?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234';
    const u = parsePkcs11Uri(text);
    const ref = formatPkcs11Uri(u);
    expect(ref).not.toContain('pin-value');
    expect(ref).not.toContain('1234');
    expect(parsePkcs11Uri(ref)).toEqual({ ...u, pinValue: undefined });
    expect(parsePkcs11Uri(formatPkcs11Uri(u, { withPin: true }))).toEqual(u);
    expect(ref).toBe(
      'pkcs11:token=My%20Token;object=l1%3Bkey%20%C3%A1;type=secret-key;id=%01%FF?module-path=/usr/lib/softhsm/libsofthsm2.so',
    );
  });

  it('percent-decodes bytes', () => {
    expect(percentDecodeBytes('a%00%ff')).toEqual(Buffer.from([0x61, 0, 0xff]));
  });
});
