/** `Checkpointer`: a synchronous, atomic checkpointer around one handler. */
import '../handlers/builtins.js';


import { z } from 'zod';

import { CheckpointArgs, parseArgsOptions } from '../args/checkpointArgs.js';
import { InvalidArgumentError } from '../errors.js';
import { type CheckpointHandler, isHandler } from '../handlers/checkpointHandler.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import type { StepMetadata } from '../metadata/types.js';
import { type AtomicityOptions, atomicityOptionsSchema, resolveAtomicityMode } from '../path/atomicity.js';
import { finalizedCheckpointPath } from './checkpointPath.js';
import { storageFor, type StorageOptions, storageOptionsSchema } from '../storage/index.js';
import { type MultiprocessingOptions, multiprocessingOptionsSchema } from '../checkpointManagers/optionTypes.js';
import { type ResolvedMultiprocessing, resolveMultiprocessing } from '../multiprocess/multiprocessingOptions.js';
import { type TransferOptions, transferOptionsShape } from '../transfer.js';
import { captureWrites, finishSave, startSave } from './commitProtocol.js';

/** Options of a checkpointer's `save`. */
export interface CheckpointerSaveOptions extends TransferOptions {
  /**
   * Async saves only: lend the arrays to the background write instead of copying them, so
   * that `save()` returns at once and uses no extra memory. The caller must then not modify
   * them until `waitUntilFinished()` resolves. Default false (copied, as Orbax does).
   */
  lendArrays?: boolean;
  /** Replace an existing checkpoint at the destination. */
  force?: boolean;
  /** `custom_metadata` of `_CHECKPOINT_METADATA` (a plain object). */
  customMetadata?: Record<string, unknown>;
}

/** Options of a checkpointer. */
export interface CheckpointerOptions {
  atomicityOptions?: AtomicityOptions;
  /** Object-store configuration (credentials, region, endpoint...) for URL directories (`s3://…`). */
  storageOptions?: StorageOptions;
  /** Several processes saving one checkpoint together (each its own blocks of sharded arrays). */
  multiprocessingOptions?: MultiprocessingOptions;
}

export const checkpointerOptionsSchema = z
  .object({
    atomicityOptions: atomicityOptionsSchema.optional(),
    storageOptions: storageOptionsSchema.optional(),
    multiprocessingOptions: multiprocessingOptionsSchema.optional(),
  })
  .strict();

/** Whether `directory` is written and read in commit-file mode. */
export function isCommitFile(directory: string, atomicity: AtomicityOptions | undefined): boolean {
  return resolveAtomicityMode(storageFor(directory).resolve(directory), atomicity) === 'commit_file';
}

export const saveOptionsSchema = z
  .object({
    force: z.boolean().optional(),
    customMetadata: z.record(z.string(), z.unknown()).optional(),
    lendArrays: z.boolean().optional(),
    ...transferOptionsShape,
  })
  .strict();

type SaveArgsOf<H> = H extends CheckpointHandler<infer S, CheckpointArgs, unknown, unknown> ? S : CheckpointArgs;
type RestoreArgsOf<H> = H extends CheckpointHandler<CheckpointArgs, infer A, unknown, unknown> ? A : CheckpointArgs;
type ResultOf<H> = H extends CheckpointHandler<CheckpointArgs, CheckpointArgs, infer R, unknown> ? R : unknown;
type HandlerMetadataOf<H> = H extends CheckpointHandler<CheckpointArgs, CheckpointArgs, unknown, infer M> ? M : unknown;
/** The item metadata a checkpointer reports (a composite's own metadata is already step metadata). */
type MetadataOf<H> = HandlerMetadataOf<H> extends StepMetadata<infer I> ? I : HandlerMetadataOf<H>;

export type { MetadataOf, RestoreArgsOf, ResultOf, SaveArgsOf };

/** Checks that `args` is a CheckpointArgs instance. */
export function expectCheckpointArgs(args: unknown, what: string): void {
  if (!(args instanceof CheckpointArgs)) {
    throw new InvalidArgumentError(`${what} takes a CheckpointArgs instance (e.g. new args.StandardSave(tree)), got ${typeof args}.`);
  }
}

