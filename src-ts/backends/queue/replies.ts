// How a server tells a client about its jobs: one Redis pub/sub channel per client.
//
// BullMQ's own route, its QueueEvents stream, carries every event of every job on the queue to
// every reader. A client reading it woke three times a job (its own add's 'waiting', the
// server's 'active', the outcome) and parsed the events of every other client's jobs as well;
// one call awaited at a time took 1.4x as long as through a channel that wakes the client once
// a job (bench/scenarios/queue.mjs). So a server publishes what a client needs, on that
// client's channel: a result as its task returns it, a round trip before BullMQ records it in
// Redis (should the recording fail, a lost lock, the job runs again and that run's result finds
// the call settled: at-least-once execution, exactly-once settlement); a failure, and a result
// too large to publish, once BullMQ has recorded it; progress as it moves. The client's job ids
// name the client (`<client uuid>-<seq>`), so no field is added to the job's payload; a job from
// another producer gets no reply.
//
// Pub/sub delivers only to a connected subscriber: a reply published while the client's
// subscriber reconnects is lost. The client then looks its jobs up in Redis (client.ts's sweep),
// where BullMQ keeps each outcome, so a lost reply delays a call but never loses it.

/** A reply, decoded: what a server said about one job. */
export type Reply =
  /** The job completed; `returnvalue` is what the server's processor returned (wire.ts readResult reads it). */
  | { kind: 'completed'; jobId: string; returnvalue: unknown }
  /** The job completed with a result too large to publish: read it from the job in Redis. */
  | { kind: 'completedLarge'; jobId: string }
  /** The job failed for good (no attempt left, or not retryable); `reason` is its failedReason. */
  | { kind: 'failed'; jobId: string; reason: string }
  /** The job's progress counter reads `done` (a safe integer). */
  | { kind: 'progress'; jobId: string; done: number };

/**
 * The largest reply published with its result (UTF-16 code units of its JSON, about bytes for
 * the codec's ASCII). Redis drops a subscriber whose pending messages pass its pub/sub output
 * buffer limit (8 MB for a minute, 32 MB at once, by default): a larger result is announced
 * without its value and read from the job's hash instead, one more round trip.
 */
export const PUBLISH_INLINE_MAX = 256 * 1024;

/** The channel on which servers reply to the client `clientId` about its jobs on `queue`. */
export function replyChannel(queue: string, clientId: string): string {
  return `spindle:${queue}:replies:${clientId}`;
}

/** A spindle client's job id: its client's UUID, a dash, a sequence number. */
const CLIENT_JOB_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-[1-9][0-9]*$/;

/** Where replies about `jobId` go; undefined for a job another producer added (no client listens). */
export function replyChannelOf(queue: string, jobId: string): string | undefined {
  const match = CLIENT_JOB_ID.exec(jobId);
  return match === null ? undefined : replyChannel(queue, match[1]!);
}

/**
 * The message for a completed job with its result; undefined past PUBLISH_INLINE_MAX, or for a
 * result JSON cannot hold (which reaches Redis by BullMQ's own JSON.stringify or not at all):
 * then completedLargeMessage, once Redis holds the result.
 */
export function completedMessage(jobId: string, returnvalue: unknown): string | undefined {
  // A result of hundreds of MB was turned into JSON whole only to be measured (and BullMQ does
  // it again): a walk that stops at the limit rules most large ones out first.
  if (!mayFit(returnvalue, PUBLISH_INLINE_MAX)) return undefined;
  let message: string | undefined;
  try {
    message = JSON.stringify(['c', jobId, returnvalue]);
  } catch {
    return undefined;
  }
  return message !== undefined && message.length <= PUBLISH_INLINE_MAX ? message : undefined;
}

/**
 * False when `value`'s JSON is sure to be longer than `budget`: its strings and keys alone, or
 * its values (each one character at least), come to more. Stops as soon as they do, so it costs
 * at most about `budget` steps however large the value.
 */
function mayFit(value: unknown, budget: number): boolean {
  let left = budget;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    left -= typeof v === 'string' ? v.length : 1;
    if (left < 0) return false;
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length && stack.length <= left; i++) stack.push(v[i]);
      if (stack.length > left) return false;
      continue;
    }
    for (const key in v) {
      left -= key.length;
      if (left < 0) return false;
      stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return true;
}

/** The message for a completed job whose result the client reads from Redis. */
export function completedLargeMessage(jobId: string): string {
  return JSON.stringify(['C', jobId]);
}

export function failedMessage(jobId: string, reason: string): string {
  return JSON.stringify(['f', jobId, reason]);
}

export function progressMessage(jobId: string, done: number): string {
  return JSON.stringify(['p', jobId, done]);
}

/**
 * Decodes a message from a reply channel; undefined for anything else (anyone may publish on
 * a channel: a message this cannot read is dropped, never thrown).
 */
export function readReply(message: string): Reply | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || typeof parsed[1] !== 'string') return undefined;
  const jobId = parsed[1];
  switch (parsed[0]) {
    case 'c':
      return parsed.length === 3 ? { kind: 'completed', jobId, returnvalue: parsed[2] } : undefined;
    case 'C':
      return parsed.length === 2 ? { kind: 'completedLarge', jobId } : undefined;
    case 'f':
      return parsed.length === 3 && typeof parsed[2] === 'string' ? { kind: 'failed', jobId, reason: parsed[2] } : undefined;
    case 'p':
      return parsed.length === 3 && Number.isSafeInteger(parsed[2]) ? { kind: 'progress', jobId, done: parsed[2] as number } : undefined;
    default:
      return undefined;
  }
}
