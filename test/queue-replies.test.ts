// The reply channel (src-ts/backends/queue/replies.ts): how servers tell a client about its
// jobs. What a server publishes is read back exactly; anything else on the channel is dropped.

import { describe, expect, it, vi } from 'vitest';
import { EARLY_CANCELS_MAX, EarlyCancels } from '../src-ts/serve/serve.js';
import { completedLargeMessage, completedMessage, failedMessage, progressMessage, PUBLISH_INLINE_MAX, readReply, replyChannel, replyChannelOf } from '../src-ts/backends/queue/replies.js';

const client = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('reply channel', () => {
  it("a spindle job id names its client's channel; another producer's id names none", () => {
    expect(replyChannelOf('q', `${client}-1`)).toBe(replyChannel('q', client));
    expect(replyChannelOf('q', `${client}-90071992547409`)).toBe(`spindle:q:replies:${client}`);
    for (const id of ['1', 'job-7', `${client}`, `${client}-`, `${client}-0`, `${client}-01`, `${client}-1x`, `x${client}-1`, `${client.toUpperCase()}-1`]) {
      expect(replyChannelOf('q', id)).toBeUndefined();
    }
  });

  it('reads back what a server publishes', () => {
    const id = `${client}-3`;
    expect(readReply(completedMessage(id, { r: [1, 'two'], ms: 1.5 })!)).toEqual({ kind: 'completed', jobId: id, returnvalue: { r: [1, 'two'], ms: 1.5 } });
    expect(readReply(failedMessage(id, '{"name":"RangeError"}'))).toEqual({ kind: 'failed', jobId: id, reason: '{"name":"RangeError"}' });
    expect(readReply(progressMessage(id, 2 ** 53 - 1))).toEqual({ kind: 'progress', jobId: id, done: 2 ** 53 - 1 });
  });

  it('a result larger than PUBLISH_INLINE_MAX is not published with it: it is announced, to be read from Redis', () => {
    const id = `${client}-4`;
    const fits = 'x'.repeat(PUBLISH_INLINE_MAX - completedMessage(id, '')!.length);
    expect(completedMessage(id, fits)!.length).toBe(PUBLISH_INLINE_MAX);
    expect(readReply(completedMessage(id, fits)!)).toEqual({ kind: 'completed', jobId: id, returnvalue: fits });
    expect(completedMessage(id, `${fits}x`)).toBeUndefined();
    // Nor is a result JSON cannot hold (a bigint in it).
    expect(completedMessage(id, 1n)).toBeUndefined();
    expect(readReply(completedLargeMessage(id))).toEqual({ kind: 'completedLarge', jobId: id });
  });

  it('a result sure to pass the limit is ruled out without being turned into JSON', () => {
    const id = `${client}-6`;
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      expect(completedMessage(id, { r: 'x'.repeat(PUBLISH_INLINE_MAX + 1), ms: 1 })).toBeUndefined();
      expect(completedMessage(id, { r: new Array(PUBLISH_INLINE_MAX).fill(0), ms: 1 })).toBeUndefined();
      expect(completedMessage(id, { r: [{ [`k${'y'.repeat(PUBLISH_INLINE_MAX)}`]: 1 }], ms: 1 })).toBeUndefined();
      expect(stringify).not.toHaveBeenCalled();
      // Under the limit by the walk's count, a result is measured by its JSON.
      expect(completedMessage(id, { r: [1, 'two', { three: 3 }], ms: 1 })).toBe(`["c","${id}",{"r":[1,"two",{"three":3}],"ms":1}]`);
      expect(stringify).toHaveBeenCalledTimes(1);
    } finally {
      stringify.mockRestore();
    }
  });

  it('drops anything else: not JSON, other shapes, unknown kinds, unsafe progress', () => {
    const id = `${client}-5`;
    for (const message of ['', 'not json', '{}', 'null', '[]', '["c"]', `["c","${id}"]`, `["c",1,2]`, `["c","${id}",1,2]`, `["C","${id}",1]`, `["f","${id}",7]`, `["p","${id}",1.5]`, `["p","${id}",9007199254740992]`, `["p","${id}","3"]`, `["x","${id}",1]`]) {
      expect(readReply(message)).toBeUndefined();
    }
  });
});

describe("a server's early cancel requests (serve.ts)", () => {
  it('keeps at most EARLY_CANCELS_MAX, the newest: every cancel is published, and each server heard them all for a minute', () => {
    const early = new EarlyCancels();
    const n = 3 * EARLY_CANCELS_MAX;
    for (let i = 1; i <= n; i++) early.add(`${client}-${i}`);
    expect(early.size).toBe(EARLY_CANCELS_MAX);
    expect(early.take(`${client}-1`)).toBe(false);
    expect(early.take(`${client}-${n}`)).toBe(true);
    expect(early.take(`${client}-${n - EARLY_CANCELS_MAX + 2}`)).toBe(true);
  });
});
