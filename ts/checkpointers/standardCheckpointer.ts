/** `StandardCheckpointer`: PyTrees of arrays and scalars (no strings). */
import { z } from 'zod';

import type { StepMetadata, TreeMetadata } from '../metadata/types.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import { CheckpointReader } from '../restore/checkpointReader.js';
import { type IntScalars, restoreTree } from '../restore/restoreTree.js';
import type { PyTree } from '../tree/pytree.js';
import { finalizedCheckpointPath } from './checkpointPath.js';
import { parseOptions, readTreeMetadata } from './pyTreeCheckpointer.js';
import { BackgroundSaves } from './backgroundSaves.js';
import { prepareSave } from './saveTree.js';

/** Options of {@link StandardCheckpointer.save}. */
export interface StandardSaveOptions {
  /** A tree of `SaveArgs` (`{ dtype?, chunkByteSize?, shardAxes? }`) mirroring the state. */
  saveArgs?: unknown;
  /** Replace an existing checkpoint at `directory`. */
  force?: boolean;
  /** `custom_metadata` of `_CHECKPOINT_METADATA` (JSON object). */
  customMetadata?: Record<string, unknown>;
}

const saveSchema = z
  .object({ saveArgs: z.unknown().optional(), force: z.boolean().optional(), customMetadata: z.record(z.string(), z.unknown()).optional() })
  .strict();
const constructorSchema = z
  .object({
    useOcdbt: z.boolean().optional(),
    saveConcurrentGb: z.number().positive().optional(),
    restoreConcurrentGb: z.number().positive().optional(),
  })
  .strict();

/** Options of {@link StandardCheckpointer.restore}. */
export interface StandardRestoreOptions {
  /** Accepted for parity; host arrays always restore at their stored shape. */
  strict?: boolean;
  intScalars?: IntScalars;
  restoreConcurrentGb?: number;
}

const schema = z
  .object({
    strict: z.boolean().optional(),
    intScalars: z.enum(['bigint', 'number']).optional(),
    restoreConcurrentGb: z.number().positive().optional(),
  })
  .strict();

/** Something carrying a target tree, such as `new args.StandardRestore(item)`. */
interface HasItem {
  readonly item?: unknown;
}

function isRestoreArgs(value: unknown): value is HasItem {
  return typeof value === 'object' && value !== null && value.constructor?.name === 'StandardRestore';
}

/** Mirrors `ocp.StandardCheckpointer`: PyTrees of arrays and scalars. */
export class StandardCheckpointer {
  readonly #useOcdbt: boolean;
  readonly #saveConcurrentGb: number | undefined;
  readonly #restoreConcurrentGb: number | undefined;
  readonly #saves = new BackgroundSaves();

  /**
   * `saveConcurrentGb` / `restoreConcurrentGb` bound the chunk bytes in flight while saving /
   * restoring, as Orbax's handler options do.
   */
  constructor(opts: { useOcdbt?: boolean; saveConcurrentGb?: number; restoreConcurrentGb?: number } = {}) {
    const parsed = parseOptions(constructorSchema, opts, 'StandardCheckpointer options');
    this.#useOcdbt = parsed.useOcdbt ?? true;
    this.#saveConcurrentGb = parsed.saveConcurrentGb;
    this.#restoreConcurrentGb = parsed.restoreConcurrentGb;
  }

  /**
   * Saves `state` (arrays and scalars; strings are refused, as Orbax refuses them) as the
   * checkpoint `directory`, asynchronously as Orbax's StandardCheckpointer does: the promise
   * resolves once the arrays are copied (the caller may then modify them), the checkpoint
   * commits in the background. `waitUntilFinished()` resolves at commit or rejects with the
   * background error; the next `save()` first waits for the previous one.
   */
  async save(directory: string, state: unknown, opts?: StandardSaveOptions): Promise<void> {
    const options = parseOptions(saveSchema, opts, 'StandardCheckpointer.save options');
    this.#saves.checkForErrors();
    const write = prepareSave(directory, state, {
      copyArrays: true,
      ...(this.#saveConcurrentGb !== undefined ? { saveConcurrentGb: this.#saveConcurrentGb } : {}),
      handler: 'standard',
      useOcdbt: this.#useOcdbt,
      useZarr3: false,
      useCompression: true,
      ...(options.saveArgs !== undefined ? { saveArgs: options.saveArgs } : {}),
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.customMetadata !== undefined ? { customMetadata: options.customMetadata } : {}),
    });
    await this.#saves.start(write);
  }

  /** Resolves when the last save has committed; rejects with its error if it failed. */
  async waitUntilFinished(): Promise<void> {
    await this.#saves.waitUntilFinished();
  }

  /** Whether a save is still being written in the background. */
  isSavingInProgress(): boolean {
    return this.#saves.isSavingInProgress();
  }

  /** Throws the error of a failed background save, if any. */
  checkForErrors(): void {
    this.#saves.checkForErrors();
  }

  /**
   * Restores the tree at `directory`. With `target` (a tree of NdArray / ShapeDtypeStruct /
   * metadata / scalar leaves, or a `StandardRestore`), the result has the target's structure and
   * each array is cast to the target leaf's dtype; a target path missing from the checkpoint is
   * an `InvalidArgumentError` naming the path. Leaves the target does not name are not read.
   */
  async restore(directory: string, target?: unknown, opts?: StandardRestoreOptions): Promise<PyTree> {
    const options = parseOptions(schema, opts, 'StandardCheckpointer.restore options');
    await this.#saves.waitUntilFinished();
    const path = await finalizedCheckpointPath(directory);
    const reader = await CheckpointReader.open(path);
    const item = isRestoreArgs(target) ? target.item : target;
    return restoreTree(reader, {
      ...(item !== undefined ? { target: item } : {}),
      allowExtraLeaves: true,
      ...(options.intScalars !== undefined ? { intScalars: options.intScalars } : {}),
      ...((options.restoreConcurrentGb ?? this.#restoreConcurrentGb) !== undefined
        ? { concurrentGb: (options.restoreConcurrentGb ?? this.#restoreConcurrentGb) as number }
        : {}),
    });
  }

  /** The step metadata of `directory`; `itemMetadata` is the tree of leaf metadata. Reads no array data. */
  async metadata(directory: string): Promise<StepMetadata<TreeMetadata>> {
    await this.#saves.waitUntilFinished();
    const path = await finalizedCheckpointPath(directory);
    return readStepMetadata(path, await readTreeMetadata(path));
  }

  /** Waits for pending saves. */
  async close(): Promise<void> {
    await this.#saves.waitUntilFinished();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
