/**
 * Where checkpoints live, as Orbax's `epath.Path` abstracts it: a local directory tree, or an
 * object store (S3, GCS, Azure, in-memory) addressed by URL. Everything above the native core —
 * step discovery, the manager, the commit protocol, the checkpoint utilities — reaches storage
 * through this interface, so the same code runs on both.
 *
 * Locations are strings: absolute local paths, or URLs (`s3://bucket/prefix/5/default`). Object
 * stores have no directories: a "directory" is a key prefix that at least one object starts with.
 */

/** object_store configuration (credentials, region, endpoint...), passed to the native core. */
export type StorageOptions = Record<string, string>;

import { InvalidArgumentError } from '../errors.js';

/** A half-open range of byte offsets. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** A range is two safe integers, `0 <= start <= end`. */
export function checkRange(range: ByteRange): void {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
    throw new InvalidArgumentError(`Invalid byte range ${range.start}..${range.end}`);
  }
}

/** One entry of a directory listing. */
export interface StorageEntry {
  readonly name: string;
  readonly isDirectory: boolean;
}

export interface Storage {
  /** `'local'` for the file system, `'object'` for object stores. */
  readonly kind: 'local' | 'object';
  /** Local: no atomic rename on object stores, so they commit with `commit_success.txt`. */
  readonly hasAtomicRename: boolean;
  /** The store configuration remote calls pass to the native core (`undefined` locally). */
  readonly options: StorageOptions | undefined;

  /** Absolute form of `location` (`path.resolve` locally; URLs unchanged but for a trailing `/`). */
  resolve(location: string): string;
  /** `location` extended by `parts` (`/`-joined for URLs). */
  join(location: string, ...parts: string[]): string;
  /** The containing location. */
  parent(location: string): string;
  /** The last component. */
  basename(location: string): string;

  /** True if a file/object or a (non-empty, for object stores) directory exists there. */
  exists(location: string): Promise<boolean>;
  /** True for a directory (object stores: a prefix holding at least one object). */
  isDirectory(location: string): Promise<boolean>;
  /** True for a file/object (not a directory). */
  isFile(location: string): Promise<boolean>;
  /** Children of a directory, sorted by name; `[]` when it does not exist. */
  list(location: string): Promise<StorageEntry[]>;
  /** Modification time in ms (object stores: the newest object under it), `undefined` if absent. */
  modifiedMs(location: string): Promise<number | undefined>;

  /**
   * The file's bytes (or bytes `[start, end)` of it), or `undefined` when it does not exist. A
   * range past the end of the file is an error.
   */
  read(location: string, range?: ByteRange): Promise<Uint8Array | undefined>;
  /**
   * Writes a whole file (creating parent directories locally), replacing any previous one
   * atomically: readers see the old file or the complete new one, never a part.
   */
  write(location: string, data: Uint8Array | string): Promise<void>;
  /**
   * Creates the file only if absent, atomically (a hard link of a complete temporary file
   * locally, a conditional PUT remotely); false if it existed.
   */
  writeIfAbsent(location: string, data: Uint8Array | string): Promise<boolean>;
  /** `mkdir -p` locally; nothing on object stores (prefixes exist once written). */
  makeDirectory(location: string): Promise<void>;
  /** Removes a file or a whole directory tree; an absent location is no error. */
  remove(location: string): Promise<void>;
  /** Copies a directory tree (or a file) to `destination`. */
  copy(source: string, destination: string): Promise<void>;
}
