/**
 * Orbax's save protocol for a top-level checkpoint (orbax-layout §9.2), shared by the sync and
 * async checkpointers: `<dir>.orbax-checkpoint-tmp` with the initial `_CHECKPOINT_METADATA`
 * (created while the handler captures its inputs), the handler's writes, `_CHECKPOINT_METADATA`
 * with item handlers and custom metadata, the handler's finalize, the commit timestamp,
 * `commit_success.txt`, and the durable rename. Input the handler refuses leaves nothing behind;
 * a failed write leaves the previous state and a recognisable temporary directory. A forced save
 * replaces the old checkpoint only once the new one is complete.
 */

import { existsSync } from 'node:fs';

import type { CheckpointArgs } from '../args/checkpointArgs.js';
import { AbortError, callNative, InvalidArgumentError } from '../errors.js';
import { Transfer, type TransferOptions, transferOf } from '../transfer.js';
import { type CheckpointHandler, isAsyncHandler, quiet } from '../handlers/checkpointHandler.js';
import { native } from '../native.js';
import { isPlainObject } from '../tree/pytree.js';
import { toTaggedJson } from '../tree/pyValue.js';
import { type AtomicityOptions, resolveAtomicityMode } from '../path/atomicity.js';
import { TMP_DIR_SUFFIX } from './checkpointPath.js';
import { type Storage, storageFor, type StorageOptions } from '../storage/index.js';
import { type CheckpointerProcess, processContextFor } from './saveProcesses.js';
import { type ResolvedMultiprocessing, SINGLE_PROCESS } from '../multiprocess/multiprocessingOptions.js';

/** A save between its start and its commit. */
export interface StartedSave {
  readonly finalDir: string;
  /** Commit-file mode: written under the final name, committed by `commit_success.txt`. */
  readonly inPlace: boolean;
  readonly tmpDir: string;
  /** Tagged JSON of `_CHECKPOINT_METADATA.custom_metadata`. */
  readonly customMetadata: string;
  /** The temporary directory's creation (resolves to its init timestamp). */
  readonly created: Promise<bigint>;
  /** Starts the creation if it was deferred (idempotent). */
  readonly startCreation: () => void;
  readonly creationStarted: () => boolean;
  /** Cancellation and progress, when asked for. */
  readonly transfer: Transfer | undefined;
  /** Where the checkpoint is written. */
  readonly storage: Storage;
  /** Object-store configuration passed to the native core and the handler. */
  readonly storageOptions: StorageOptions | undefined;
  /** This process's part in a multi-process save (single process: primary, barriers no-ops). */
  readonly process: CheckpointerProcess;
}

/** Validates the destination and options now, and starts creating the temporary directory. */
export function startSave(
  directory: string,
  opts: {
    force?: boolean;
    customMetadata?: unknown;
    atomicityOptions?: AtomicityOptions | undefined;
    storageOptions?: StorageOptions | undefined;
    multiprocessing?: ResolvedMultiprocessing | undefined;
  } & TransferOptions,
): StartedSave {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new InvalidArgumentError(`A checkpoint path is a non-empty string, got ${String(directory)}`);
  }
  const custom = opts.customMetadata ?? {};
  if (!isPlainObject(custom)) {
    throw new InvalidArgumentError('customMetadata must be a plain object with string keys.');
  }
  const customMetadata = toTaggedJson(custom, 'custom metadata');
  const storageOptions = opts.storageOptions;
  const storage = storageFor(directory, storageOptions);
  const finalDir = storage.resolve(directory);
  const force = opts.force ?? false;
  // Checked here, not only in the background, so that save() itself reports it (an object store
  // is asked in the background, by the native core, before anything is written).
  if (!force && storage.kind === 'local' && existsSync(finalDir)) {
    throw new InvalidArgumentError(`Destination ${finalDir} already exists.`);
  }
  const inPlace = resolveAtomicityMode(finalDir, opts.atomicityOptions) === 'commit_file';
  const transfer = Transfer.open(transferOf(opts));
  const process = processContextFor(storage, finalDir, opts.multiprocessing ?? SINGLE_PROCESS, opts.signal);
  let begin: () => void = () => undefined;
  let started = false;
  // Only the primary creates the directory; every process then waits for the others (the
  // directory exists for all of them once they pass).
  const created = quiet(
    new Promise<void>((resolveStart) => {
      begin = () => {
        started = true;
        resolveStart();
      };
    }).then(async () => {
      const init = process.isPrimary ? (await callNative(() => native.createTmpDirectory(finalDir, force, true, inPlace, storageOptions ?? null))).initTimestampNsecs : 0n;
      await process.barrier('created');
      return init;
    }),
  );
  // A forced commit-file save empties the destination, so it waits until the input is accepted.
  if (!(inPlace && force)) begin();
  return {
    finalDir,
    inPlace,
    tmpDir: inPlace ? finalDir : finalDir + TMP_DIR_SUFFIX,
    customMetadata,
    created,
    startCreation: () => begin(),
    creationStarted: () => started,
    transfer,
    storage,
    storageOptions,
    process,
  };
}

