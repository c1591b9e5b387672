/**
 * Random-key handlers, laid out as Orbax 0.12.8 lays them out (orbax-layout §2.6): a composite of
 * the key item and a `<key name>_metadata/metadata` JSON item, each committed inside the
 * handler's own directory.
 */
import { z } from 'zod';

import { ArrayRestore, ArraySave } from '../args/array.js';
import { parseArgsOptions } from '../args/checkpointArgs.js';
import { Composite } from '../args/composite.js';
import { JsonRestore, JsonSave } from '../args/json.js';
import { PyTreeRestore, PyTreeSave } from '../args/pyTree.js';
import { type JaxRandomKey, JaxRandomKeyRestore, JaxRandomKeySave, NumpyRandomKeyRestore, NumpyRandomKeySave, type NumpyRandomState } from '../args/randomKey.js';
import { CorruptCheckpointError, UnsupportedTypeError } from '../errors.js';
import { isNdArray, type NdArray } from '../tree/ndarray.js';
import { ArrayCheckpointHandler } from './arrayCheckpointHandler.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext } from './checkpointHandler.js';
import { CompositeCheckpointHandler } from './compositeCheckpointHandler.js';
import { JsonCheckpointHandler } from './jsonCheckpointHandler.js';
import { PyTreeCheckpointHandler } from './pyTreeCheckpointHandler.js';
import { TYPESTRS } from './typestrs.js';

const optionsSchema = z.object({ keyName: z.string().min(1).optional() }).strict();

function metadataFlag(value: unknown, flag: string, where: string): boolean {
  const v = (value as Record<string, unknown> | null)?.[flag];
  if (typeof v !== 'boolean') throw new CorruptCheckpointError(`${where}: expected {"${flag}": true|false}, got ${JSON.stringify(value)}`, 'ERR_METADATA');
  return v;
}

/** Mirrors Python's `JaxRandomKeyCheckpointHandler`: restores `{ data, typed }`. */
export class JaxRandomKeyCheckpointHandler implements AsyncCheckpointHandler<JaxRandomKeySave, JaxRandomKeyRestore, JaxRandomKey, null> {
  static typestr(): string {
    return TYPESTRS.jaxRandomKey;
  }

  readonly keyName: string;
  readonly #composite: CompositeCheckpointHandler;

  constructor(opts?: { keyName?: string }) {
    this.keyName = parseArgsOptions(optionsSchema, opts, 'JaxRandomKeyCheckpointHandler options').keyName ?? 'jax_random_key';
    this.#composite = new CompositeCheckpointHandler({
      items: { [this.keyName]: new ArrayCheckpointHandler(), [`${this.keyName}_metadata`]: new JsonCheckpointHandler() },
    });
  }

  typestr(): string {
    return JaxRandomKeyCheckpointHandler.typestr();
  }

  async save(directory: string, args: JaxRandomKeySave): Promise<void> {
    await Promise.all(await this.asyncSave(directory, args));
  }

  async asyncSave(directory: string, args: JaxRandomKeySave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('JaxRandomKeyCheckpointHandler', args, [JaxRandomKeySave]);
    return this.#composite.asyncSave(
      directory,
      new Composite({
        [this.keyName]: new ArraySave(save.item.data, save.saveArgs !== undefined ? { saveArgs: save.saveArgs } : undefined),
        [`${this.keyName}_metadata`]: new JsonSave({ typed: save.item.typed }),
      }),
      context,
    );
  }

  async restore(directory: string, args?: JaxRandomKeyRestore): Promise<JaxRandomKey> {
    const restore = args === undefined ? new JaxRandomKeyRestore() : expectArgs('JaxRandomKeyCheckpointHandler', args, [JaxRandomKeyRestore]);
    const result = await this.#composite.restore(
      directory,
      new Composite({
        [this.keyName]: new ArrayRestore(restore.restoreArgs !== undefined ? { restoreArgs: restore.restoreArgs } : undefined),
        [`${this.keyName}_metadata`]: new JsonRestore(),
      }),
    );
    const data = result.get(this.keyName);
    if (!isNdArray(data) || data.dtype !== 'uint32') {
      throw new UnsupportedTypeError(`${directory}: the key data is not a uint32 array.`);
    }
    const typed = metadataFlag(result.get(`${this.keyName}_metadata`), 'typed', directory);
    return Object.freeze({ data: data as NdArray<'uint32'>, typed });
  }

  async metadata(): Promise<null> {
    return null;
  }

  async finalize(directory: string): Promise<void> {
    await this.#composite.finalize(directory);
  }

  async close(): Promise<void> {
    await this.#composite.close();
  }
}

/** Mirrors Python's `NumpyRandomKeyCheckpointHandler`: the legacy tuple (as an array) or the state dict. */
export class NumpyRandomKeyCheckpointHandler implements AsyncCheckpointHandler<NumpyRandomKeySave, NumpyRandomKeyRestore, NumpyRandomState, null> {
  static typestr(): string {
    return TYPESTRS.numpyRandomKey;
  }

  readonly keyName: string;
  readonly #composite: CompositeCheckpointHandler;

  constructor(opts?: { keyName?: string }) {
    this.keyName = parseArgsOptions(optionsSchema, opts, 'NumpyRandomKeyCheckpointHandler options').keyName ?? 'np_random_key';
    this.#composite = new CompositeCheckpointHandler({
      items: { [this.keyName]: new PyTreeCheckpointHandler(), [`${this.keyName}_metadata`]: new JsonCheckpointHandler() },
    });
  }

  typestr(): string {
    return NumpyRandomKeyCheckpointHandler.typestr();
  }

  async save(directory: string, args: NumpyRandomKeySave): Promise<void> {
    await Promise.all(await this.asyncSave(directory, args));
  }

  async asyncSave(directory: string, args: NumpyRandomKeySave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('NumpyRandomKeyCheckpointHandler', args, [NumpyRandomKeySave]);
    return this.#composite.asyncSave(
      directory,
      new Composite({
        [this.keyName]: new PyTreeSave(save.item),
        [`${this.keyName}_metadata`]: new JsonSave({ legacy: save.legacy }),
      }),
      context,
    );
  }

  async restore(directory: string, args?: NumpyRandomKeyRestore): Promise<NumpyRandomState> {
    if (args !== undefined) expectArgs('NumpyRandomKeyCheckpointHandler', args, [NumpyRandomKeyRestore]);
    const result = await this.#composite.restore(
      directory,
      new Composite({ [this.keyName]: new PyTreeRestore(), [`${this.keyName}_metadata`]: new JsonRestore() }),
    );
    const legacy = metadataFlag(result.get(`${this.keyName}_metadata`), 'legacy', directory);
    const state = result.get(this.keyName);
    if (legacy !== Array.isArray(state)) {
      throw new CorruptCheckpointError(`${directory}: the metadata says legacy=${legacy} but the state is ${Array.isArray(state) ? 'a tuple' : 'a dict'}.`, 'ERR_METADATA');
    }
    return state as NumpyRandomState;
  }

  async metadata(): Promise<null> {
    return null;
  }

  async finalize(directory: string): Promise<void> {
    await this.#composite.finalize(directory);
  }

  async close(): Promise<void> {
    await this.#composite.close();
  }
}
