// An independent reference for GF(2^8) (AES polynomial), table-driven:
// fine in a test, where nothing is secret.
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let v = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = EXP[i + 255] = v;
    LOG[v] = i;
    v ^= (v << 1) ^ (v & 0x80 ? 0x11b : 0); // multiply by the generator 3
    v &= 0xff;
  }
}
export const gmul = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);
export const ginv = (a: number): number => EXP[255 - LOG[a]];

/** Shares of `secret` for the polynomial secret + c1 x + c2 x^2 + ... (coefficients per byte). */
export function referenceShares(secret: Buffer, coefficients: Buffer[], xs: number[]): Buffer[] {
  return xs.map((x) => {
    const share = Buffer.alloc(1 + secret.length);
    share[0] = x;
    for (let j = 0; j < secret.length; j++) {
      let y = secret[j];
      let xp = 1;
      for (const c of coefficients) {
        xp = gmul(xp, x);
        y ^= gmul(c[j], xp);
      }
      share[1 + j] = y;
    }
    return share;
  });
}

/** Lagrange interpolation at 0 with the reference field. */
export function referenceCombine(shares: Buffer[]): Buffer {
  const out = Buffer.alloc(shares[0].length - 1);
  shares.forEach((si, i) => {
    let l = 1;
    shares.forEach((sj, j) => {
      if (j !== i) l = gmul(l, gmul(sj[0], ginv(sj[0] ^ si[0])));
    });
    for (let b = 0; b < out.length; b++) out[b] ^= gmul(l, si[1 + b]);
  });
  return out;
}
