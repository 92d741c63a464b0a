// Ordered, bounded concurrency for the CLI: start work for up to `window` items at once, hand
// back every item's outcome in input order, as soon as it and all before it are known.
//
// Not pool.imap: imap ends at the first failure, while sha256sum reports a missing file and
// carries on with the rest. Here a failure is just an outcome. Memory stays bounded by the
// window however many items there are: items are pulled from the iterator only as room frees up.
//
// The items may arrive slowly (a checksum list on a pipe), so taking the next item and handing
// back finished ones run side by side: a result is yielded as soon as it is known, even while
// the next item is still being waited for.

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
 * then, so that lines appear while slow files are still being hashed or the next line of a
 * list has not arrived). If reading `items` fails, every item taken before is still yielded,
 * then the generator throws that error.
 */
export async function* inOrder<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  window: number,
  start: (item: T) => Promise<R> | undefined,
  beforeWait: () => Promise<void> | void = () => {},
): AsyncGenerator<Settled<T, R | undefined>> {
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  const slots: Slot<T, R | undefined>[] = [];
  let exhausted = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  // Each side parks on one of these when it has nothing to do; the other side wakes it.
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const wake = (which: 'consumer' | 'producer'): void => {
    const resume = which === 'consumer' ? wakeConsumer : wakeProducer;
    if (which === 'consumer') wakeConsumer = undefined;
    else wakeProducer = undefined;
    resume?.();
  };

  const produce = async (): Promise<void> => {
    try {
      for (;;) {
        while (slots.length >= window && !stopped) await new Promise<void>((resolve) => (wakeProducer = resolve));
        if (stopped) return;
        const next = await iterator.next();
        if (next.done === true || stopped) return;
        const slot: Slot<T, R | undefined> = { item: next.value, outcome: undefined!, done: false };
        slot.outcome = settle(start, next.value).then((outcome) => {
          slot.done = true;
          return outcome;
        });
        slots.push(slot);
        wake('consumer');
      }
    } catch (error) {
      failure = { error };
    } finally {
      exhausted = true;
      wake('consumer');
    }
  };

  const producing = produce();
  try {
    for (;;) {
      const head = slots[0];
      if (head === undefined) {
        if (exhausted) break;
        await beforeWait();
        if (slots.length === 0 && !exhausted) await new Promise<void>((resolve) => (wakeConsumer = resolve));
        continue;
      }
      if (!head.done) await beforeWait();
      const outcome = await head.outcome;
      slots.shift();
      wake('producer'); // keep the window full while the consumer handles this outcome
      yield { item: head.item, outcome };
    }
    await producing;
    if (failure !== undefined) throw failure.error;
  } finally {
    // If the consumer stopped early, work already started finishes unobserved: its outcome
    // promises never reject (settle() catches), so nothing goes unhandled. The producer may be
    // waiting for the next item; it drops it when it comes. Whoever owns the items' source
    // cancels it to end that wait.
    stopped = true;
    wake('producer');
    if (!exhausted) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

async function settle<T, R>(start: (item: T) => Promise<R> | undefined, item: T): Promise<Outcome<R | undefined>> {
  try {
    return { ok: true, value: await start(item) };
  } catch (error) {
    return { ok: false, error };
  }
}
