/** `waitForNewCheckpoint`: poll a checkpoint directory until a step is there, and hold it. */
import { z } from 'zod';

import { AbortError, InvalidArgumentError } from '../errors.js';
import { parseOptions } from '../validation.js';
import { checkpointSteps } from '../path/legacySteps.js';
import { type NameFormat, nameFormatSchema, standardNameFormat } from '../path/nameFormat.js';
import { abortableSleep, monotonicSeconds, throwIfAborted } from './abortableSleep.js';
import { createSnapshot, isVanishedError, type LinkFile, releaseSnapshot, SNAPSHOTS_DIR } from './snapshots.js';
import { storageFor, type StorageOptions, storageOptionsSchema } from '../storage/index.js';

/**
 * A step held by {@link waitForNewCheckpoint}: its snapshot exists until `release()`. Use it with
 * `await using` (or call `release()` in a `finally`).
 */
export interface CheckpointLease {
  /** The step found, or -1 when the wait timed out. */
  readonly step: number;
  /** The snapshot directory to read the step from (null when `step` is -1). */
  readonly snapshotPath: string | null;
  /** Deletes the snapshot; later calls do nothing. */
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link waitForNewCheckpoint}. */
export interface WaitForNewCheckpointOptions {
  /** Wait for a step ≥ this; without it, the latest step present is returned at once. */
  untilStep?: number;
  /** Seconds between polls (default 1). */
  secondsToSleep?: number;
  /** Give up (step -1) once another sleep would end past this many seconds after the start. */
  timeoutSecs?: number;
  /** Asked at every poll once the deadline is near: true gives up, false keeps waiting. */
  timeoutFn?: () => boolean | Promise<boolean>;
  /** Name format of the steps (used to locate the step found by the legacy scan). */
  stepPrefix?: string;
  stepFormatFixedLength?: number;
  /** Wins over `stepPrefix` / `stepFormatFixedLength`. */
  stepNameFormat?: NameFormat;
  /** Where snapshots go (default `<dir>/_SNAPSHOTS`). */
  snapshotDir?: string;
  /** Only warn when a snapshot to delete is already gone (default true). */
  ignoreSnapshotErrors?: boolean;
  /** Aborting rejects with an `AbortError` and releases any snapshot taken. */
  signal?: AbortSignal;
  /** Object-store configuration (credentials, endpoint...), for URL directories. */
  storageOptions?: StorageOptions;
}

/** Zod schema of the options shared by the waiting functions. */
export const waitOptionsShape = {
  secondsToSleep: z.number().nonnegative().finite().optional(),
  timeoutSecs: z.number().nonnegative().optional(),
  timeoutFn: z.custom<() => boolean | Promise<boolean>>((value) => typeof value === 'function', { message: 'expected a function' }).optional(),
  stepPrefix: z.string().optional(),
  stepFormatFixedLength: z.number().int().nonnegative().optional(),
  stepNameFormat: nameFormatSchema.optional(),
  snapshotDir: z.string().optional(),
  ignoreSnapshotErrors: z.boolean().optional(),
  signal: z.instanceof(AbortSignal).optional(),
  storageOptions: storageOptionsSchema.optional(),
};

const waitOptionsSchema = z.object({ untilStep: z.number().int().optional(), ...waitOptionsShape }).strict();

/** Python `_init_step_name_format`: the given format, else a standard one from prefix/length. */
export function initStepNameFormat(opts: { stepNameFormat?: NameFormat; stepPrefix?: string; stepFormatFixedLength?: number }): NameFormat {
  return (
    opts.stepNameFormat ??
    standardNameFormat({
      ...(opts.stepPrefix !== undefined ? { stepPrefix: opts.stepPrefix } : {}),
      ...(opts.stepFormatFixedLength !== undefined ? { stepFormatFixedLength: opts.stepFormatFixedLength } : {}),
    })
  );
}

/** The snapshot root of `checkpointDir`: `snapshotDir`, else `<checkpointDir>/_SNAPSHOTS`. */
export function snapshotRootOf(checkpointDir: string, snapshotDir: string | undefined): string {
  if (snapshotDir !== undefined) return storageFor(snapshotDir).resolve(snapshotDir);
  const storage = storageFor(checkpointDir);
  return storage.join(storage.resolve(checkpointDir), SNAPSHOTS_DIR);
}

class Lease implements CheckpointLease {
  readonly step: number;
  readonly snapshotPath: string | null;
  #release: (() => Promise<void>) | null;

  constructor(step: number, snapshotPath: string | null, release: (() => Promise<void>) | null) {
    this.step = step;
    this.snapshotPath = snapshotPath;
    this.#release = release;
  }

