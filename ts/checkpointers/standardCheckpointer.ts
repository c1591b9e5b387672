/** `StandardCheckpointer`: PyTrees of arrays and scalars (no strings). */
import { z } from 'zod';

import type { StepMetadata, TreeMetadata } from '../metadata/types.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import { CheckpointReader } from '../restore/checkpointReader.js';
import { type IntScalars, restoreTree } from '../restore/restoreTree.js';
import type { PyTree } from '../tree/pytree.js';
import { finalizedCheckpointPath } from './checkpointPath.js';
import { parseOptions, readTreeMetadata } from './pyTreeCheckpointer.js';

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

/** Mirrors `ocp.StandardCheckpointer` (restore side). */
export class StandardCheckpointer {
  /**
   * Restores the tree at `directory`. With `target` (a tree of NdArray / ShapeDtypeStruct /
   * metadata / scalar leaves, or a `StandardRestore`), the result has the target's structure and
   * each array is cast to the target leaf's dtype; a target path missing from the checkpoint is
   * an `InvalidArgumentError` naming the path. Leaves the target does not name are not read.
   */
  async restore(directory: string, target?: unknown, opts?: StandardRestoreOptions): Promise<PyTree> {
    const options = parseOptions(schema, opts, 'StandardCheckpointer.restore options');
    const path = await finalizedCheckpointPath(directory);
    const reader = await CheckpointReader.open(path);
    const item = isRestoreArgs(target) ? target.item : target;
    return restoreTree(reader, {
      ...(item !== undefined ? { target: item } : {}),
      allowExtraLeaves: true,
      ...(options.intScalars !== undefined ? { intScalars: options.intScalars } : {}),
      ...(options.restoreConcurrentGb !== undefined ? { concurrentGb: options.restoreConcurrentGb } : {}),
    });
  }

  /** The step metadata of `directory`; `itemMetadata` is the tree of leaf metadata. Reads no array data. */
  async metadata(directory: string): Promise<StepMetadata<TreeMetadata>> {
    const path = await finalizedCheckpointPath(directory);
    return readStepMetadata(path, await readTreeMetadata(path));
  }

  async close(): Promise<void> {}

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
