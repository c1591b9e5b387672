/**
 * `CheckpointManagerOptions` (Python `ocp.CheckpointManagerOptions`, 0.12.8): the options object,
 * its validation, the read-only overrides, and the save-decision and preservation policies Orbax
 * derives from the individual options.
 */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';
import type { MetricFn } from './metricOrder.js';
import {
  type AsyncOptions,
  asyncOptionsSchema,
  type AtomicityOptions,
  atomicityOptionsSchema,
  type FileOptions,
  fileOptionsSchema,
  type MultiprocessingOptions,
  multiprocessingOptionsSchema,
  type ResolvedAsyncOptions,
  type ResolvedAtomicityOptions,
  type ResolvedFileOptions,
  type ResolvedMultiprocessingOptions,
  resolveAsyncOptions,
  resolveAtomicityOptions,
  resolveFileOptions,
  resolveMultiprocessingOptions,
} from './optionTypes.js';
import type { PreservationPolicy, SaveDecisionPolicy } from './policyTypes.js';
import {
  AnyPreservationPolicy,
  BestN,
  EveryNSeconds,
  EveryNSteps,
  LatestN,
  preservationPolicySchema,
} from './preservationPolicy.js';
import {
  AnySavePolicy,
  FixedIntervalPolicy,
  InitialSavePolicy,
  PreemptionCheckpointingPolicy,
  saveDecisionPolicySchema,
  ShouldSaveFnPolicy,
  SpecificStepsPolicy,
} from './saveDecisionPolicy.js';
import { validated } from './validate.js';

/**
 * The part of a step-name format the options carry (`path.step.NameFormat`: `buildName`,
 * `findAll`, `findStep`). Any `NameFormat` object fits.
 */
export interface StepNameFormatLike {
  buildName(step: number): string;
  findAll(basePath: string): Promise<readonly unknown[]>;
  findStep(basePath: string, step: number): Promise<unknown>;
}

/** `shouldSaveFn(step, lastSavedStep)`: `lastSavedStep` is `null` before the first save. */
export type ShouldSaveFn = (step: number, lastSavedStep: number | null) => boolean;

/**
 * Options of `CheckpointManager` (Python `CheckpointManagerOptions`, camelCase). Every field is
 * optional; `resolveManagerOptions` applies the 0.12.8 defaults noted on each.
 */
export interface CheckpointManagerOptions {
  /** Save steps that are multiples of this (default 1). `0` is rejected unless read-only. */
  saveIntervalSteps?: number | null;
  /** Keep the newest (or, with `bestFn`, the best) this many steps (default: all). */
  maxToKeep?: number | null;
  /**
   * Also keep a step whenever this long has passed since the last one kept this way. Orbax
   * works in whole seconds: the value is truncated to seconds (2500 ms keeps every ≥ 2 s).
   */
  keepTimeIntervalMs?: number | null;
  /** Also keep every step that is a multiple of this. */
  keepPeriod?: number | null;
  /** Ranks steps by their metrics; enables the `metrics` item and best-N retention. */
  bestFn?: MetricFn | null;
  /** `'max'` (default): larger `bestFn` is better; `'min'`: smaller is better. */
  bestMode?: 'max' | 'min';
  /** Never delete steps saved without metrics when `bestFn` is set (default true). */
  keepCheckpointsWithoutMetrics?: boolean;
  /** Step directories are named `<prefix>_<step>`. */
  stepPrefix?: string | null;
  /** Zero-pad step numbers to at least this many digits. */
  stepFormatFixedLength?: number | null;
  /** A step-name format that replaces `stepPrefix`/`stepFormatFixedLength`. */
  stepNameFormat?: StepNameFormatLike | null;
  /** Create the root directory (default true; forced false when read-only). */
  create?: boolean;
  /** Delete temporary entries of the root at construction (default false). */
  cleanupTmpDirectories?: boolean;
  /** Also save these steps (default none). */
  saveOnSteps?: Iterable<number> | null;
  /** Multi-host listing; ignored (single process). */
  singleHostLoadAndBroadcast?: boolean;
  /** Rename deleted steps into `<root>/<todeleteSubdir>/` instead of deleting them. */
  todeleteSubdir?: string | null;
  /**
   * Soft delete on object stores (Python's GCS variant of `todeleteSubdir`): deleted steps are
   * moved to `<scheme>://<bucket>/<todeleteFullPath>/<step name>-<UTC timestamp>`. A path
   * relative to the bucket root; the manager's root must be an object-store URL.
   */
  todeleteFullPath?: string | null;
  /** Delete old steps in the background (default false). */
  enableBackgroundDelete?: boolean;
  /** Parallelism hint for deletions. */
  numDeletionThreads?: number | null;
  /** Never save or delete (default false); see the overrides in `resolveManagerOptions`. */
  readOnly?: boolean;
  /** Commit saves in the background (default true). */
  enableAsyncCheckpointing?: boolean;
  /** Options of the background commit (default `AsyncOptions()`: timeout 1200 s). */
  asyncOptions?: AsyncOptions | null;
  /** Accepted; orbax-ts is the single process 0. */
  multiprocessingOptions?: MultiprocessingOptions;
  /** Replaces `saveIntervalSteps`, `saveOnSteps` and the initial save. */
  shouldSaveFn?: ShouldSaveFn | null;
  fileOptions?: FileOptions;
  /** Default: AUTO (atomic rename on local paths). */
  atomicityOptions?: AtomicityOptions | null;
  /** Write `<root>/metadata/_ROOT_METADATA` when root metadata is given (default true). */
  saveRootMetadata?: boolean;
  /** Replaces every save-gating option. */
  saveDecisionPolicy?: SaveDecisionPolicy | null;
  /** Replaces every retention option; exclusive with `maxToKeep`/`keepPeriod`/`keepTimeIntervalMs`. */
  preservationPolicy?: PreservationPolicy | null;
  /** Do not write the `metrics` item (metrics still drive retention in memory). Default false. */
  preventWriteMetrics?: boolean;
  /** Tell the save policy whether a save is in progress (default true). */
  enableShouldSaveIsSavingInProgressCheck?: boolean;
  /** Multi-process; ignored. */
  enablePerProcessDirectoryCreation?: boolean;
  /** Do not read per-step metadata when loading steps (default false). */
  lightweightInitialize?: boolean;
}

