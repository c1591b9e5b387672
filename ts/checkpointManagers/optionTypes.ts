/**
 * The nested option objects of `CheckpointManagerOptions` (Python `ocp.options.*`), with their
 * zod schemas and 0.12.8 defaults. They belong to `ocp.options` as a whole; they live here until
 * the checkpointers need them too.
 */
import { z } from 'zod';

import type { Coordinator } from '../multiprocess/coordinator.js';

/** Python `AsyncOptions`. */
export interface AsyncOptions {
  /** Seconds a background commit may take (default 1200). */
  timeoutSecs?: number;
  /** Called after each background commit. */
  postFinalizationCallback?: (() => void | Promise<void>) | null;
  /** Create the temporary directories in the background (default true). */
  createDirectoriesAsynchronously?: boolean;
}

/**
 * Python `MultiprocessingOptions`, plus what JAX knows implicitly (this process's index and the
 * process count) and the barrier coordinator. With more than one process, every process calls
 * `save` with the same directory and its own blocks (`ocp.shardedArray`); each writes
 * `ocdbt.process_<index>/`, and the primary merges them and commits once all have written.
 */
export interface MultiprocessingOptions {
  /** The process that creates, merges and commits checkpoints. Default 0. */
  primaryHost?: number | null;
  /** Accepted for Python compatibility; subsets of processes are not supported. */
  activeProcesses?: Iterable<number> | null;
  /**
   * Scopes barrier keys to one run of the job: give every launch of a job a fresh value (a job
   * id), so that markers a crashed run left behind are never mistaken for this run's. Default:
   * `$ORBAX_TS_RUN_ID`, else the launcher's job id (`$SLURM_JOB_ID`, `$TORCHELASTIC_RUN_ID`),
   * else `'default'`.
   */
  barrierSyncKeyPrefix?: string | null;
  /** This process (`jax.process_index()`). Default 0. */
  processIndex?: number;
  /** Number of processes saving together (`jax.process_count()`). Default 1. */
  processCount?: number;
  /** Synchronizes the processes; default: a `StorageCoordinator` next to the checkpoints. */
  coordinator?: Coordinator;
  /** How long a process waits for the others at a barrier, in seconds. Default 300. */
  barrierTimeoutSecs?: number;
}

/** Python `FileOptions`. */
export interface FileOptions {
  /** Permission bits of created directories (`null` = the process default). */
  pathPermissionMode?: number | null;
  /** Skip the "destination exists" check of asynchronous saves (new in 0.12.8). */
  skipSyncFileValidations?: boolean;
}

/** Python `AtomicityMode`. */
export type AtomicityMode = 'auto' | 'commit_file' | 'atomic_rename';

/** Python `AtomicityOptions`. */
export interface AtomicityOptions {
  mode?: AtomicityMode;
  allowLegacyAtomicRename?: boolean;
}

/** {@link AsyncOptions} with defaults applied. */
export interface ResolvedAsyncOptions {
  readonly timeoutSecs: number;
  readonly postFinalizationCallback: (() => void | Promise<void>) | null;
  readonly createDirectoriesAsynchronously: boolean;
}

/** {@link MultiprocessingOptions} with defaults applied. */
export interface ResolvedMultiprocessingOptions {
  readonly primaryHost: number | null;
  readonly activeProcesses: ReadonlySet<number> | null;
  readonly barrierSyncKeyPrefix: string | null;
}

/** {@link FileOptions} with defaults applied. */
export interface ResolvedFileOptions {
  readonly pathPermissionMode: number | null;
  readonly skipSyncFileValidations: boolean;
}

/** {@link AtomicityOptions} with defaults applied. */
export interface ResolvedAtomicityOptions {
  readonly mode: AtomicityMode;
  readonly allowLegacyAtomicRename: boolean;
}

const callbackSchema = z.custom<() => void | Promise<void>>((value) => typeof value === 'function', {
  message: 'Expected a function',
});

const iterableSchema = z.custom<Iterable<unknown>>(
  (value) =>
    typeof value === 'object' && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function',
  { message: 'Expected an iterable of integers' },
);

export const asyncOptionsSchema = z
  .object({
    timeoutSecs: z.number().positive().optional(),
    postFinalizationCallback: callbackSchema.nullable().optional(),
    createDirectoriesAsynchronously: z.boolean().optional(),
  })
  .strict();

export const multiprocessingOptionsSchema = z
  .object({
    primaryHost: z.number().int().nonnegative().nullable().optional(),
    activeProcesses: iterableSchema
      .transform((value) => [...value])
      .pipe(z.array(z.number().int().nonnegative()))
      .nullable()
      .optional(),
    barrierSyncKeyPrefix: z.string().nullable().optional(),
    processIndex: z.number().int().nonnegative().optional(),
    processCount: z.number().int().positive().optional(),
    coordinator: z
      .custom<Coordinator>((v) => typeof (v as { barrier?: unknown } | null)?.barrier === 'function', 'a Coordinator (an object with a barrier method)')
      .optional(),
    barrierTimeoutSecs: z.number().positive().optional(),
  })
  .strict();

export const fileOptionsSchema = z
  .object({
    pathPermissionMode: z.number().int().min(0).max(0o7777).nullable().optional(),
    skipSyncFileValidations: z.boolean().optional(),
  })
  .strict();

export const atomicityOptionsSchema = z
  .object({
    mode: z.enum(['auto', 'commit_file', 'atomic_rename']).optional(),
    allowLegacyAtomicRename: z.boolean().optional(),
  })
  .strict();

/** Applies the defaults of `AsyncOptions()` (to an already validated value). */
export function resolveAsyncOptions(options: z.infer<typeof asyncOptionsSchema> | null | undefined): ResolvedAsyncOptions {
  return Object.freeze({
    timeoutSecs: options?.timeoutSecs ?? 1200,
    postFinalizationCallback: options?.postFinalizationCallback ?? null,
    createDirectoriesAsynchronously: options?.createDirectoriesAsynchronously ?? true,
  });
}

/** Applies the defaults of `MultiprocessingOptions()` (to an already validated value). */
export function resolveMultiprocessingOptions(
  options: z.infer<typeof multiprocessingOptionsSchema> | undefined,
): ResolvedMultiprocessingOptions {
  const active = options?.activeProcesses;
  return Object.freeze({
    // An explicit null means "no primary host" in Python; only an absent value takes the default.
    primaryHost: options?.primaryHost === undefined ? 0 : options.primaryHost,
    activeProcesses: active === null || active === undefined ? null : new Set(active),
    barrierSyncKeyPrefix: options?.barrierSyncKeyPrefix ?? null,
  });
}

/** Applies the defaults of `FileOptions()` (to an already validated value). */
export function resolveFileOptions(options: z.infer<typeof fileOptionsSchema> | undefined): ResolvedFileOptions {
  return Object.freeze({
    pathPermissionMode: options?.pathPermissionMode ?? null,
    skipSyncFileValidations: options?.skipSyncFileValidations ?? false,
  });
}

/** Applies the defaults of `AtomicityOptions()` (to an already validated value; `null` = AUTO). */
export function resolveAtomicityOptions(
  options: z.infer<typeof atomicityOptionsSchema> | null | undefined,
): ResolvedAtomicityOptions {
  return Object.freeze({
    mode: options?.mode ?? 'auto',
    allowLegacyAtomicRename: options?.allowLegacyAtomicRename ?? false,
  });
}
