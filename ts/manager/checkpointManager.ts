/**
 * `CheckpointManager`: a series of steps under one root, saved every N steps, pruned by the
 * retention policies, restorable by step, laid out exactly as Orbax 0.12.8 lays them out
 * (orbax-layout §2.5, §10). Every step is a composite checkpoint: the single-item mode stores the
 * item as `default/`, metrics (with `bestFn`) go to a `metrics` JSON item.
 *
 * Saving is asynchronous by default: `save()` resolves once the inputs are captured, the step
 * commits in the background, old steps are deleted only after the new one committed, and a
 * background failure surfaces in `waitUntilFinished()`, `checkForErrors()` or the next call. A
 * pending save keeps Node alive until it commits; a process killed mid-save leaves only a
 * `<step>.orbax-checkpoint-tmp` directory, which the manager ignores (and removes with
 * `cleanupTmpDirectories`).
 */
import { rename } from 'node:fs/promises';

import { z } from 'zod';

import { CheckpointArgs } from '../args/checkpointArgs.js';
import { Composite, isComposite } from '../args/composite.js';
import { JsonSave } from '../args/json.js';
import { AsyncCheckpointer } from '../checkpointers/asyncCheckpointer.js';
import { BackgroundSaves } from '../checkpointers/backgroundSaves.js';
import { Checkpointer } from '../checkpointers/checkpointer.js';
import { bestStep as bestOf } from '../checkpointManagers/bestStep.js';
import { type CheckpointManagerOptions, type ResolvedCheckpointManagerOptions, resolveManagerOptions } from '../checkpointManagers/managerOptions.js';
import type { PolicyCheckpointInfo } from '../checkpointManagers/policyTypes.js';
import { stepsToDelete } from '../checkpointManagers/retention.js';
import { shouldSaveStep } from '../checkpointManagers/saveGate.js';
import { callNative, InvalidArgumentError, NotFoundError, StepAlreadyExistsError } from '../errors.js';
import { type CheckpointHandler, isHandler } from '../handlers/checkpointHandler.js';
import { CompositeCheckpointHandler } from '../handlers/compositeCheckpointHandler.js';
import { CheckpointHandlerRegistry } from '../handlers/handlerRegistry.js';
import { JsonCheckpointHandler } from '../handlers/jsonCheckpointHandler.js';
import type { StepMetadata } from '../metadata/types.js';
import { native } from '../native.js';
import { type AtomicityOptions, COMMIT_SUCCESS_FILE, isCheckpointFinalized, resolveAtomicityMode, TMP_DIR_SUFFIX } from '../path/atomicity.js';
import { checkpointSteps } from '../path/legacySteps.js';
import { buildStepPath, type NameFormat, standardNameFormat } from '../path/nameFormat.js';
import { cleanupTmpDirectories } from '../path/tmpPaths.js';
import { isPlainObject } from '../tree/pytree.js';
import { fromTaggedJson, toTaggedJson } from '../tree/pyValue.js';
import { type TransferOptions, transferOf, transferOptionsShape } from '../transfer.js';
import { parseOptions } from '../validation.js';
import { resolveMultiprocessing } from '../multiprocess/multiprocessingOptions.js';
import { type Storage, storageFor, type StorageOptions, storageOptionsSchema } from '../storage/index.js';

/** The single item's name (Orbax's `DEFAULT_ITEM_NAME`). */
export const DEFAULT_ITEM_NAME = 'default';
/** The item (and file) name of a step's metrics. */
export const METRICS_ITEM_NAME = 'metrics';
const ROOT_METADATA_DIR = 'metadata';
const ROOT_METADATA_FILE = '_ROOT_METADATA';

