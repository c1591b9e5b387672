/** `AsyncCheckpointer`: `save` returns once inputs are captured; the commit happens in the background. */
import '../handlers/builtins.js';

import { z } from 'zod';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { InvalidArgumentError, OrbaxError } from '../errors.js';
import { type AsyncCheckpointHandler, isAsyncHandler } from '../handlers/checkpointHandler.js';
import type { StepMetadata } from '../metadata/types.js';
import { BackgroundSaves } from './backgroundSaves.js';
import { type AtomicityOptions, atomicityOptionsSchema } from '../path/atomicity.js';
import { finalizedCheckpointPath } from './checkpointPath.js';
import { type StorageOptions, storageOptionsSchema } from '../storage/index.js';
import { type MultiprocessingOptions, multiprocessingOptionsSchema } from '../checkpointManagers/optionTypes.js';
import { type ResolvedMultiprocessing, resolveMultiprocessing } from '../multiprocess/multiprocessingOptions.js';
import {
  type CheckpointerSaveOptions,
  checkpointMetadata,
  expectCheckpointArgs,
  isCommitFile,
  type MetadataOf,
  type RestoreArgsOf,
  type ResultOf,
  type SaveArgsOf,
  saveOptionsSchema,
} from './checkpointer.js';
import { captureWrites, finishSave, startSave } from './commitProtocol.js';

/** Python `AsyncOptions`. */
export interface AsyncOptions {
  /** Seconds a background commit may take before it fails (default 1200). */
  timeoutSecs?: number;
  /** Called after each successful commit. */
  postFinalizationCallback?: () => void | Promise<void>;
}

const optionsSchema = z
  .object({
    atomicityOptions: atomicityOptionsSchema.optional(),
    storageOptions: storageOptionsSchema.optional(),
    multiprocessingOptions: multiprocessingOptionsSchema.optional(),
    asyncOptions: z
      .object({
        timeoutSecs: z.number().positive().optional(),
        postFinalizationCallback: z.function().optional(),
        createDirectoriesAsynchronously: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

async function withTimeout<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new OrbaxError(`${what} did not finish within ${seconds} s.`, { code: 'ERR_TIMEOUT', pythonType: 'TimeoutError' })), seconds * 1000);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Mirrors `ocp.AsyncCheckpointer`. `save()` waits for the previous save, creates the temporary
 * directory, has the handler capture its inputs (built-in handlers copy array data, so the caller
 * may modify its arrays once `save()` resolves) and commits in the background. A background
 * failure surfaces in `waitUntilFinished()`, `checkForErrors()` or the next `save()`; `restore()`
 * and `metadata()` first wait for pending saves. Node stays alive while a save is in flight.
 */
export class AsyncCheckpointer<H extends AsyncCheckpointHandler = AsyncCheckpointHandler> {
  readonly handler: H;
  readonly #saves = new BackgroundSaves();
  readonly #timeoutSecs: number;
  readonly #afterCommit: (() => void | Promise<void>) | undefined;
  readonly #atomicity: AtomicityOptions | undefined;
  readonly #storageOptions: StorageOptions | undefined;
  readonly #multiprocessing: ResolvedMultiprocessing;

  /** `atomicityOptions`, `storageOptions` and `multiprocessingOptions` as for {@link Checkpointer}. */
  constructor(
    handler: H,
    opts?: { asyncOptions?: AsyncOptions; atomicityOptions?: AtomicityOptions; storageOptions?: StorageOptions; multiprocessingOptions?: MultiprocessingOptions },
  ) {
    if (!isAsyncHandler(handler)) {
      throw new InvalidArgumentError('AsyncCheckpointer takes an AsyncCheckpointHandler (one with asyncSave); use Checkpointer for other handlers.');
    }
    const parsed = parseArgsOptions(optionsSchema, opts, 'AsyncCheckpointer options');
    this.handler = handler;
    this.#timeoutSecs = parsed.asyncOptions?.timeoutSecs ?? 1200;
    this.#afterCommit = parsed.asyncOptions?.postFinalizationCallback as (() => void | Promise<void>) | undefined;
    this.#atomicity = parsed.atomicityOptions;
    this.#storageOptions = parsed.storageOptions;
    this.#multiprocessing = resolveMultiprocessing(opts?.multiprocessingOptions);
  }

  /** Starts saving `args` as `directory`; resolves once the inputs are captured. */
  async save(directory: string, args: SaveArgsOf<H>, opts?: CheckpointerSaveOptions): Promise<void> {
    const options = parseArgsOptions(saveOptionsSchema, opts, 'AsyncCheckpointer.save options');
    expectCheckpointArgs(args, 'AsyncCheckpointer.save');
    await this.#saves.waitUntilFinished();
    const save = startSave(directory, { ...options, atomicityOptions: this.#atomicity, storageOptions: this.#storageOptions, multiprocessing: this.#multiprocessing });
    const writes = await captureWrites(this.handler, save, args, !(options.lendArrays ?? false));
    await this.#saves.start(async () => {
      await withTimeout(finishSave(save, this.handler, writes), this.#timeoutSecs, `The save of ${save.finalDir}`);
      await this.#afterCommit?.();
    });
  }

  async restore(directory: string, args?: RestoreArgsOf<H>): Promise<ResultOf<H>> {
    await this.#saves.waitUntilFinished();
    if (args !== undefined) expectCheckpointArgs(args, 'AsyncCheckpointer.restore');
    const path = await finalizedCheckpointPath(directory, { commitFile: isCommitFile(directory, this.#atomicity), storageOptions: this.#storageOptions });
    return (await this.handler.restore(path, args, { storageOptions: this.#storageOptions })) as ResultOf<H>;
  }

  async metadata(directory: string): Promise<StepMetadata<MetadataOf<H>>> {
    await this.#saves.waitUntilFinished();
    return (await checkpointMetadata(this.handler, directory, this.#atomicity, this.#storageOptions)) as StepMetadata<MetadataOf<H>>;
  }

  /** Resolves when the last save has committed; rejects (once) with its error if it failed. */
  async waitUntilFinished(): Promise<void> {
    await this.#saves.waitUntilFinished();
  }

  isSavingInProgress(): boolean {
    return this.#saves.isSavingInProgress();
  }

  /** Throws (once) the error of a failed background save. */
  checkForErrors(): void {
    this.#saves.checkForErrors();
  }

  /** Waits for pending saves, then closes the handler. */
  async close(): Promise<void> {
    try {
      await this.#saves.waitUntilFinished();
    } finally {
      await this.handler.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