  async release(): Promise<void> {
    const release = this.#release;
    this.#release = null;
    if (release !== null) await release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

// Immediate re-polls of a step that vanished while being snapshotted, before falling back to
// sleeping between attempts (a writer may still be deleting it).
const IMMEDIATE_RETRIES = 3;

/** Internal knobs for tests. */
export interface WaitInternals {
  linkFile?: LinkFile;
}

/**
 * Python `checkpoint_utils.wait_for_new_checkpoint` (a context manager there; a lease here).
 *
 * Each poll takes the max of the legacy step scan (committed directories named `<digits>` or
 * `…_<digits>`, whatever the name format). Once that max is ≥ `untilStep` (or at once when
 * `untilStep` is not given: this returns the *current latest* step, it does not wait for a new
 * one), the step is looked up with the name format (`InvalidArgumentError: No step path found…`
 * if the scan found e.g. `ckpt_9` and the format has no prefix) and snapshotted to
 * `<snapshotDir or dir/_SNAPSHOTS>/<step name>` (reused if it exists), and the lease is returned.
 *
 * Between polls it sleeps `secondsToSleep`, unless a `timeoutSecs` deadline is set and the sleep
 * would end past it: then it gives up (step -1) without `timeoutFn`, or asks `timeoutFn` and
 * gives up if it answers true. So the effective wait is about `timeoutSecs - secondsToSleep`
 * (`timeoutSecs: 0` gives -1 at once when no step is there).
 *
 * Unlike Orbax, a step that vanishes while being snapshotted (a writer deleting it) is never
 * returned with a partial snapshot: the snapshot is discarded and the directory polled again.
 *
 * URL directories (`s3://…`, `memory://…`, with `storageOptions`) work alike: there a step counts
 * only once its `commit_success.txt` is written, and the snapshot is a copy (see
 * `getSnapshotDirFromStepDir`; `snapshotDir` must then be a URL too).
 */
export async function waitForNewCheckpoint(checkpointDir: string, opts?: WaitForNewCheckpointOptions): Promise<CheckpointLease> {
  return waitForCheckpointWith(checkpointDir, opts, {});
}

/** {@link waitForNewCheckpoint} with internal knobs (not part of the public API). */
export async function waitForCheckpointWith(checkpointDir: string, opts: WaitForNewCheckpointOptions | undefined, internals: WaitInternals): Promise<CheckpointLease> {
  const options = parseOptions(waitOptionsSchema, opts, 'waitForNewCheckpoint options');
  const { storageOptions } = options;
  const storage = storageFor(checkpointDir, storageOptions);
  const dir = storage.resolve(checkpointDir);
  const nameFormat = initStepNameFormat(options);
  const snapshotRoot = snapshotRootOf(dir, options.snapshotDir);
  const ignoreSnapshotErrors = options.ignoreSnapshotErrors ?? true;
  const secondsToSleep = options.secondsToSleep ?? 1;
  const { signal, timeoutFn, untilStep } = options;
  const stopTime = options.timeoutSecs !== undefined ? monotonicSeconds() + options.timeoutSecs : null;

  /** Python `_sleep_and_maybe_exit`: true to stop waiting. */
  const sleepOrStop = async (): Promise<boolean> => {
    if (stopTime !== null && monotonicSeconds() + secondsToSleep > stopTime) {
      if (timeoutFn === undefined) return true;
      const done = await timeoutFn();
      throwIfAborted(signal);
      if (done) return true;
    }
    await abortableSleep(secondsToSleep, signal);
    return false;
  };

  const vanishedAttempts = new Map<number, number>();
  for (;;) {
    throwIfAborted(signal);
    if (!(await storage.exists(dir))) {
      if (await sleepOrStop()) return new Lease(-1, null, null);
      continue;
    }
    const latest = (await checkpointSteps(dir, { storageOptions })).at(-1);
    if (latest === undefined || (untilStep !== undefined && latest < untilStep)) {
      if (await sleepOrStop()) return new Lease(-1, null, null);
      continue;
    }

    let snapshotPath: string;
    try {
      const stepDir = await findStepDir(dir, nameFormat, latest, storageOptions);
      if (stepDir === null) continue; // deleted since the scan: poll again
      snapshotPath = await createSnapshot(stepDir, snapshotRoot, { linkFile: internals.linkFile, storageOptions });
    } catch (error) {
      if (!isVanishedError(error)) throw error;
      const attempts = (vanishedAttempts.get(latest) ?? 0) + 1;
      vanishedAttempts.set(latest, attempts);
      if (attempts > IMMEDIATE_RETRIES && (await sleepOrStop())) return new Lease(-1, null, null);
      continue;
    }
    const step = latest;
    const lease = new Lease(step, snapshotPath, () =>
      releaseSnapshot(snapshotPath, { ignoreErrors: ignoreSnapshotErrors, warning: `Ignoring error when releasing snapshot for step: ${step}`, storageOptions }),
    );
    if (signal?.aborted === true) {
      await lease.release();
      throw new AbortError(undefined, { cause: signal.reason });
    }
    return lease;
  }
}

/**
 * The directory of `step` through the name format; null when the step is no longer in the legacy
 * scan (deleted since); the format's `InvalidArgumentError` when the scan still has it (the
 * format cannot see it, e.g. `ckpt_9` without a prefix: Orbax raises the same ValueError).
 */
async function findStepDir(dir: string, nameFormat: NameFormat, step: number, storageOptions: StorageOptions | undefined): Promise<string | null> {
  try {
    return (await nameFormat.findStep(dir, step, { storageOptions })).path;
  } catch (error) {
    if (error instanceof InvalidArgumentError && !(await checkpointSteps(dir, { storageOptions })).includes(step)) return null;
    throw error;
  }
}