/** Constructor options of {@link CheckpointManager}. */
export interface CheckpointManagerInit {
  options?: CheckpointManagerOptions;
  /** Root metadata, written once to `<root>/metadata/_ROOT_METADATA` (never overwritten). */
  metadata?: Record<string, unknown>;
  /** Handlers per item and args class; exclusive with `itemNames` / `itemHandlers`. */
  handlerRegistry?: CheckpointHandlerRegistry;
  /** Item names of a multi-item manager (deprecated in Orbax). */
  itemNames?: string[];
  /** The handler of the single item, or item name → handler. */
  itemHandlers?: CheckpointHandler | Record<string, CheckpointHandler>;
  /**
   * Object-store configuration (credentials, region, endpoint...) when `directory` is a URL
   * (`s3://bucket/run`, `gs://`, `az://`, `memory://`). Steps there are written in place and
   * committed by `commit_success.txt`.
   */
  storageOptions?: StorageOptions;
}

const initSchema = z
  .object({
    options: z.unknown().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    handlerRegistry: z.instanceof(CheckpointHandlerRegistry).optional(),
    itemNames: z.array(z.string().min(1)).optional(),
    itemHandlers: z.union([z.custom<CheckpointHandler>(isHandler), z.record(z.string(), z.custom<CheckpointHandler>(isHandler))]).optional(),
    storageOptions: storageOptionsSchema.optional(),
  })
  .strict();

/** Options of {@link CheckpointManager.save}. */
export interface ManagerSaveOptions extends TransferOptions {
  /** JSON metrics of this step (kept in the `metrics` item when `bestFn` is set). */
  metrics?: Record<string, unknown>;
  /** Save even if the save policy says no (never overwrites a known step). */
  force?: boolean;
  /** `custom_metadata` of the step's `_CHECKPOINT_METADATA`. */
  customMetadata?: Record<string, unknown>;
  /** Lend the arrays to the background write instead of copying them (see `AsyncCheckpointer`). */
  lendArrays?: boolean;
}

const saveSchema = z
  .object({
    metrics: z.record(z.string(), z.unknown()).optional(),
    force: z.boolean().optional(),
    customMetadata: z.record(z.string(), z.unknown()).optional(),
    lendArrays: z.boolean().optional(),
    ...transferOptionsShape,
  })
  .strict();

/** Root metadata (Python `RootMetadata`). */
export interface RootMetadata {
  readonly internalMetadata: Record<string, unknown>;
  readonly customMetadata: Record<string, unknown>;
}

type ItemMode = 'default' | 'composite';

function warn(message: string): void {
  console.warn(`orbax-ts: ${message}`);
}

/** Mirrors `ocp.CheckpointManager`. Prefer `await CheckpointManager.open(...)`. */
export class CheckpointManager {
  readonly directory: string;
  /** Settles when the initial scan of the root is done. */
  readonly ready: Promise<void>;
  readonly #options: ResolvedCheckpointManagerOptions;
  readonly #nameFormat: NameFormat;
  readonly #handler: CompositeCheckpointHandler;
  readonly #checkpointer: Checkpointer<CompositeCheckpointHandler> | AsyncCheckpointer<CompositeCheckpointHandler>;
  readonly #background = new BackgroundSaves();
  readonly #atomicity: AtomicityOptions;
  readonly #storage: Storage;
  readonly #storageOptions: StorageOptions | undefined;
  #mode: ItemMode | undefined;
  #checkpoints: PolicyCheckpointInfo[] = [];
  #initialized = false;
  /** This process in a multi-process job: only the primary cleans up, deletes and writes root metadata. */
  readonly #isPrimary: boolean;