/** Step metadata of a checkpoint read through `handler` (a composite reports its own). */
export async function checkpointMetadata(handler: CheckpointHandler, directory: string, atomicity?: AtomicityOptions, storageOptions?: StorageOptions): Promise<StepMetadata> {
  const path = await finalizedCheckpointPath(directory, { commitFile: isCommitFile(directory, atomicity), storageOptions });
  if (typeof (handler as { itemHandlerTypestrs?: unknown }).itemHandlerTypestrs === 'function') {
    return (await handler.metadata(path, { storageOptions })) as StepMetadata;
  }
  let item: unknown = null;
  try {
    item = await handler.metadata(path, { storageOptions });
  } catch {
    item = null; // Orbax logs and leaves item_metadata None.
  }
  return readStepMetadata(path, item, storageOptions);
}

/** Mirrors `ocp.Checkpointer`: `save` resolves once the checkpoint is committed. */
export class Checkpointer<H extends CheckpointHandler = CheckpointHandler> {
  readonly handler: H;
  readonly #atomicity: AtomicityOptions | undefined;
  readonly #storageOptions: StorageOptions | undefined;
  readonly #multiprocessing: ResolvedMultiprocessing;

  /**
   * `multiprocessingOptions`: this process's index, the process count and how they synchronize,
   * when several processes save one checkpoint (see `ocp.shardedArray`).
   * `storageOptions`: the object-store configuration of URL directories (object stores always
   * commit with `commit_success.txt`).
   * `atomicityOptions.mode`: `'atomic_rename'` (the local default: write `<dir>.orbax-checkpoint-tmp`,
   * then rename) or `'commit_file'` (write under the final name; `commit_success.txt`, written
   * last, marks it committed — Orbax's protocol for stores without an atomic rename).
   */
  constructor(handler: H, opts?: CheckpointerOptions) {
    if (!isHandler(handler)) throw new InvalidArgumentError('Checkpointer takes a CheckpointHandler instance.');
    const parsed = parseArgsOptions(checkpointerOptionsSchema, opts, 'Checkpointer options');
    this.#atomicity = parsed.atomicityOptions;
    this.#storageOptions = parsed.storageOptions;
    this.#multiprocessing = resolveMultiprocessing(opts?.multiprocessingOptions);
    this.handler = handler;
  }

  /**
   * Saves `args` as the checkpoint `directory`, atomically; an existing destination is an error
   * unless `force`. The handler reads the caller's data until the promise resolves.
   */
  async save(directory: string, args: SaveArgsOf<H>, opts?: CheckpointerSaveOptions): Promise<void> {
    const options = parseArgsOptions(saveOptionsSchema, opts, 'Checkpointer.save options');
    expectCheckpointArgs(args, 'Checkpointer.save');
    const save = startSave(directory, { ...options, atomicityOptions: this.#atomicity, storageOptions: this.#storageOptions, multiprocessing: this.#multiprocessing });
    const writes = await captureWrites(this.handler, save, args, false);
    await finishSave(save, this.handler, writes);
  }

  /** Restores the checkpoint `directory` with the handler (`args` optional). */
  async restore(directory: string, args?: RestoreArgsOf<H>): Promise<ResultOf<H>> {
    if (args !== undefined) expectCheckpointArgs(args, 'Checkpointer.restore');
    const path = await finalizedCheckpointPath(directory, { commitFile: isCommitFile(directory, this.#atomicity), storageOptions: this.#storageOptions });
    return (await this.handler.restore(path, args, { storageOptions: this.#storageOptions })) as ResultOf<H>;
  }

  /** `_CHECKPOINT_METADATA` with the handler's item metadata (reads no array data). */
  async metadata(directory: string): Promise<StepMetadata<MetadataOf<H>>> {
    return (await checkpointMetadata(this.handler, directory, this.#atomicity, this.#storageOptions)) as StepMetadata<MetadataOf<H>>;
  }

  /** Nothing is pending in a synchronous checkpointer; present for symmetry with AsyncCheckpointer. */
  async waitUntilFinished(): Promise<void> {}

  async close(): Promise<void> {
    await this.handler.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
