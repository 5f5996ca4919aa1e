/**
 * Zeroes the main thread's stack below the event loop, for after a request
 * that carried a secret (unseal shares). Node decrypts TLS records into a
 * 16 KiB array on the C++ stack (TLSWrap::ClearOut) and leaves the
 * plaintext there when the call returns; nothing in JS can reach it, and it
 * stays until some later call happens to run that deep. A core dump of an
 * idle Core would show it.
 *
 * Zeroing it takes a frame that spans that memory and is zero-filled by
 * construction: a WebAssembly function whose locals are all zero-initialized
 * (WebAssembly requires it) and live in its stack frame (Liftoff, V8's first
 * compiler, spills them to the frame when there are many: 1024 i64 locals,
 * 8 KiB a frame), calling itself to the depth asked for. Each scrub compiles
 * a module of its own (its bytes differ by a counter), so the function is
 * never tiered up to the optimizing compiler, which would drop the unused
 * locals and zero nothing.
 *
 * Run it from a callback of its own (setImmediate), not from inside the
 * request's call chain: it zeroes from where it is called downwards.
 */

/** Frames of 8 KiB each: 32 frames cover 256 KiB below the caller (the default stack is ~1 MiB). */
const DEFAULT_FRAMES = 32;
const LOCALS = 1024;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];

let made = 0;

function scrubModule(nonce: number): WebAssembly.Module {
  const name = [...Buffer.from('scrub')];
  const body = [
    1,
    ...uleb(LOCALS),
    0x7e, // LOCALS locals of type i64, zeroed in the frame
    0x20,
    0,
    0x04,
    0x40, // if (depth) {
    0x20,
    0,
    0x41,
    1,
    0x6b,
    0x10,
    0, //   scrub(depth - 1)
    0x0b,
    0x0b, // } end
  ];
  const tag = [...Buffer.from('nonce'), ...uleb(nonce)];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, [1, 0x60, 1, 0x7f, 0]), // type: (i32) -> ()
    ...section(3, [1, 0]), // one function of that type
    ...section(7, [1, name.length, ...name, 0, 0]), // exported as "scrub"
    ...section(10, [1, ...uleb(body.length), ...body]),
    ...section(0, [5, ...tag]), // custom section: makes each module's bytes unique
  ];
  return new WebAssembly.Module(Uint8Array.from(bytes));
}

/** Zeroes about `frames` x 8 KiB of stack below the caller; says whether it ran. Never throws. */
export function scrubStack(frames = DEFAULT_FRAMES): boolean {
  try {
    const instance = new WebAssembly.Instance(scrubModule(++made));
    (instance.exports.scrub as (depth: number) => void)(frames);
    return true;
  } catch {
    // Best effort: a stack this shallow cannot overflow, and no failure here may fail a request.
    return false;
  }
}