/**
 * {@link CheckpointManagerOptions} after validation, defaults and read-only overrides.
 * `saveDecisionPolicy` and `preservationPolicy` are the effective policies (the user's, or the
 * ones derived from the other options).
 */
export interface ResolvedCheckpointManagerOptions {
  readonly saveIntervalSteps: number | null;
  readonly maxToKeep: number | null;
  readonly keepTimeIntervalMs: number | null;
  readonly keepPeriod: number | null;
  readonly bestFn: MetricFn | null;
  readonly bestMode: 'max' | 'min';
  readonly keepCheckpointsWithoutMetrics: boolean;
  readonly stepPrefix: string | null;
  readonly stepFormatFixedLength: number | null;
  readonly stepNameFormat: StepNameFormatLike | null;
  readonly create: boolean;
  readonly cleanupTmpDirectories: boolean;
  readonly saveOnSteps: ReadonlySet<number>;
  readonly singleHostLoadAndBroadcast: boolean;
  readonly todeleteSubdir: string | null;
  readonly todeleteFullPath: string | null;
  readonly enableBackgroundDelete: boolean;
  readonly numDeletionThreads: number | null;
  readonly readOnly: boolean;
  readonly enableAsyncCheckpointing: boolean;
  readonly asyncOptions: ResolvedAsyncOptions;
  readonly multiprocessingOptions: ResolvedMultiprocessingOptions;
  readonly shouldSaveFn: ShouldSaveFn | null;
  readonly fileOptions: ResolvedFileOptions;
  readonly atomicityOptions: ResolvedAtomicityOptions;
  readonly saveRootMetadata: boolean;
  readonly saveDecisionPolicy: SaveDecisionPolicy;
  readonly preservationPolicy: PreservationPolicy;
  readonly preventWriteMetrics: boolean;
  readonly enableShouldSaveIsSavingInProgressCheck: boolean;
  readonly enablePerProcessDirectoryCreation: boolean;
  readonly lightweightInitialize: boolean;
}

/** Where {@link resolveManagerOptions} reports the options it overrides. */
export interface ResolveManagerOptionsHooks {
  /** Default `console.warn`. */
  warn?: (message: string) => void;
}

const functionSchema = <T>() =>
  z.custom<T>((value) => typeof value === 'function', { message: 'Expected a function' });

const nameFormatSchema = z.custom<StepNameFormatLike>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    ['buildName', 'findAll', 'findStep'].every(
      (method) => typeof (value as Record<string, unknown>)[method] === 'function',
    ),
  { message: 'Expected a NameFormat (an object with buildName, findAll and findStep methods)' },
);

