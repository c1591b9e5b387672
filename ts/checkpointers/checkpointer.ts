/** `Checkpointer`: a synchronous, atomic checkpointer around one handler. */
import '../handlers/builtins.js';

import { z } from 'zod';

import { CheckpointArgs, parseArgsOptions } from '../args/checkpointArgs.js';
import { InvalidArgumentError } from '../errors.js';
import { type CheckpointHandler, isHandler } from '../handlers/checkpointHandler.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import type { StepMetadata } from '../metadata/types.js';
import { finalizedCheckpointPath } from './checkpointPath.js';
import { captureWrites, finishSave, startSave } from './commitProtocol.js';

/** Options of a checkpointer's `save`. */
export interface CheckpointerSaveOptions {
  /** Replace an existing checkpoint at the destination. */
  force?: boolean;
  /** `custom_metadata` of `_CHECKPOINT_METADATA` (a plain object). */
  customMetadata?: Record<string, unknown>;
}

export const saveOptionsSchema = z
  .object({ force: z.boolean().optional(), customMetadata: z.record(z.string(), z.unknown()).optional() })
  .strict();

type SaveArgsOf<H> = H extends CheckpointHandler<infer S, CheckpointArgs, unknown, unknown> ? S : CheckpointArgs;
type RestoreArgsOf<H> = H extends CheckpointHandler<CheckpointArgs, infer A, unknown, unknown> ? A : CheckpointArgs;
type ResultOf<H> = H extends CheckpointHandler<CheckpointArgs, CheckpointArgs, infer R, unknown> ? R : unknown;
type MetadataOf<H> = H extends CheckpointHandler<CheckpointArgs, CheckpointArgs, unknown, infer M> ? M : unknown;

export type { MetadataOf, RestoreArgsOf, ResultOf, SaveArgsOf };

/** Checks that `args` is a CheckpointArgs instance. */
export function expectCheckpointArgs(args: unknown, what: string): void {
  if (!(args instanceof CheckpointArgs)) {
    throw new InvalidArgumentError(`${what} takes a CheckpointArgs instance (e.g. new args.StandardSave(tree)), got ${typeof args}.`);
  }
}

/** Step metadata of a checkpoint read through `handler` (a composite reports its own). */
export async function checkpointMetadata(handler: CheckpointHandler, directory: string): Promise<StepMetadata> {
  const path = await finalizedCheckpointPath(directory);
  if (typeof (handler as { itemHandlerTypestrs?: unknown }).itemHandlerTypestrs === 'function') {
    return (await handler.metadata(path)) as StepMetadata;
  }
  let item: unknown = null;
  try {
    item = await handler.metadata(path);
  } catch {
    item = null; // Orbax logs and leaves item_metadata None.
  }
  return readStepMetadata(path, item);
}

/** Mirrors `ocp.Checkpointer`: `save` resolves once the checkpoint is committed. */
export class Checkpointer<H extends CheckpointHandler = CheckpointHandler> {
  readonly handler: H;

  constructor(handler: H, opts?: Record<string, never>) {
    if (!isHandler(handler)) throw new InvalidArgumentError('Checkpointer takes a CheckpointHandler instance.');
    parseArgsOptions(z.object({}).strict(), opts, 'Checkpointer options');
    this.handler = handler;
  }

  /**
   * Saves `args` as the checkpoint `directory`, atomically; an existing destination is an error
   * unless `force`. The handler reads the caller's data until the promise resolves.
   */
  async save(directory: string, args: SaveArgsOf<H>, opts?: CheckpointerSaveOptions): Promise<void> {
    const options = parseArgsOptions(saveOptionsSchema, opts, 'Checkpointer.save options');
    expectCheckpointArgs(args, 'Checkpointer.save');
    const save = startSave(directory, options);
    const writes = await captureWrites(this.handler, save, args, false);
    await finishSave(save, this.handler, writes);
  }

  /** Restores the checkpoint `directory` with the handler (`args` optional). */
  async restore(directory: string, args?: RestoreArgsOf<H>): Promise<ResultOf<H>> {
    if (args !== undefined) expectCheckpointArgs(args, 'Checkpointer.restore');
    const path = await finalizedCheckpointPath(directory);
    return (await this.handler.restore(path, args)) as ResultOf<H>;
  }

  /** `_CHECKPOINT_METADATA` with the handler's item metadata (reads no array data). */
  async metadata(directory: string): Promise<StepMetadata<MetadataOf<H>>> {
    return (await checkpointMetadata(this.handler, directory)) as StepMetadata<MetadataOf<H>>;
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
