/** `checkpointsIterator`: yield new steps of a checkpoint directory as they are committed. */
import { z } from 'zod';

import { storageFor, type StorageOptions } from '../storage/index.js';
import { parseOptions } from '../validation.js';
import type { NameFormat } from '../path/nameFormat.js';
import { abortableSleep, monotonicSeconds } from './abortableSleep.js';
import { removeLeftoverSnapshots } from './snapshots.js';
import { initStepNameFormat, snapshotRootOf, waitForCheckpointWith, type WaitInternals, waitOptionsShape } from './waitForNewCheckpoint.js';

/** Options of {@link checkpointsIterator}. */
export interface CheckpointsIteratorOptions {
  /** Least seconds between two yields, consumer time included (default 0). */
  minIntervalSecs?: number;
  /** Seconds between polls when no new step is there (default 1). */
  secondsToSleep?: number;
  /** Seconds each wait for a new step may take (counted from the start of that wait). */
  timeoutSecs?: number;
  /** Asked when a wait times out: true ends the iteration, false starts a new wait. */
  timeoutFn?: () => boolean | Promise<boolean>;
  stepPrefix?: string;
  stepFormatFixedLength?: number;
  stepNameFormat?: NameFormat;
  /** Where snapshots go (default `<dir>/_SNAPSHOTS`); every entry in it is deleted first. */
  snapshotDir?: string;
  /** Only warn when a snapshot to delete is already gone (default true). */
  ignoreSnapshotErrors?: boolean;
  /** Aborting ends the iteration with an `AbortError`, releasing the snapshot held. */
  signal?: AbortSignal;
  /** Object-store configuration (credentials, endpoint...), for URL directories. */
  storageOptions?: StorageOptions;
}

const iteratorOptionsSchema = z.object({ minIntervalSecs: z.number().nonnegative().finite().optional(), ...waitOptionsShape }).strict();

/**
 * Python `checkpoint_utils.checkpoints_iterator`, as an async generator.
 *
 * First deletes every entry of the snapshot directory (leftovers: use one snapshot directory per
 * reader). Then the first value is the latest step present (older steps are never yielded) and
 * each later value the newest step above the previous one (steps in between are skipped).
 * While the consumer handles a value, the step's snapshot exists
 * (`<snapshotDir or dir/_SNAPSHOTS>/<step name>`, see `getSnapshotDirFromStepDir`), so a writer
 * deleting the step does not disturb it; it is deleted when the consumer asks for the next value
 * or leaves the loop (`break`, `return`, an exception). When a wait times out the iteration ends,
 * or with `timeoutFn` it ends only if `timeoutFn()` answers true (otherwise a new wait starts).
 * After each value it sleeps what remains of `minIntervalSecs` since the value was yielded.
 * On object stores (URL directories, with `storageOptions`) a step is yielded once its
 * `commit_success.txt` is written, and its snapshot is a copy.
 */
export function checkpointsIterator(checkpointDir: string, opts?: CheckpointsIteratorOptions): AsyncGenerator<number, void, undefined> {
  return iterateCheckpointsWith(checkpointDir, opts, {});
}

/** {@link checkpointsIterator} with internal knobs (not part of the public API). */
export async function* iterateCheckpointsWith(
  checkpointDir: string,
  opts: CheckpointsIteratorOptions | undefined,
  internals: WaitInternals,
): AsyncGenerator<number, void, undefined> {
  const { minIntervalSecs = 0, ...waitOptions } = parseOptions(iteratorOptionsSchema, opts, 'checkpointsIterator options');
  const dir = storageFor(checkpointDir).resolve(checkpointDir);
  const stepNameFormat = initStepNameFormat(waitOptions);
  const snapshotDir = snapshotRootOf(dir, waitOptions.snapshotDir);
  await removeLeftoverSnapshots(snapshotDir, waitOptions.ignoreSnapshotErrors ?? true, waitOptions.storageOptions);

  let lastStep: number | null = null;
  for (;;) {
    const lease = await waitForCheckpointWith(
      dir,
      { ...waitOptions, stepNameFormat, snapshotDir, ...(lastStep !== null ? { untilStep: lastStep + 1 } : {}) },
      internals,
    );
    let yieldedAt: number;
    try {
      if (lease.step === -1) {
        if (waitOptions.timeoutFn === undefined) return;
        // The timeout_fn is asked again here (it was asked inside the wait too), as in Orbax.
        if (await waitOptions.timeoutFn()) return;
        continue;
      }
      yieldedAt = monotonicSeconds();
      lastStep = lease.step;
      yield lease.step;
    } finally {
      await lease.release();
    }
    await abortableSleep(yieldedAt + minIntervalSecs - monotonicSeconds(), waitOptions.signal);
  }
}