const stepsSchema = z
  .custom<Iterable<unknown>>(
    (value) =>
      typeof value === 'object' && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function',
    { message: 'Expected an iterable of integer steps' },
  )
  .transform((value) => [...value])
  .pipe(z.array(z.number().int()));

const optionsSchema = z
  .object({
    saveIntervalSteps: z.number().int().nullable().optional(),
    // Range checks with Orbax's messages come after the structural ones.
    maxToKeep: z.number().int().nullable().optional(),
    keepTimeIntervalMs: z.number().nullable().optional(),
    keepPeriod: z.number().int().nullable().optional(),
    bestFn: functionSchema<MetricFn>().nullable().optional(),
    bestMode: z.unknown().optional(),
    keepCheckpointsWithoutMetrics: z.boolean().optional(),
    stepPrefix: z.string().nullable().optional(),
    stepFormatFixedLength: z.number().int().nonnegative().nullable().optional(),
    stepNameFormat: nameFormatSchema.nullable().optional(),
    create: z.boolean().optional(),
    cleanupTmpDirectories: z.boolean().optional(),
    saveOnSteps: stepsSchema.nullable().optional(),
    singleHostLoadAndBroadcast: z.boolean().optional(),
    todeleteSubdir: z.string().nullable().optional(),
    todeleteFullPath: z.string().nullable().optional(),
    enableBackgroundDelete: z.boolean().optional(),
    numDeletionThreads: z.number().int().positive().nullable().optional(),
    readOnly: z.boolean().optional(),
    enableAsyncCheckpointing: z.boolean().optional(),
    asyncOptions: asyncOptionsSchema.nullable().optional(),
    multiprocessingOptions: multiprocessingOptionsSchema.optional(),
    shouldSaveFn: functionSchema<ShouldSaveFn>().nullable().optional(),
    fileOptions: fileOptionsSchema.optional(),
    atomicityOptions: atomicityOptionsSchema.nullable().optional(),
    saveRootMetadata: z.boolean().optional(),
    saveDecisionPolicy: saveDecisionPolicySchema.nullable().optional(),
    preservationPolicy: preservationPolicySchema.nullable().optional(),
    preventWriteMetrics: z.boolean().optional(),
    enableShouldSaveIsSavingInProgressCheck: z.boolean().optional(),
    enablePerProcessDirectoryCreation: z.boolean().optional(),
    lightweightInitialize: z.boolean().optional(),
  })
  .strict();

/**
 * Validates `options`, applies the defaults and read-only overrides, and derives the effective
 * policies, in the order of Orbax 0.12.8 (`CheckpointManagerOptions.__post_init__`, then
 * `CheckpointManager.__init__`), so that the same first error is reported. Throws
 * {@link InvalidArgumentError}.
 *
 * Read-only (`readOnly: true`) forces, warning for each one that was set: `saveIntervalSteps`
 * 0, `maxToKeep`/`keepTimeIntervalMs`/`keepPeriod` null, `create` false,
 * `cleanupTmpDirectories` false, `saveOnSteps` none, `todeleteSubdir`/`todeleteFullPath` null,
 * `shouldSaveFn` null.
 *
 * Deliberate divergences: `saveIntervalSteps: 0` (api.md §11) and, by the same reasoning,
 * `keepPeriod: 0` are rejected here when they would be used, where Orbax fails only later, in
 * `should_save` (ZeroDivisionError) or after writing a step (ValueError).
 */
