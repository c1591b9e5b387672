/** Sleeping that an `AbortSignal` can cut short, with orbax-ts's `AbortError`. */
import { setTimeout as delay } from 'node:timers/promises';

import { AbortError } from '../errors.js';

/** Throws an {@link AbortError} if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new AbortError(undefined, { cause: signal.reason });
  }
}

/** Sleeps `seconds`, rejecting with an {@link AbortError} as soon as `signal` aborts. */
export async function abortableSleep(seconds: number, signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal);
  if (seconds <= 0) return;
  try {
    await delay(seconds * 1000, undefined, signal === undefined ? undefined : { signal });
  } catch (error) {
    throwIfAborted(signal);
    throw error;
  }
}

/** Seconds on a monotonic clock (for deadlines; immune to wall-clock jumps). */
export function monotonicSeconds(): number {
  return performance.now() / 1000;
}
