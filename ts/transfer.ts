/**
 * Progress and cancellation of long saves and restores: an `AbortSignal` stops the native work at
 * the next chunk boundary (a cancelled save commits nothing and removes its temporary directory),
 * and `onProgress` receives the bytes done and planned, polled at a bounded rate from a timer that
 * never keeps the process alive.
 */
import { z } from 'zod';

import { AbortError } from './errors.js';
import { native } from './native.js';

/** Bytes of array data done and planned so far (the total grows while items are planned). */
export interface TransferProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** Cancellation and progress options of a save or restore. */
export interface TransferOptions {
  /** Aborting stops the work between chunks and rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Called while the transfer runs (at most every `progressIntervalMs`) and once at its end. */
  onProgress?: (progress: TransferProgress) => void;
  /** Default 100 ms. */
  progressIntervalMs?: number;
}

export const transferOptionsShape = {
  signal: z.instanceof(AbortSignal).optional(),
  onProgress: z.custom<(progress: TransferProgress) => void>((v) => typeof v === 'function', { message: 'expected a function' }).optional(),
  progressIntervalMs: z.number().positive().optional(),
};

/** Picks the transfer options out of a larger options object. */
export function transferOf(opts: TransferOptions | undefined): TransferOptions {
  if (!opts) return {};
  return {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.progressIntervalMs ? { progressIntervalMs: opts.progressIntervalMs } : {}),
  };
}

/** Throws an `AbortError` if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('The operation was aborted.', { cause: signal.reason });
}

/** A native transfer handle wired to a signal and a progress callback; `close()` when done. */
export class Transfer {
  readonly id: number;
  readonly #opts: TransferOptions;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #onAbort: () => void;
  #closed = false;

  constructor(opts: TransferOptions) {
    throwIfAborted(opts.signal);
    this.#opts = opts;
    this.id = native.createTransfer();
    this.#onAbort = () => native.cancelTransfer(this.id);
    opts.signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (opts.onProgress) {
      this.#timer = setInterval(() => this.#report(), opts.progressIntervalMs ?? 100);
      this.#timer.unref();
    }
  }

  /** A handle when there is something to control, else undefined (no native bookkeeping). */
  static open(opts: TransferOptions | undefined): Transfer | undefined {
    return opts && (opts.signal || opts.onProgress) ? new Transfer(opts) : undefined;
  }

  #report(): void {
    const [done = 0, total = 0] = native.transferProgress(this.id);
    try {
      this.#opts.onProgress?.({ bytesDone: done, bytesTotal: total });
    } catch {
      // A throwing progress callback must not break the transfer.
    }
  }

  /** Whether the signal has aborted. */
  get aborted(): boolean {
    return this.#opts.signal?.aborted === true;
  }

  /** Maps an error of the work to an `AbortError` when the signal caused it. */
  error(error: unknown): unknown {
    return this.aborted && !(error instanceof AbortError) ? new AbortError('The operation was aborted.', { cause: error }) : error;
  }

  /** Reports the final progress and releases the handle. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#opts.signal?.removeEventListener('abort', this.#onAbort);
    this.#report();
    native.releaseTransfer(this.id);
  }
}

/** Runs `work` with a transfer handle (or none), closing it afterwards. */
export async function withTransfer<T>(opts: TransferOptions | undefined, work: (transfer: number | undefined) => Promise<T>): Promise<T> {
  const transfer = Transfer.open(opts);
  try {
    return await work(transfer?.id);
  } catch (error) {
    throw transfer ? transfer.error(error) : error;
  } finally {
    transfer?.close();
  }
}