/** Has `handler` capture `args` and returns its writes (which wait for the directory). */
export async function captureWrites(handler: CheckpointHandler, save: StartedSave, args: CheckpointArgs, copyInputs: boolean): Promise<Array<Promise<void>>> {
  const directoryReady = save.created.then(() => undefined);
  try {
    const writes = isAsyncHandler(handler)
      ? (
          await handler.asyncSave(save.tmpDir, args, {
            directoryReady,
            copyInputs,
            inPlace: save.inPlace,
            storageOptions: save.storageOptions,
            ...(save.transfer ? { transfer: save.transfer.id } : {}),
            ...(save.process.processCount > 1 ? { multiprocessing: save.process } : {}),
          })
        ).map(quiet)
      : [quiet(directoryReady.then(() => handler.save(save.tmpDir, args, { storageOptions: save.storageOptions })))];
    save.startCreation();
    return writes;
  } catch (error) {
    save.transfer?.close();
    // Refused input: remove the directory it started so that nothing is left behind.
    if (save.creationStarted() && save.process.isPrimary) {
      await save.created.then(
        () => save.storage.remove(save.tmpDir),
        () => undefined,
      );
    }
    throw error;
  }
}

/** What `_CHECKPOINT_METADATA.item_handlers` records for `handler`. */
function itemHandlersOf(handler: CheckpointHandler): { itemHandler?: string; itemHandlerNames?: string[]; itemHandlerTypes?: Array<string | null> } {
  const composite = (handler as { itemHandlerTypestrs?: () => Record<string, string | null> }).itemHandlerTypestrs;
  if (typeof composite === 'function') {
    const entries = Object.entries(composite.call(handler));
    return { itemHandlerNames: entries.map(([name]) => name), itemHandlerTypes: entries.map(([, type]) => type) };
  }
  return { itemHandler: handler.typestr() };
}

/**
 * Waits for the writes, records the handlers, finalizes, stamps the commit time and commits. A
 * save cancelled through its signal commits nothing and removes its directory.
 */
export async function finishSave(save: StartedSave, handler: CheckpointHandler, writes: Array<Promise<void>>): Promise<void> {
  try {
    await commitSave(save, handler, writes);
  } catch (error) {
    if (save.transfer?.aborted) {
      // The directory is the primary's: only it removes what the cancelled save wrote.
      if (save.process.isPrimary) {
        await save.created.then(
          () => save.storage.remove(save.tmpDir),
          () => undefined,
        );
      }
      throw save.transfer.error(error);
    }
    throw error;
  } finally {
    save.transfer?.close();
  }
}

async function commitSave(save: StartedSave, handler: CheckpointHandler, writes: Array<Promise<void>>): Promise<void> {
  const initTimestampNsecs = await save.created;
  await Promise.all(writes);
  // Every process has written its part once everyone passes; only the primary commits, and the
  // others return once it has.
  await save.process.barrier('written');
  if (!save.process.isPrimary) {
    await save.process.barrier('committed');
    return;
  }
  const metadata = { ...itemHandlersOf(handler), initTimestampNsecs, customMetadata: save.customMetadata };
  const storageOptions = save.storageOptions ?? null;
  await callNative(() => native.writeStepMetadata(save.tmpDir, metadata, storageOptions));
  await handler.finalize(save.tmpDir, { storageOptions: save.storageOptions, ...(save.process.processCount > 1 ? { multiprocessing: save.process } : {}) });
  const commit = native.nowNanos();
  await callNative(() => native.writeStepMetadata(save.tmpDir, { ...metadata, commitTimestampNsecs: commit > initTimestampNsecs ? commit : initTimestampNsecs }, storageOptions));
  if (save.transfer?.aborted) throw new AbortError('The save was aborted before its commit.');
  await callNative(() => native.commitDirectory(save.tmpDir, save.finalDir, storageOptions));
  await save.process.barrier('committed');
}
