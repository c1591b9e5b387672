/**
 * Random-key handlers, laid out as Orbax 0.12.8 lays them out (orbax-layout §2.6): a composite of
 * the key item and a `<key name>_metadata/metadata` JSON item, each committed inside the
 * handler's own directory.
 */
import { z } from 'zod';

import { ArrayRestore, ArraySave } from '../args/array.js';
import { type CheckpointArgs, parseArgsOptions } from '../args/checkpointArgs.js';
import { Composite } from '../args/composite.js';
import { JsonRestore, JsonSave } from '../args/json.js';
import { PyTreeRestore, PyTreeSave } from '../args/pyTree.js';
import { type JaxRandomKey, JaxRandomKeyRestore, JaxRandomKeySave, NumpyRandomKeyRestore, NumpyRandomKeySave, type NumpyRandomState } from '../args/randomKey.js';
import { CorruptCheckpointError, UnsupportedTypeError } from '../errors.js';
import { isNdArray, type NdArray } from '../tree/ndarray.js';
import { ArrayCheckpointHandler } from './arrayCheckpointHandler.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext, CheckpointHandler } from './checkpointHandler.js';
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

/**
 * What both random-key handlers share: a composite of `<keyName>` (written by `keyHandler`) and
 * `<keyName>_metadata` (a JSON flag), finalized and closed with it.
 */
abstract class RandomKeyHandlerBase<SaveA extends CheckpointArgs, RestoreA extends CheckpointArgs, R> implements AsyncCheckpointHandler<SaveA, RestoreA, R, null> {
  readonly keyName: string;
  protected readonly composite: CompositeCheckpointHandler;

  protected constructor(keyName: string, keyHandler: CheckpointHandler) {
    this.keyName = keyName;
    this.composite = new CompositeCheckpointHandler({ items: { [keyName]: keyHandler, [`${keyName}_metadata`]: new JsonCheckpointHandler() } });
  }

  abstract typestr(): string;
  abstract asyncSave(directory: string, args: SaveA, context?: AsyncSaveContext): Promise<Array<Promise<void>>>;
  abstract restore(directory: string, args?: RestoreA): Promise<R>;

  async save(directory: string, args: SaveA): Promise<void> {
    await Promise.all(await this.asyncSave(directory, args, { copyInputs: false }));
  }

  /** Writes the key item and its `{"<flag>": value}` metadata item. */
  protected saveItems(directory: string, keyArgs: CheckpointArgs, flags: Record<string, boolean>, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    return this.composite.asyncSave(directory, new Composite({ [this.keyName]: keyArgs, [`${this.keyName}_metadata`]: new JsonSave(flags) }), context);
  }

  /** Reads the key item and the named boolean flag of its metadata item. */
  protected async restoreItems(directory: string, keyArgs: CheckpointArgs, flag: string): Promise<{ key: unknown; flag: boolean }> {
    const result = await this.composite.restore(directory, new Composite({ [this.keyName]: keyArgs, [`${this.keyName}_metadata`]: new JsonRestore() }));
    return { key: result.get(this.keyName), flag: metadataFlag(result.get(`${this.keyName}_metadata`), flag, directory) };
  }

  async metadata(): Promise<null> {
    return null;
  }

  async finalize(directory: string): Promise<void> {
    await this.composite.finalize(directory);
  }

  async close(): Promise<void> {
    await this.composite.close();
  }
}

/** Mirrors Python's `JaxRandomKeyCheckpointHandler`: restores `{ data, typed }`. */
export class JaxRandomKeyCheckpointHandler extends RandomKeyHandlerBase<JaxRandomKeySave, JaxRandomKeyRestore, JaxRandomKey> {
  static typestr(): string {
    return TYPESTRS.jaxRandomKey;
  }

  constructor(opts?: { keyName?: string }) {
    super(parseArgsOptions(optionsSchema, opts, 'JaxRandomKeyCheckpointHandler options').keyName ?? 'jax_random_key', new ArrayCheckpointHandler());
  }

  typestr(): string {
    return JaxRandomKeyCheckpointHandler.typestr();
  }

  async asyncSave(directory: string, args: JaxRandomKeySave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('JaxRandomKeyCheckpointHandler', args, [JaxRandomKeySave]);
    const keyArgs = new ArraySave(save.item.data, save.saveArgs !== undefined ? { saveArgs: save.saveArgs } : undefined);
    return this.saveItems(directory, keyArgs, { typed: save.item.typed }, context);
  }

  async restore(directory: string, args?: JaxRandomKeyRestore): Promise<JaxRandomKey> {
    const restore = args === undefined ? new JaxRandomKeyRestore() : expectArgs('JaxRandomKeyCheckpointHandler', args, [JaxRandomKeyRestore]);
    const { key, flag } = await this.restoreItems(directory, new ArrayRestore(restore.restoreArgs !== undefined ? { restoreArgs: restore.restoreArgs } : undefined), 'typed');
    if (!isNdArray(key) || key.dtype !== 'uint32') {
      throw new UnsupportedTypeError(`${directory}: the key data is not a uint32 array.`);
    }
    return Object.freeze({ data: key as NdArray<'uint32'>, typed: flag });
  }
}

/** Mirrors Python's `NumpyRandomKeyCheckpointHandler`: the legacy tuple (as an array) or the state dict. */
export class NumpyRandomKeyCheckpointHandler extends RandomKeyHandlerBase<NumpyRandomKeySave, NumpyRandomKeyRestore, NumpyRandomState> {
  static typestr(): string {
    return TYPESTRS.numpyRandomKey;
  }

  constructor(opts?: { keyName?: string }) {
    super(parseArgsOptions(optionsSchema, opts, 'NumpyRandomKeyCheckpointHandler options').keyName ?? 'np_random_key', new PyTreeCheckpointHandler());
  }

  typestr(): string {
    return NumpyRandomKeyCheckpointHandler.typestr();
  }

  async asyncSave(directory: string, args: NumpyRandomKeySave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('NumpyRandomKeyCheckpointHandler', args, [NumpyRandomKeySave]);
    return this.saveItems(directory, new PyTreeSave(save.item), { legacy: save.legacy }, context);
  }

  async restore(directory: string, args?: NumpyRandomKeyRestore): Promise<NumpyRandomState> {
    if (args !== undefined) expectArgs('NumpyRandomKeyCheckpointHandler', args, [NumpyRandomKeyRestore]);
    const { key: state, flag: legacy } = await this.restoreItems(directory, new PyTreeRestore(), 'legacy');
    if (legacy !== Array.isArray(state)) {
      throw new CorruptCheckpointError(`${directory}: the metadata says legacy=${legacy} but the state is ${Array.isArray(state) ? 'a tuple' : 'a dict'}.`, 'ERR_METADATA');
    }
    return state as NumpyRandomState;
  }
}
