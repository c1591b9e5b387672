/** `JsonCheckpointHandler`: one JSON file (`metadata` by default) in Python's `json.dumps` bytes. */

import { z } from 'zod';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { JsonRestore, JsonSave } from '../args/json.js';
import { callNative } from '../errors.js';
import { native } from '../native.js';
import { storageFor } from '../storage/index.js';
import { fromTaggedJson } from '../tree/pyValue.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext, StorageContext } from './checkpointHandler.js';
import { TYPESTRS } from './typestrs.js';

const optionsSchema = z.object({ filename: z.string().min(1).optional() }).strict();

/** Mirrors Python's `JsonCheckpointHandler`. */
export class JsonCheckpointHandler implements AsyncCheckpointHandler<JsonSave, JsonRestore, unknown, unknown> {
  static typestr(): string {
    return TYPESTRS.json;
  }

  readonly filename: string;

  constructor(opts?: { filename?: string }) {
    this.filename = parseArgsOptions(optionsSchema, opts, 'JsonCheckpointHandler options').filename ?? 'metadata';
  }

  typestr(): string {
    return JsonCheckpointHandler.typestr();
  }

  async save(directory: string, args: JsonSave, context?: StorageContext): Promise<void> {
    await Promise.all(await this.asyncSave(directory, args, context));
  }

  async asyncSave(directory: string, args: JsonSave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('JsonCheckpointHandler', args, [JsonSave]);
    // In a multi-process save the primary writes the file, as Orbax's handler does.
    if (context?.multiprocessing && !context.multiprocessing.isPrimary) return [];
    // The value was captured when the JsonSave was made.
    const path = storageFor(directory).join(directory, this.filename);
    const storageOptions = context?.storageOptions ?? null;
    return [(context?.directoryReady ?? Promise.resolve()).then(() => callNative(() => native.writePythonJson(path, save.tagged, storageOptions)))];
  }

  /** The JSON value: ints as `number` (`bigint` beyond 2^53), floats (incl. NaN, ±Infinity) as `number`. */
  async restore(directory: string, args?: JsonRestore, context?: StorageContext): Promise<unknown> {
    if (args !== undefined) expectArgs('JsonCheckpointHandler', args, [JsonRestore]);
    const path = storageFor(directory).join(directory, this.filename);
    const tagged = await callNative(() => native.readPythonJson(path, context?.storageOptions ?? null));
    return fromTaggedJson(tagged);
  }

  async metadata(): Promise<null> {
    return null;
  }

  async finalize(): Promise<void> {}

  async close(): Promise<void> {}
}
