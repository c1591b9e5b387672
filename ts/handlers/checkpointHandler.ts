/**
 * The handler interface (Python `CheckpointHandler` / `AsyncCheckpointHandler`). A handler
 * writes and reads one item in a directory; a checkpointer owns the temporary directory, the
 * step metadata and the atomic commit around it, so use handlers through a checkpointer.
 */
import type { CheckpointArgs } from '../args/checkpointArgs.js';
import type { StorageOptions } from '../storage/storage.js';

/**
 * Where a handler's directory lives: the object-store configuration when it is a URL
 * (`s3://…`, `memory://…`); absent for local paths. Checkpointers pass it to every call.
 */
export interface StorageContext {
  readonly storageOptions?: StorageOptions | undefined;
}

/**
 * This process's part in a multi-process save: every process runs the handler's save on the same
 * directory; only the primary creates sub-directories, writes shared files, finalizes and commits.
 */
export interface SaveProcessContext {
  readonly processIndex: number;
  readonly processCount: number;
  /** The process that creates directories, writes shared files, finalizes and commits. */
  readonly primaryHost: number;
  readonly isPrimary: boolean;
  /** Waits until every process reached the point `name` of this save (names unique per save). */
  barrier(name: string): Promise<void>;
}

/** What a checkpointer tells a handler's `finalize`. */
export interface FinalizeContext extends StorageContext {
  /** Present in multi-process saves (finalize runs on the primary only). */
  readonly multiprocessing?: SaveProcessContext | undefined;
}

/** Writes and reads one kind of item. */
export interface CheckpointHandler<SaveA extends CheckpointArgs = CheckpointArgs, RestoreA extends CheckpointArgs = CheckpointArgs, R = unknown, M = unknown> {
  /** Writes the item into `directory` (which exists); resolves when written. */
  save(directory: string, args: SaveA, context?: StorageContext): Promise<void>;
  /** Reads the item of `directory`. */
  restore(directory: string, args?: RestoreA, context?: StorageContext): Promise<R>;
  /** Metadata of the item, without reading its data (null if the handler has none). */
  metadata(directory: string, context?: StorageContext): Promise<M | null>;
  /** Runs once after every write of a save has finished (e.g. merging per-process databases). */
  finalize(directory: string, context?: FinalizeContext): Promise<void>;
  /** Releases resources. */
  close(): Promise<void>;
  /**
   * The Python handler class name recorded in `_CHECKPOINT_METADATA.item_handlers`
   * (`<module>.<qualname>`), so that Python Orbax knows how to restore the item.
   */
  typestr(): string;
}

/** What a checkpointer tells a handler's `asyncSave`. */
export interface AsyncSaveContext extends StorageContext {
  /**
   * Settles once `directory` exists (checkpointers create it while the handler captures its
   * inputs, as Orbax does); every write must wait for it, and fail if it rejects.
   */
  readonly directoryReady?: Promise<void>;
  /**
   * Whether the handler must copy the caller's data before `asyncSave` resolves (default true).
   * A synchronous checkpointer passes false: it waits for the writes before returning.
   */
  readonly copyInputs?: boolean;
  /**
   * Commit-file mode (stores without an atomic rename): sub-directories are written under their
   * final names and committed by their `commit_success.txt` alone. Default false.
   */
  readonly inPlace?: boolean;
  /** A native transfer handle whose cancellation and progress the writes honour. */
  readonly transfer?: number;
  /** Present in multi-process saves. */
  readonly multiprocessing?: SaveProcessContext | undefined;
}

/** A handler whose save has a blocking phase (capture inputs) and a background phase (write). */
export interface AsyncCheckpointHandler<SaveA extends CheckpointArgs = CheckpointArgs, RestoreA extends CheckpointArgs = CheckpointArgs, R = unknown, M = unknown>
  extends CheckpointHandler<SaveA, RestoreA, R, M> {
  /**
   * Captures `args` (the caller may change its data once this resolves) and starts writing; the
   * returned promises settle when the writes do.
   */
  asyncSave(directory: string, args: SaveA, context?: AsyncSaveContext): Promise<Array<Promise<void>>>;
}

/** A handler class: constructible without arguments for registry use, with a static typestr. */
export interface HandlerClass<H extends CheckpointHandler = CheckpointHandler> {
  new (...args: never[]): H;
  typestr(): string;
}

/** Whether `handler` implements {@link AsyncCheckpointHandler}. */
export function isAsyncHandler(handler: CheckpointHandler): handler is AsyncCheckpointHandler {
  return typeof (handler as Partial<AsyncCheckpointHandler>).asyncSave === 'function';
}

/** Whether `value` looks like a handler instance. */
export function isHandler(value: unknown): value is CheckpointHandler {
  if (typeof value !== 'object' || value === null) return false;
  const h = value as Partial<CheckpointHandler>;
  return typeof h.save === 'function' && typeof h.restore === 'function' && typeof h.typestr === 'function';
}

/**
 * Marks a write as observed so that one failing before the caller awaits it is not reported as
 * an unhandled rejection; the caller still awaits (and sees) the same promise.
 */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