export function resolveManagerOptions(
  options: CheckpointManagerOptions = {},
  hooks: ResolveManagerOptionsHooks = {},
): ResolvedCheckpointManagerOptions {
  const warn = hooks.warn ?? ((message: string) => console.warn(message));
  const o = validated(optionsSchema, options ?? {}, 'CheckpointManagerOptions');

  const bestMode = o.bestMode === undefined ? 'max' : o.bestMode;
  if (bestMode !== 'max' && bestMode !== 'min') {
    throw new InvalidArgumentError(
      `\`CheckpointManagerOptions.bestMode\` must be one of 'min' or 'max'. Got ${String(bestMode)}.`,
    );
  }
  const preservationPolicy = o.preservationPolicy ?? null;
  let maxToKeep = o.maxToKeep ?? null;
  if (preservationPolicy === null && maxToKeep !== null && maxToKeep < 0) {
    throw new InvalidArgumentError('Setting of `maxToKeep` must be null or non-negative.');
  }

  const readOnly = o.readOnly ?? false;
  let saveIntervalSteps = o.saveIntervalSteps === undefined ? 1 : o.saveIntervalSteps;
  let keepTimeIntervalMs = o.keepTimeIntervalMs ?? null;
  let keepPeriod = o.keepPeriod ?? null;
  let create = o.create ?? true;
  let cleanupTmpDirectories = o.cleanupTmpDirectories ?? false;
  let saveOnSteps = o.saveOnSteps ?? null;
  let todeleteSubdir = o.todeleteSubdir ?? null;
  let todeleteFullPath = o.todeleteFullPath ?? null;
  let shouldSaveFn = o.shouldSaveFn ?? null;
  const overridden = (setting: string) => warn(`CheckpointManagerOptions.readOnly=true, setting ${setting}.`);
  if (readOnly) {
    if (saveIntervalSteps !== null && saveIntervalSteps > 0) {
      saveIntervalSteps = 0;
      overridden('saveIntervalSteps=0');
    }
    if (maxToKeep !== null) {
      maxToKeep = null;
      overridden('maxToKeep=null');
    }
    if (keepTimeIntervalMs !== null) {
      keepTimeIntervalMs = null;
      overridden('keepTimeIntervalMs=null');
    }
    if (keepPeriod !== null) {
      keepPeriod = null;
      overridden('keepPeriod=null');
    }
    if (create) {
      create = false;
      overridden('create=false');
    }
    if (cleanupTmpDirectories) {
      cleanupTmpDirectories = false;
      overridden('cleanupTmpDirectories=false');
    }
    // Python tests truthiness here: an empty collection is dropped without a warning.
    if (saveOnSteps !== null && saveOnSteps.length > 0) {
      saveOnSteps = null;
      overridden('saveOnSteps=null');
    }
    if (todeleteSubdir !== null) {
      todeleteSubdir = null;
      overridden('todeleteSubdir=null');
    }
    if (todeleteFullPath !== null) {
      todeleteFullPath = null;
      overridden('todeleteFullPath=null');
    }
  }
  if (todeleteSubdir !== null && todeleteFullPath !== null) {
    throw new InvalidArgumentError('todeleteSubdir and todeleteFullPath both cannot be set together.');
  }
  const multiprocessingOptions = resolveMultiprocessingOptions(o.multiprocessingOptions);
  const enablePerProcessDirectoryCreation = o.enablePerProcessDirectoryCreation ?? false;
  if (enablePerProcessDirectoryCreation && multiprocessingOptions.primaryHost !== null) {
    throw new InvalidArgumentError(
      'enablePerProcessDirectoryCreation can only be used when multiprocessingOptions.primaryHost is null.',
    );
  }
  if (readOnly && shouldSaveFn !== null) {
    shouldSaveFn = null;
    overridden('shouldSaveFn=null');
  }
  const saveOnStepsSet: ReadonlySet<number> = new Set(saveOnSteps ?? []);

  const saveDecisionPolicy =
    o.saveDecisionPolicy ??
    defaultSaveDecisionPolicy({ shouldSaveFn, saveIntervalSteps, saveOnSteps: saveOnStepsSet, readOnly });

  // Orbax tests truthiness: 0 (or a zero interval) does not conflict with a preservation policy.
  if (preservationPolicy !== null && (keepTimeIntervalMs || maxToKeep || keepPeriod)) {
    throw new InvalidArgumentError(
      '`preservationPolicy` and `delete options` (maxToKeep, keepPeriod, keepTimeIntervalMs) are mutually exclusive - do not use together.',
    );
  }
  const bestFn = o.bestFn ?? null;
  const keepCheckpointsWithoutMetrics = o.keepCheckpointsWithoutMetrics ?? true;
  const effectivePreservationPolicy =
    preservationPolicy ??
    defaultPreservationPolicy({ keepPeriod, keepTimeIntervalMs, bestFn, bestMode, maxToKeep, keepCheckpointsWithoutMetrics });

  return Object.freeze({
    saveIntervalSteps,
    maxToKeep,
    keepTimeIntervalMs,
    keepPeriod,
    bestFn,
    bestMode,
    keepCheckpointsWithoutMetrics,
    stepPrefix: o.stepPrefix ?? null,
    stepFormatFixedLength: o.stepFormatFixedLength ?? null,
    stepNameFormat: o.stepNameFormat ?? null,
    create,
    cleanupTmpDirectories,
    saveOnSteps: saveOnStepsSet,
    singleHostLoadAndBroadcast: o.singleHostLoadAndBroadcast ?? false,
    todeleteSubdir,
    todeleteFullPath,
    enableBackgroundDelete: o.enableBackgroundDelete ?? false,
    numDeletionThreads: o.numDeletionThreads ?? null,
    readOnly,
    enableAsyncCheckpointing: o.enableAsyncCheckpointing ?? true,
    asyncOptions: resolveAsyncOptions(o.asyncOptions),
    multiprocessingOptions,
    shouldSaveFn,
    fileOptions: resolveFileOptions(o.fileOptions),
    atomicityOptions: resolveAtomicityOptions(o.atomicityOptions),
    saveRootMetadata: o.saveRootMetadata ?? true,
    saveDecisionPolicy,
    preservationPolicy: effectivePreservationPolicy,
    preventWriteMetrics: o.preventWriteMetrics ?? false,
    enableShouldSaveIsSavingInProgressCheck: o.enableShouldSaveIsSavingInProgressCheck ?? true,
    enablePerProcessDirectoryCreation,
    lightweightInitialize: o.lightweightInitialize ?? false,
  });
}