  constructor(directory: string, init: CheckpointManagerInit = {}) {
    if (typeof directory !== 'string' || directory.length === 0) {
      throw new InvalidArgumentError('CheckpointManager takes a directory path.');
    }
    const parsed = parseOptions(initSchema, init, 'CheckpointManager arguments');
    this.#storageOptions = parsed.storageOptions;
    this.#storage = storageFor(directory, parsed.storageOptions);
    this.directory = this.#storage.resolve(directory);
    this.#options = resolveManagerOptions((parsed.options ?? {}) as CheckpointManagerOptions, { warn });
    const o = this.#options;
    if (o.todeleteFullPath !== null) {
      const full = o.todeleteFullPath;
      if (!full || full.startsWith('/') || full.split('/').includes('..') || full.includes('://')) {
        throw new InvalidArgumentError('todelete_full_path must be a relative bucket path.');
      }
      if (this.#storage.kind !== 'object') {
        throw new InvalidArgumentError('todeleteFullPath moves deleted steps within an object-store bucket; use todeleteSubdir for a local root.');
      }
    }
    this.#atomicity = { mode: o.atomicityOptions.mode, allowLegacyAtomicRename: o.atomicityOptions.allowLegacyAtomicRename };
    this.#nameFormat =
      (o.stepNameFormat as NameFormat | null) ??
      standardNameFormat({
        ...(o.stepPrefix !== null ? { stepPrefix: o.stepPrefix } : {}),
        ...(o.stepFormatFixedLength !== null ? { stepFormatFixedLength: o.stepFormatFixedLength } : {}),
        atomicityOptions: this.#atomicity,
      });
    const metricsHandler = new JsonCheckpointHandler({ filename: METRICS_ITEM_NAME });
    if (parsed.handlerRegistry) {
      if (parsed.itemNames || parsed.itemHandlers) {
        throw new InvalidArgumentError('handlerRegistry is mutually exclusive with itemNames and itemHandlers.');
      }
      const registry = new CheckpointHandlerRegistry(parsed.handlerRegistry);
      if (!registry.has(METRICS_ITEM_NAME, JsonSave)) registry.add(METRICS_ITEM_NAME, JsonSave, metricsHandler);
      this.#handler = new CompositeCheckpointHandler({ handlerRegistry: registry });
    } else if (parsed.itemHandlers && isHandler(parsed.itemHandlers)) {
      this.#mode = 'default';
      this.#handler = new CompositeCheckpointHandler({ items: { [DEFAULT_ITEM_NAME]: parsed.itemHandlers, [METRICS_ITEM_NAME]: metricsHandler } });
    } else {
      const items = (parsed.itemHandlers ?? {}) as Record<string, CheckpointHandler>;
      if (parsed.itemNames || parsed.itemHandlers) this.#mode = 'composite';
      this.#handler = new CompositeCheckpointHandler({
        items: { ...items, [METRICS_ITEM_NAME]: metricsHandler },
        ...(parsed.itemNames ? { itemNames: [...parsed.itemNames, ...Object.keys(items), METRICS_ITEM_NAME] } : {}),
      });
    }
    const multiprocessingOptions = (parsed.options as CheckpointManagerOptions | undefined)?.multiprocessingOptions;
    this.#isPrimary = resolveMultiprocessing(multiprocessingOptions).isPrimary;
    const processes = multiprocessingOptions !== undefined ? { multiprocessingOptions } : {};
    this.#checkpointer = o.enableAsyncCheckpointing
      ? new AsyncCheckpointer(this.#handler, { asyncOptions: { timeoutSecs: o.asyncOptions.timeoutSecs }, atomicityOptions: this.#atomicity, ...this.#storageOption(), ...processes })
      : new Checkpointer(this.#handler, { atomicityOptions: this.#atomicity, ...this.#storageOption(), ...processes });
    this.ready = this.#initialize(parsed.metadata);
    this.ready.catch(() => undefined);
  }

  /** `{ storageOptions }` when there are some (for options objects that omit absent keys). */
  #storageOption(): { storageOptions?: StorageOptions } {
    return this.#storageOptions !== undefined ? { storageOptions: this.#storageOptions } : {};
  }

  /** Constructs a manager and waits for its initial scan of the root. */
  static async open(directory: string, init: CheckpointManagerInit = {}): Promise<CheckpointManager> {
    const manager = new CheckpointManager(directory, init);
    await manager.ready;
    return manager;
  }

  async #initialize(metadata: Record<string, unknown> | undefined): Promise<void> {
    const o = this.#options;
    const storage = this.#storage;
    if (o.create) await storage.makeDirectory(this.directory);
    if (o.cleanupTmpDirectories && this.#isPrimary && (await storage.exists(this.directory))) await this.#cleanupTmpDirectories();
    if (metadata !== undefined && o.saveRootMetadata && !o.readOnly && this.#isPrimary) {
      const file = storage.join(this.directory, ROOT_METADATA_DIR, ROOT_METADATA_FILE);
      if (!(await storage.exists(file))) {
        await storage.makeDirectory(storage.parent(file));
        const value = toTaggedJson({ internal_metadata: {}, custom_metadata: metadata }, 'root metadata');
        await callNative(() => native.writePythonJson(file, value, this.#storageOptions ?? null));
      }
    }
    await this.#scan();
    this.#initialized = true;
  }

  /**
   * Removes unfinished saves from the root. In commit-file mode every directory without a
   * marker looks unfinished, `metadata/` included, so only step-named ones are removed there.
   */
  async #cleanupTmpDirectories(): Promise<void> {
    if (resolveAtomicityMode(this.directory, this.#atomicity) === 'atomic_rename') {
      await cleanupTmpDirectories(this.directory, { atomicityOptions: this.#atomicity, ...this.#storageOption() });
      return;
    }
    for (const entry of await this.#storage.list(this.directory)) {
      const path = this.#storage.join(this.directory, entry.name);
      if (!entry.isDirectory || !/^(?:.+_)?\d+$/.test(entry.name) || (await isCheckpointFinalized(path, { atomicityOptions: this.#atomicity, ...this.#storageOption() }))) continue;
      await this.#storage.remove(path);
    }
  }

  async #scan(): Promise<void> {
    const found = (await this.#storage.exists(this.directory)) ? await this.#nameFormat.findAll(this.directory, this.#storageOption()) : [];
    found.sort((a, b) => a.step - b.step);
    const lightweight = this.#options.lightweightInitialize;
    this.#checkpoints = await Promise.all(
      found.map(async (m) => ({
        step: m.step,
        time: lightweight ? new Date(0) : await m.commitTimestamp(),
        metrics: lightweight ? null : await this.#readMetrics(m.path),
      })),
    );
  }

  async #readMetrics(stepDir: string): Promise<Record<string, unknown> | null> {
    const file = this.#storage.join(stepDir, METRICS_ITEM_NAME, METRICS_ITEM_NAME);
    if (!(await this.#storage.exists(file))) return null;
    const value = fromTaggedJson(await callNative(() => native.readPythonJson(file, this.#storageOptions ?? null)));
    return isPlainObject(value) ? value : null;
  }

  #requireReady(what: string): void {
    if (!this.#initialized) {
      throw new InvalidArgumentError(`CheckpointManager.${what}() before the initial scan finished: use \`await CheckpointManager.open(...)\` or \`await manager.ready\`.`);
    }
  }

  /** The steps the manager knows, in the order they were found or saved (not re-sorted). */
  allSteps(): number[];
  /** With `read: true`, re-scans the root first (deprecated in Orbax; prefer `reload()`). */
  allSteps(opts: { read: true }): Promise<number[]>;
  allSteps(opts?: { read?: boolean }): number[] | Promise<number[]> {
    if (opts?.read) {
      warn('`read` option is deprecated. Use `reload` to read from disk.');
      return this.reload().then(() => this.#checkpoints.map((c) => c.step));
    }
    this.#requireReady('allSteps');
    return this.#checkpoints.map((c) => c.step);
  }

  /** The last step saved or found (not necessarily the largest), or null. */
  latestStep(): number | null {
    this.#requireReady('latestStep');
    return this.#checkpoints.at(-1)?.step ?? null;
  }

  /** Without `bestFn`, the latest step; with it, the best step among those with metrics, or null. */
  bestStep(): number | null {
    this.#requireReady('bestStep');
    return bestOf(this.#checkpoints, this.#options);
  }

  /** Whether `save(step)` would save (read-only, an old step and the save policy say no). */
  shouldSave(step: number): boolean {
    this.#requireReady('shouldSave');
    return shouldSaveStep(step, this.#checkpoints, this.#options, {
      isSavingInProgress: this.isSavingInProgress(),
      reachedPreemption: false,
      now: new Date(),
    });
  }

  /** Re-scans the root (steps made or deleted by others), sorted by step. */
  async reload(): Promise<void> {
    await this.ready;
    await this.#scan();
  }

  #stepDir(step: number, base = this.directory): string {
    return buildStepPath(base, this.#nameFormat, step);
  }

  #decideMode(args: CheckpointArgs, what: 'save' | 'restore'): ItemMode {
    const composite = isComposite(args);
    if (this.#mode === 'default' && composite) {
      throw new InvalidArgumentError('Cannot provide args of type Composite when dealing with a single, unnamed (default) checkpointable object.');
    }
    if (this.#mode === 'composite' && !composite) {
      throw new InvalidArgumentError(`Must provide args of type Composite when dealing with multiple checkpointable objects (${what}).`);
    }
    return composite ? 'composite' : 'default';
  }

  /**
   * Saves `args` (a `Composite` for several items, any other args for the single item) as
   * `step` if the save policy (or `force`) says so; resolves to whether it saved. Asynchronous
   * by default: resolves once the inputs are captured.
   */
  async save(step: number, args: CheckpointArgs, opts?: ManagerSaveOptions): Promise<boolean> {
    const options = parseOptions(saveSchema, opts, 'CheckpointManager.save options');
    if (!Number.isSafeInteger(step) || step < 0) throw new InvalidArgumentError(`A step is a non-negative integer, got ${String(step)}.`);
    if (!(args instanceof CheckpointArgs)) throw new InvalidArgumentError('Must provide `args` for `save`.');
    await this.ready;
    const o = this.#options;
    if (o.readOnly) {
      warn('Cannot save in a read-only CheckpointManager.');
      return false;
    }
    const mode = this.#decideMode(args, 'save');
    if (!options.force && !this.shouldSave(step)) return false;
    await this.waitUntilFinished();
    if (this.#checkpoints.some((c) => c.step === step)) {
      if (options.force) throw new StepAlreadyExistsError(`Checkpoint for step ${step} already exists.`);
      return false;
    }
    const items: Record<string, CheckpointArgs> = mode === 'composite' ? Object.fromEntries((args as Composite).entries() as Array<[string, CheckpointArgs]>) : { [DEFAULT_ITEM_NAME]: args };
    let metrics: Record<string, unknown> | null = null;
    if (options.metrics !== undefined) {
      if (o.bestFn === null) {
        warn(`metrics given for step ${step} but no bestFn is set: they are not written (as in Orbax); set bestFn to keep them.`);
      } else {
        metrics = options.metrics;
        if (!o.preventWriteMetrics) items[METRICS_ITEM_NAME] = new JsonSave(metrics);
      }
    } else if (o.bestFn !== null) {
      warn('Requested `tracked_metric`; did not provide metrics.');
    }
    const stepDir = this.#stepDir(step);
    if (this.#isPrimary && (await this.#storage.exists(stepDir))) warn(`${stepDir} exists on disk but is not a step this manager knows; it is replaced, as Orbax does.`);
    const latest = this.latestStep();
    await this.#checkpointer.save(stepDir, new Composite(items), {
      force: true,
      ...(options.customMetadata ? { customMetadata: options.customMetadata } : {}),
      ...(options.lendArrays ? { lendArrays: true } : {}),
      ...transferOf(options),
    });
    this.#mode = mode;
    if (latest !== null && step < latest) {
      warn(`step ${step} was saved after step ${latest}: allSteps() keeps save order (latestStep() is now ${step}) until reload(), as in Orbax.`);
    }
    this.#checkpoints.push({ step, time: new Date(), metrics });
    const doomed = stepsToDelete(this.#checkpoints, o.preservationPolicy, { now: new Date() });
    this.#checkpoints = this.#checkpoints.filter((c) => !doomed.includes(c.step));
    const afterCommit = async (): Promise<void> => {
      await this.#checkpointer.waitUntilFinished().catch((error: unknown) => {
        this.#checkpoints = this.#checkpoints.filter((c) => c.step !== step);
        throw error;
      });
      for (const old of doomed) await this.#deleteFromDisk(old);
    };
    if (this.#checkpointer instanceof AsyncCheckpointer) await this.#background.start(afterCommit);
    else await afterCommit();
    return true;
  }

  async #deleteFromDisk(step: number): Promise<void> {
    if (!this.#isPrimary) return;
    const stepDir = this.#stepDir(step);
    const storage = this.#storage;
    if (!(await storage.exists(stepDir))) return;
    const subdir = this.#options.todeleteSubdir;
    const fullPath = this.#options.todeleteFullPath;
    if (fullPath !== null) {
      // `<scheme>://<bucket>/<todeleteFullPath>/<name>-<%Y%m%d-%H%M%S-%f UTC>`, as Orbax names it.
      const bucket = /^([a-z][a-z0-9+.-]*:\/\/[^/]+)/i.exec(this.directory)![1]!;
      const now = new Date();
      const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
      const stamp =
        `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-` +
        `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}-${pad(now.getUTCMilliseconds() * 1000, 6)}`;
      const target = storage.join(`${bucket}/${fullPath.replace(/\/+$/, '')}`, `${storage.basename(stepDir)}-${stamp}`);
      await storage.copy(stepDir, target);
      await this.#removeStep(stepDir);
    } else if (subdir !== null && this.directory.startsWith('gs://')) {
      // Orbax ignores todeleteSubdir on GCS (its variant is todeleteFullPath).
      await this.#removeStep(stepDir);
    } else if (subdir !== null) {
      const trash = storage.join(this.directory, subdir);
      const target = storage.join(trash, this.#nameFormat.buildName(step));
      await storage.makeDirectory(trash);
      if (storage.hasAtomicRename) {
        await rename(stepDir, target);
      } else {
        // No rename on object stores: copy, then delete.
        await storage.copy(stepDir, target);
        await this.#removeStep(stepDir);
      }
    } else {
      await this.#removeStep(stepDir);
    }
  }

  /**
   * Removes a step so that a crash midway never leaves a finished-looking step with part of its
   * files gone: locally it is first renamed to a temporary name (which `cleanupTmpDirectories`
   * removes), on object stores its `commit_success.txt` goes first.
   */
  async #removeStep(stepDir: string): Promise<void> {
    const storage = this.#storage;
    if (storage.hasAtomicRename) {
      const doomed = `${stepDir}${TMP_DIR_SUFFIX}-deleting`;
      await storage.remove(doomed);
      await rename(stepDir, doomed);
      await storage.remove(doomed);
    } else {
      await storage.remove(storage.join(stepDir, COMMIT_SUCCESS_FILE));
      await storage.remove(stepDir);
    }
  }

  /**
   * Restores `step` (default: the latest). Single-item managers return the item; multi-item
   * managers a `Composite`. Without `args` every item is restored with the handler its
   * `_CHECKPOINT_METADATA` names. `directory` reads another root (its latest step by the legacy
   * scan when `step` is null).
   */
  async restore(step: number | null = null, opts: { args?: CheckpointArgs; directory?: string } = {}): Promise<unknown> {
    const parsed = parseOptions(z.object({ args: z.instanceof(CheckpointArgs).optional(), directory: z.string().optional() }).strict(), opts, 'CheckpointManager.restore options');
    await this.ready;
    await this.waitUntilFinished();
    const base = parsed.directory !== undefined ? storageFor(parsed.directory).resolve(parsed.directory) : this.directory;
    let target = step;
    if (target === null) {
      target = parsed.directory !== undefined ? ((await checkpointSteps(base, this.#storageOption())).at(-1) ?? null) : this.latestStep();
      if (target === null) throw new NotFoundError(`No steps found in ${base}.`);
    }
    const stepDir = this.#stepDir(target, base);
    if (!(await isCheckpointFinalized(stepDir, { atomicityOptions: this.#atomicity, ...this.#storageOption() }))) throw new NotFoundError(`Checkpoint at ${stepDir} not found.`);
    const mode = parsed.args !== undefined ? this.#decideMode(parsed.args, 'restore') : (this.#mode ?? ((await this.#storage.exists(this.#storage.join(stepDir, DEFAULT_ITEM_NAME))) ? 'default' : 'composite'));
    if (mode === 'default') {
      const result = await this.#checkpointer.restore(stepDir, parsed.args !== undefined ? new Composite({ [DEFAULT_ITEM_NAME]: parsed.args }) : undefined);
      return result.get(DEFAULT_ITEM_NAME);
    }
    if (parsed.args !== undefined) return this.#checkpointer.restore(stepDir, parsed.args as Composite);
    const all = await this.#checkpointer.restore(stepDir);
    return new Composite(Object.fromEntries(all.entries().filter(([name]) => name !== METRICS_ITEM_NAME)));
  }

  /** The metrics saved with `step`, or null. */
  async metrics(step: number): Promise<Record<string, unknown> | null> {
    await this.ready;
    return this.#readMetrics(this.#stepDir(step));
  }

  /** Root metadata (no step), or the step's metadata with its item metadata and metrics. */
  async metadata(): Promise<RootMetadata>;
  async metadata(step: number): Promise<StepMetadata>;
  async metadata(step?: number | null): Promise<RootMetadata | StepMetadata> {
    await this.ready;
    if (step === undefined || step === null) {
      for (const name of [ROOT_METADATA_FILE, 'metadata']) {
        const file = this.#storage.join(this.directory, ROOT_METADATA_DIR, name);
        if (!(await this.#storage.isFile(file))) continue;
        const value = fromTaggedJson(await callNative(() => native.readPythonJson(file, this.#storageOptions ?? null))) as Record<string, unknown>;
        if (name !== ROOT_METADATA_FILE) return { internalMetadata: {}, customMetadata: value };
        return {
          internalMetadata: (value.internal_metadata ?? {}) as Record<string, unknown>,
          customMetadata: (value.custom_metadata ?? {}) as Record<string, unknown>,
        };
      }
      return { internalMetadata: {}, customMetadata: {} };
    }
    await this.waitUntilFinished();
    const stepDir = this.#stepDir(step);
    if (!(await isCheckpointFinalized(stepDir, { atomicityOptions: this.#atomicity, ...this.#storageOption() }))) throw new NotFoundError(`Checkpoint at ${stepDir} not found.`);
    const meta = await this.#checkpointer.metadata(stepDir);
    const items = meta.itemMetadata as Composite | null;
    const mode = this.#mode ?? ((await this.#storage.exists(this.#storage.join(stepDir, DEFAULT_ITEM_NAME))) ? 'default' : 'composite');
    const itemMetadata =
      items === null ? null : mode === 'default' ? (items.has(DEFAULT_ITEM_NAME) ? items.get(DEFAULT_ITEM_NAME) : null) : new Composite(Object.fromEntries(items.entries().filter(([n]) => n !== METRICS_ITEM_NAME)));
    const metrics = (await this.#readMetrics(stepDir)) ?? meta.metrics;
    return { ...meta, itemMetadata, metrics };
  }

  /** `metadata(step).itemMetadata`. */
  async itemMetadata(step: number): Promise<unknown> {
    if (step === undefined || step === null) throw new InvalidArgumentError('itemMetadata() needs a step.');
    return (await this.metadata(step)).itemMetadata;
  }

  /** Deletes a known step (moved to `todeleteSubdir` if set); a read-only manager only warns. */
  async delete(step: number): Promise<void> {
    await this.ready;
    if (this.#options.readOnly) {
      warn('Cannot delete in a read-only CheckpointManager.');
      return;
    }
    if (!this.#checkpoints.some((c) => c.step === step)) throw new NotFoundError(`Requested deleting a non-existent step: ${step}.`);
    await this.waitUntilFinished();
    await this.#deleteFromDisk(step);
    this.#checkpoints = this.#checkpoints.filter((c) => c.step !== step);
  }

  /** Resolves when the last save has committed and old steps are deleted; rejects (once) with a background error. */
  async waitUntilFinished(): Promise<void> {
    await this.#background.waitUntilFinished();
  }

  isSavingInProgress(): boolean {
    return this.#background.isSavingInProgress();
  }

  /** Throws (once) the error of a failed background save. */
  checkForErrors(): void {
    this.#background.checkForErrors();
  }

  /** Waits for pending saves and deletions, then releases the handlers. */
  async close(): Promise<void> {
    await this.ready.catch(() => undefined);
    try {
      await this.waitUntilFinished();
    } finally {
      await this.#checkpointer.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Always false: Node jobs have no multi-host preemption signal. */
  reachedPreemption(): boolean {
    return false;
  }
}

