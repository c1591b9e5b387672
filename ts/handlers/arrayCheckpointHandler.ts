/**
 * `ArrayCheckpointHandler`: one array or scalar, stored as the PyTree `{<name>: value}` in plain
 * zarr directories (Orbax hard-wires `use_ocdbt=False` here); restore returns the bare value.
 */
import { z } from 'zod';

import { ArrayRestore, ArraySave } from '../args/array.js';
import { parseArgsOptions } from '../args/checkpointArgs.js';
import type { TreeMetadata } from '../metadata/types.js';
import { CheckpointReader } from '../restore/checkpointReader.js';
import { restoreTree } from '../restore/restoreTree.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext, SaveProcessContext, StorageContext } from './checkpointHandler.js';
import { readTreeMetadata } from './pyTreeCheckpointHandler.js';
import { type ItemWrite, prepareItemSave } from './pyTreeSave.js';
import { TYPESTRS } from './typestrs.js';

const optionsSchema = z.object({ checkpointName: z.string().min(1).optional() }).strict();

/** Mirrors Python's `ArrayCheckpointHandler`. */
export class ArrayCheckpointHandler implements AsyncCheckpointHandler<ArraySave, ArrayRestore, unknown, TreeMetadata> {
  static typestr(): string {
    return TYPESTRS.array;
  }

  readonly checkpointName: string;

  constructor(opts?: { checkpointName?: string }) {
    this.checkpointName = parseArgsOptions(optionsSchema, opts, 'ArrayCheckpointHandler options').checkpointName ?? 'checkpoint';
  }

  typestr(): string {
    return ArrayCheckpointHandler.typestr();
  }

  #prepare(args: ArraySave, copyArrays: boolean, multiprocessing?: SaveProcessContext): ItemWrite {
    const save = expectArgs('ArrayCheckpointHandler', args, [ArraySave]);
    return prepareItemSave(
      { [this.checkpointName]: save.item },
      {
        allowStrings: false,
        useOcdbt: false,
        useZarr3: false,
        useCompression: true,
        copyArrays,
      ...(multiprocessing !== undefined ? { multiprocessing } : {}),
        ...(save.saveArgs !== undefined ? { saveArgs: { [this.checkpointName]: save.saveArgs } } : {}),
      },
    );
  }

  async save(directory: string, args: ArraySave, context?: StorageContext): Promise<void> {
    await this.#prepare(args, false)(directory, context);
  }

  /** Validates and (unless told otherwise) copies the arrays now; writes once the directory exists. */
  async asyncSave(directory: string, args: ArraySave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const write = this.#prepare(args, context?.copyInputs ?? true, context?.multiprocessing);
    return [(context?.directoryReady ?? Promise.resolve()).then(() => write(directory, context))];
  }

  /** The bare value: an NdArray, or a JS scalar for a stored scalar. */
  async restore(directory: string, args?: ArrayRestore): Promise<unknown> {
    const restore = args === undefined ? new ArrayRestore() : expectArgs('ArrayCheckpointHandler', args, [ArrayRestore]);
    const reader = await CheckpointReader.open(directory);
    const tree = (await restoreTree(reader, {
      target: { [this.checkpointName]: null },
      allowExtraLeaves: true,
      ...(restore.restoreArgs !== undefined ? { restoreArgs: { [this.checkpointName]: restore.restoreArgs } } : {}),
    })) as Record<string, unknown>;
    return tree[this.checkpointName];
  }

  async metadata(directory: string): Promise<TreeMetadata> {
    return readTreeMetadata(directory);
  }

  async finalize(): Promise<void> {}

  async close(): Promise<void> {}
}
