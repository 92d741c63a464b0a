// Why a task's call cannot be sent to a worker, for the TypeError its caller gets.
//
// Arguments travel by structured clone when a batch is posted, which is where a function, a
// symbol, a getter that throws, a revoked Proxy or a detached buffer shows up: as one error for
// the whole message. The worker backend then posts the tasks of that message one by one, and
// for a task that still fails this finds the argument (or transfer-list entry) to name, by
// trying each alone. That runs the caller's getters again, so it is done only after a send has
// failed, never on the way to a worker. A detached buffer in a transfer list is the exception:
// postMessage takes it silently (the worker would get an empty buffer), so it is looked for first.

import { isDetached } from '../kernels/args.js';
import { markedUntransferable } from '../kernels/untransferable.js';
import { type Dispatch } from './backend.js';
import { encodeValue, reasonOf } from './worker-protocol.js';

/** The TypeError for task `d`, whose arguments could not be encoded or posted (`error`). */
export function unsendableError(d: Dispatch, error: unknown): TypeError {
  let part: string | undefined;
  let reason = reasonOf(error);
  try {
    const found = findUnsendable(d);
    if (found !== undefined) [part, reason] = found;
  } catch {
    // Reading the call again threw in a new way: name no part, keep the first reason.
  }
  const what = part === undefined ? 'the arguments cannot' : `${part} cannot`;
  return new TypeError(`${d.kernel.name}: ${what} be sent to a worker: ${reason}`, { cause: error });
}

/** [the part to name, why it cannot be sent], or undefined when each part can be sent alone. */
function findUnsendable(d: Dispatch): [string, string] | undefined {
  const calls = d.calls;
  for (let c = 0; c < calls.length; c++) {
    const args = calls[c]!;
    for (let i = 0; i < args.length; i++) {
      const why = cloneProblem(args[i]);
      if (why !== undefined) return [d.batch ? `item ${(d.firstItem ?? 0) + c} (argument ${i})` : `argument ${i}`, why];
    }
  }
  const j = d.transfer === undefined ? -1 : detachedIn(d.transfer);
  if (j >= 0) return [`options.transfer[${j}]`, DETACHED];
  // Node 21 on refuse to transfer a buffer marked with markAsUntransferable ('Cannot transfer
  // object of unsupported type'); Node 18 and 20 copy it.
  const k = d.transfer === undefined ? -1 : d.transfer.findIndex((item) => item instanceof ArrayBuffer && markedUntransferable(item));
  if (k >= 0) return [`options.transfer[${k}]`, MARKED];
  return undefined;
}

const DETACHED = 'the ArrayBuffer is detached (transferred away since the call)';
const MARKED = 'a sort or argsort marked the ArrayBuffer untransferable (markAsUntransferable) for good; leave it out of transfer, and it is copied';

/**
 * The index of the first detached ArrayBuffer in a transfer list, or -1. postMessage accepts
 * one there without a word and the worker gets an empty buffer, so the backend checks first.
 */
export function detachedIn(transfer: readonly unknown[]): number {
  for (let j = 0; j < transfer.length; j++) {
    const item = transfer[j];
    if (item instanceof ArrayBuffer && isDetached(item)) return j;
  }
  return -1;
}

/** The error a task with a detached buffer in its transfer list fails with, before unsendableError() names it. */
export function detachedTransferError(): TypeError {
  return new TypeError(DETACHED);
}

function cloneProblem(value: unknown): string | undefined {
  try {
    structuredClone(encodeValue(value));
    return undefined;
  } catch (error) {
    return reasonOf(error);
  }
}

