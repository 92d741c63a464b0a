// Ordered, bounded concurrency for the CLI: start work for up to `window` items at once, hand
// back every item's outcome in input order, as soon as it and all before it are known.
//
// Not pool.imap: imap ends at the first failure, while sha256sum reports a missing file and
// carries on with the rest. Here a failure is just an outcome. Memory stays bounded by the
// window however many items there are: items are pulled from the iterator only as room frees up.

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Slot<T, R> {
  item: T;
  outcome: Promise<Outcome<R>>;
  /** Set once `outcome` has resolved, so the consumer can tell without awaiting. */
  done: boolean;
}

export interface Settled<T, R> {
  item: T;
  outcome: Outcome<R>;
}

/**
 * Yields `{ item, outcome }` for each item in order. `start(item)` begins the item's work; it
 * is called in input order, with at most `window` items started and not yet yielded.
 * `beforeWait` runs whenever the next outcome is not known yet (the CLI flushes its output
 * then, so that lines appear while slow files are still being hashed).
 */
export async function* inOrder<T, R>(
  items: Iterable<T>,
  window: number,
  start: (item: T) => Promise<R> | undefined,
  beforeWait: () => Promise<void> | void = () => {},
): AsyncGenerator<Settled<T, R | undefined>> {
  const iterator = items[Symbol.iterator]();
  const slots: Slot<T, R | undefined>[] = [];
  let exhausted = false;
  const refill = (): void => {
    while (!exhausted && slots.length < window) {
      const next = iterator.next();
      if (next.done === true) {
        exhausted = true;
        return;
      }
      const item = next.value;
      const slot: Slot<T, R | undefined> = { item, outcome: undefined!, done: false };
      slot.outcome = settle(start, item).then((outcome) => {
        slot.done = true;
        return outcome;
      });
      slots.push(slot);
    }
  };
  try {
    refill();
    while (slots.length > 0) {
      const head = slots[0]!;
      if (!head.done) await beforeWait();
      const outcome = await head.outcome;
      slots.shift();
      refill(); // keep the window full while the consumer handles this outcome
      yield { item: head.item, outcome };
    }
  } finally {
    // If the consumer stopped early, work already started finishes unobserved: its outcome
    // promises never reject (settle() catches), so nothing goes unhandled.
    iterator.return?.();
  }
}

async function settle<T, R>(start: (item: T) => Promise<R> | undefined, item: T): Promise<Outcome<R | undefined>> {
  try {
    return { ok: true, value: await start(item) };
  } catch (error) {
    return { ok: false, error };
  }
}
