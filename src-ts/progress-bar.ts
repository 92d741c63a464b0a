// A one-line progress bar on a terminal, driven by a SharedCounter that pool threads advance.
// The CLI's only view of a running job: the main thread stays idle, and reads the counter a
// few times a second.

import type { SharedCounter } from './shared/counter.js';

const WIDTH = 30;

export interface ProgressBarOptions {
  /** Where to draw; normally process.stderr. */
  stream: NodeJS.WritableStream;
  /** What the counter reads when the job is done. */
  total: number;
  counter: SharedCounter;
  /** Shown before the bar. */
  label: string;
  /** Nothing is drawn for jobs shorter than this (ms), so quick runs do not flash a bar. */
  delayMs?: number;
  intervalMs?: number;
}

export class ProgressBar {
  private timer: NodeJS.Timeout | undefined = undefined;
  /** The bar has been drawn at least once. */
  private drawn = false;
  /** The bar is on the terminal's current line now (not erased by clear()). */
  private showing = false;
  private readonly started = performance.now();

  constructor(private readonly options: ProgressBarOptions) {}

  start(): this {
    const { delayMs = 250, intervalMs = 100 } = this.options;
    this.timer = setTimeout(() => {
      this.draw();
      this.timer = setInterval(() => this.draw(), intervalMs);
      this.timer.unref();
    }, delayMs);
    this.timer.unref();
    return this;
  }

  /**
   * Erases the bar, leaving the cursor at the start of its line, so that other output can be
   * written to the terminal; the next tick draws it again below that output.
   */
  clear(): void {
    if (!this.showing) return;
    this.options.stream.write('\r\x1b[K');
    this.showing = false;
  }

  /** Draws the final state (if anything was drawn) and ends the line. */
  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.timer);
    if (!this.drawn) return;
    this.draw();
    this.options.stream.write('\n');
  }

  private draw(): void {
    const { stream, total, counter, label } = this.options;
    const done = Math.min(counter.value, total);
    const fraction = total === 0 ? 1 : done / total;
    const filled = Math.round(fraction * WIDTH);
    const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
    const bar = '#'.repeat(filled) + '-'.repeat(WIDTH - filled);
    stream.write(`\r${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${seconds} s`);
    this.drawn = true;
    this.showing = true;
  }
}