/**
 * Orbax's default save policy: with `shouldSaveFn`, Any(shouldSaveFn, preemption); otherwise
 * Any(FixedInterval(saveIntervalSteps) unless null, SpecificSteps(saveOnSteps), preemption,
 * initial save).
 */
function defaultSaveDecisionPolicy(o: {
  shouldSaveFn: ShouldSaveFn | null;
  saveIntervalSteps: number | null;
  saveOnSteps: ReadonlySet<number>;
  readOnly: boolean;
}): SaveDecisionPolicy {
  if (o.shouldSaveFn !== null) {
    return new AnySavePolicy([new ShouldSaveFnPolicy(o.shouldSaveFn), new PreemptionCheckpointingPolicy()]);
  }
  const policies: SaveDecisionPolicy[] = [];
  if (o.saveIntervalSteps !== null) {
    // A read-only manager carries interval 0 but never asks its policy.
    if (o.saveIntervalSteps === 0 && !o.readOnly) {
      throw new InvalidArgumentError(
        '`saveIntervalSteps` must not be 0 (Orbax divides by it when deciding whether to save); use readOnly: true for a manager that never saves.',
      );
    }
    policies.push(new FixedIntervalPolicy(o.saveIntervalSteps));
  }
  policies.push(new SpecificStepsPolicy(o.saveOnSteps));
  policies.push(new PreemptionCheckpointingPolicy());
  policies.push(new InitialSavePolicy());
  return new AnySavePolicy(policies);
}

/**
 * Orbax's default preservation policy: Any(EveryNSteps(keepPeriod) if set,
 * EveryNSeconds(whole seconds of keepTimeIntervalMs) if set, BestN(bestFn, reverse = min mode,
 * n = maxToKeep, keepCheckpointsWithoutMetrics) if `bestFn` else LatestN(maxToKeep)).
 */
function defaultPreservationPolicy(o: {
  keepPeriod: number | null;
  keepTimeIntervalMs: number | null;
  bestFn: MetricFn | null;
  bestMode: 'max' | 'min';
  maxToKeep: number | null;
  keepCheckpointsWithoutMetrics: boolean;
}): PreservationPolicy {
  const policies: PreservationPolicy[] = [];
  if (o.keepPeriod !== null) {
    if (o.keepPeriod === 0) {
      throw new InvalidArgumentError(
        '`keepPeriod` must not be 0 (Orbax fails with "interval_steps must not be 0." after writing the step).',
      );
    }
    policies.push(new EveryNSteps(o.keepPeriod));
  }
  if (o.keepTimeIntervalMs !== null) {
    // Python: int(keep_time_interval.total_seconds()), truncating towards zero.
    policies.push(new EveryNSeconds(Math.trunc(o.keepTimeIntervalMs / 1000)));
  }
  if (o.bestFn !== null) {
    policies.push(
      new BestN({
        getMetricFn: o.bestFn,
        reverse: o.bestMode === 'min',
        n: o.maxToKeep,
        keepCheckpointsWithoutMetrics: o.keepCheckpointsWithoutMetrics,
      }),
    );
  } else {
    policies.push(new LatestN(o.maxToKeep));
  }
  return new AnyPreservationPolicy(policies);
}
