/**
 * Unseal shares as `krypton admin unseal` takes them: never from the
 * command line (argv is readable by anyone in /proc), but from standard
 * input, one base64 share a line (a pipe or a file), or typed at a prompt
 * that does not echo. The bytes never become JS strings, which cannot be
 * wiped: lines are read as Buffers and decoded from base64 byte by byte,
 * and every buffer that held a share is zeroed.
 */
import { errors } from '../errors.js';

/** More than enough for 255 shares; a larger input is not shares. */
const MAX_INPUT_BYTES = 64 * 1024;
/** A typed share: 33 bytes are 44 base64 characters; room for a `share N:` label and spaces. */
const MAX_LINE_BYTES = 256;

const B64 = new Int16Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((c, i) => (B64[c.charCodeAt(0)] = i));

const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;

/**
 * Decodes standard base64 (padding optional) from bytes into a fresh
 * Buffer (never the shared pool), or null when it is not base64. Leading
 * and trailing blanks and a leading `share N:` label (as `krypton core
 * init` prints) are skipped.
 */
export function decodeShareLine(line: Uint8Array): Buffer | null {
  let start = 0;
  let end = line.length;
  while (start < end && isSpace(line[start]!)) start++;
  while (end > start && isSpace(line[end - 1]!)) end--;
  const colon = line.subarray(start, end).indexOf(0x3a);
  if (colon >= 0) {
    start += colon + 1;
    while (start < end && isSpace(line[start]!)) start++;
  }
  while (end > start && line[end - 1] === 0x3d) end--; // '=' padding
  const n = end - start;
  if (n === 0 || n % 4 === 1) return null;
  const out = Buffer.alloc(Math.floor((n * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const v = B64[line[i]!]!;
    if (v < 0) {
      out.fill(0);
      return null;
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * Every non-empty line of the input as one share; BAD_REQUEST (naming the line, never its content) on a line that is
 * not base64.
 */
export function sharesFromLines(input: Uint8Array): Buffer[] {
  const shares: Buffer[] = [];
  let lineNo = 0;
  try {
    for (let at = 0; at < input.length;) {
      let nl = input.indexOf(0x0a, at);
      if (nl < 0) nl = input.length;
      const line = input.subarray(at, nl);
      at = nl + 1;
      lineNo++;
      if (line.every(isSpace)) continue;
      const share = decodeShareLine(line);
      if (share === null) throw errors.badRequest(`line ${lineNo} is not a base64 share`);
      shares.push(share);
    }
  } catch (err) {
    for (const s of shares) s.fill(0);
    throw err;
  }
  return shares;
}

/** Reads all of a non-interactive stdin into one buffer (the chunks are wiped as they are copied). */
async function readAll(stdin: NodeJS.ReadableStream): Promise<Buffer> {
  let buf = Buffer.alloc(1024);
  let size = 0;
  try {
    for await (const chunk of stdin as AsyncIterable<Buffer>) {
      if (size + chunk.length > MAX_INPUT_BYTES)
        throw errors.badRequest(`more than ${MAX_INPUT_BYTES} bytes on stdin: that is not unseal shares`);
      if (size + chunk.length > buf.length) {
        const bigger = Buffer.alloc(Math.max(buf.length * 2, size + chunk.length));
        buf.copy(bigger, 0, 0, size);
        buf.fill(0);
        buf = bigger;
      }
      chunk.copy(buf, size);
      size += chunk.length;
      chunk.fill(0);
    }
  } catch (err) {
    buf.fill(0);
    throw err;
  }
  return buf.subarray(0, size);
}

/**
 * Prompts for shares one by one on a terminal, without echo; an empty line
 * (or Ctrl-D) ends, Ctrl-C aborts. Each typed line lives in one fixed
 * buffer that is wiped after it is decoded.
 */
function promptShares(stdin: NodeJS.ReadStream, out: NodeJS.WritableStream): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const shares: Buffer[] = [];
    const line = Buffer.alloc(MAX_LINE_BYTES);
    let len = 0;
    const ask = (): void => {
      out.write(`share ${shares.length + 1} (base64, not echoed; empty line to finish): `);
    };
    const done = (err?: unknown): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      line.fill(0);
      out.write('\n');
      if (err !== undefined) {
        for (const s of shares) s.fill(0);
        reject(err instanceof Error ? err : new Error('reading the shares failed'));
      } else {
        resolve(shares);
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        for (const b of chunk) {
          if (b === 0x03) return done(errors.badRequest('unseal aborted'));
          if (b === 0x0d || b === 0x0a || b === 0x04) {
            if (len === 0) return done();
            const share = decodeShareLine(line.subarray(0, len));
            line.fill(0);
            len = 0;
            if (share === null) {
              out.write('\nnot a base64 share; type it again\n');
            } else {
              shares.push(share);
              out.write('\n');
            }
            ask();
          } else if (b === 0x7f || b === 0x08) {
            if (len > 0) line[--len] = 0;
          } else if (len < line.length) {
            line[len++] = b;
          }
        }
      } finally {
        chunk.fill(0);
      }
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
    ask();
  });
}

/** The shares from stdin: a prompt on a terminal, else one base64 share a line. At least one. */
export async function readShares(
  stdin: NodeJS.ReadStream = process.stdin,
  prompt: NodeJS.WritableStream = process.stderr,
): Promise<Buffer[]> {
  let shares: Buffer[];
  if (stdin.isTTY) {
    shares = await promptShares(stdin, prompt);
  } else {
    const input = await readAll(stdin);
    try {
      shares = sharesFromLines(input);
    } finally {
      input.fill(0);
    }
  }
  if (shares.length === 0)
    throw errors.badRequest('no shares given: pipe them on stdin, one base64 share a line, or type them at the prompt');
  return shares;
}
