// Keeping an ordinary ArrayBuffer where it is while native threads work in its memory.
//
// worker_threads.markAsUntransferable makes postMessage and structuredClone copy a buffer
// instead of moving it, and from Node 24 on it also makes ArrayBuffer.prototype.transfer() and
// transferToFixedLength() throw ("not detachable"). Node 21-23 (and Node 20 behind
// --harmony-rab-gsab-transfer) have those two methods but do not stop them for a marked buffer:
// transfer() then frees the memory a native sort was writing, and the process died (SIGSEGV,
// seen on Node 22). N-API has no way to keep a buffer's memory alive, so on those runtimes this
// module wraps the two methods of this realm's ArrayBuffer.prototype, once, the first time a
// buffer is marked: for a buffer spindle marked they throw the TypeError Node 24 throws, and
// for any other buffer they are the original methods. What is not covered: code that took the
// original methods before the first mark (a reference kept from before spindle marked anything).
import { markAsUntransferable } from 'node:worker_threads';

type TransferMethod = (this: ArrayBuffer, newLength?: number) => ArrayBuffer;
const METHODS = ['transfer', 'transferToFixedLength'] as const;

/** Buffers marked here, on a runtime whose transfer() ignores the mark. */
const marked = new WeakSet<ArrayBuffer>();
let guarded = false;

/** Whether this runtime's ArrayBuffer.prototype.transfer() moves a buffer markAsUntransferable marked. */
function transferIgnoresMark(): boolean {
  const transfer = (ArrayBuffer.prototype as { transfer?: TransferMethod }).transfer;
  if (typeof transfer !== 'function') return false;
  const probe = new ArrayBuffer(8);
  markAsUntransferable(probe);
  try {
    transfer.call(probe);
    return true;
  } catch {
    return false;
  }
}

/** transferIgnoresMark(), probed at the first mark rather than when the module loads. */
let needsGuard: boolean | undefined;

function guardTransfers(): void {
  guarded = true;
  const proto = ArrayBuffer.prototype as unknown as Record<string, unknown>;
  for (const name of METHODS) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
    // A method (no prototype, not a constructor), named and sized as the original.
    const wrapped = {
      [name](this: ArrayBuffer, ...args: unknown[]): ArrayBuffer {
        if (marked.has(this)) throw new TypeError(`ArrayBuffer.prototype.${name}: this ArrayBuffer is not detachable (spindle's native threads may be using its memory)`);
        return Reflect.apply(original as TransferMethod, this, args) as ArrayBuffer;
      },
    }[name]!;
    Object.defineProperty(wrapped, 'length', { value: (original as TransferMethod).length });
    Object.defineProperty(proto, name, { ...descriptor, value: wrapped });
  }
}

/**
 * Marks an ordinary ArrayBuffer so that nothing moves its memory away while native threads use
 * it: permanent, as markAsUntransferable is (postMessage and structuredClone copy it; transfer()
 * throws a TypeError).
 */
export function markUntransferable(buffer: ArrayBuffer): void {
  markAsUntransferable(buffer);
  needsGuard ??= transferIgnoresMark();
  if (!needsGuard) return;
  marked.add(buffer);
  if (!guarded) guardTransfers();
}
