// Standard output for the commands other than sha256sum (which has its own, buffered, Output):
// a failed write must never become an uncaught 'error' event (a Node stack trace). A closed pipe
// (`| head`, EPIPE) ends the command silently with status 1, as coreutils' programs end on
// SIGPIPE (which Node ignores); any other failure (ENOSPC on /dev/full) is one line,
// "spindle: write error: <reason>", and status 1.

import { strerror } from './coreutils-text.js';

let failure: NodeJS.ErrnoException | undefined;
let lastWrite: Promise<void> = Promise.resolve();
let watching = false;

/** Writes `text` to standard output; nothing more is written after a write has failed. */
export function writeStdout(text: string): void {
  if (!watching) {
    watching = true;
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error;
    });
  }
  if (failure !== undefined) return;
  lastWrite = new Promise<void>((resolve) => {
    process.stdout.write(text, (error?: Error | null) => {
      if (error) failure ??= error as NodeJS.ErrnoException;
      resolve();
    });
  });
}

/**
 * The exit status once every write has reported its outcome: `status` when all went out, else 1,
 * after "spindle: write error: <reason>" on stderr unless the reader had gone (EPIPE).
 */
export async function stdoutStatus(status: number): Promise<number> {
  await lastWrite;
  if (failure === undefined) return status;
  if (failure.code !== 'EPIPE') process.stderr.write(`spindle: write error: ${strerror(failure)}\n`);
  return 1;
}
