/**
 * What counts as a finalized or a temporary checkpoint directory, in Orbax's two atomicity modes
 * (layout §9.4): ATOMIC_RENAME (write under `<name>.orbax-checkpoint-tmp`, then rename) and
 * COMMIT_FILE (write under the final name, then add `commit_success.txt`).
 */
import { z } from 'zod';

import { TMP_DIR_SUFFIX } from '../checkpointers/checkpointPath.js';
import { InvalidArgumentError } from '../errors.js';
import { parseOptions } from '../validation.js';
import { isSymlink } from '../util/fsChecks.js';
import { isRemoteLocation, type Storage, storageFor, type StorageOptions, storageOptionsSchema } from '../storage/index.js';

export { TMP_DIR_SUFFIX };

/** The marker file of a committed checkpoint (written in both modes; required in COMMIT_FILE). */
export const COMMIT_SUCCESS_FILE = 'commit_success.txt';

/**
 * Python `AtomicityMode`: `auto` = `commit_file` on object stores (every URL but `file://`: none
 * has an atomic rename; Python does it for `gs://`), `atomic_rename` on local paths.
 */
export type AtomicityMode = 'auto' | 'commit_file' | 'atomic_rename';

/** Python `ocp.options.AtomicityOptions`. */
export interface AtomicityOptions {
  /** Default `'auto'`. */
  mode?: AtomicityMode;
  /**
   * In COMMIT_FILE mode, also accept rename-style finals (directories without
   * `commit_success.txt` whose name lacks the tmp suffix). Default false.
   */
  allowLegacyAtomicRename?: boolean;
}

export const atomicityOptionsSchema = z
  .object({
    mode: z.enum(['auto', 'commit_file', 'atomic_rename']).optional(),
    allowLegacyAtomicRename: z.boolean().optional(),
  })
  .strict();

/** Options of the finalized/temporary predicates. */
export interface AtomicityCheckOptions {
  atomicityOptions?: AtomicityOptions;
  /** Object-store configuration (credentials, endpoint...) for URL paths. */
  storageOptions?: StorageOptions;
}

const checkOptionsSchema = z.object({ atomicityOptions: atomicityOptionsSchema.optional(), storageOptions: storageOptionsSchema.optional() }).strict();

/** Python `gcs_utils.is_gcs_path` (`gs://` paths; every object-store URL commits with a commit file). */
export function isGcsPath(path: string): boolean {
  return String(path).startsWith('gs://');
}

type ConcreteMode = Exclude<AtomicityMode, 'auto'>;

/**
 * Python `get_default_temporary_path_class`: an explicit mode wins, else by storage. Object
 * stores cannot rename a directory atomically, so `atomic_rename` there is an error.
 */
export function resolveAtomicityMode(path: string, options?: AtomicityOptions): ConcreteMode {
  const mode = options?.mode ?? 'auto';
  const remote = isRemoteLocation(path);
  if (mode === 'atomic_rename' && remote) {
    throw new InvalidArgumentError(`Atomicity mode atomic_rename is not possible at ${path}: object stores have no atomic rename; use commit_file.`);
  }
  if (mode !== 'auto') return mode;
  return remote ? 'commit_file' : 'atomic_rename';
}

// The four validators of Python's TemporaryPath classes, as booleans. Like Python, `is_dir`
// follows symlinks for finals; temporaries must not be symlinks (they get deleted).

async function isAtomicRenameFinal(path: string, storage: Storage): Promise<boolean> {
  return !storage.basename(path).includes(TMP_DIR_SUFFIX) && (await storage.isDirectory(path));
}

async function isAtomicRenameTemporary(path: string, storage: Storage): Promise<boolean> {
  return !(await isSymlink(path)) && storage.basename(path).includes(TMP_DIR_SUFFIX) && (await storage.isDirectory(path));
}

async function isCommitFileFinal(path: string, storage: Storage): Promise<boolean> {
  return (await storage.exists(storage.join(path, COMMIT_SUCCESS_FILE))) && (await storage.isDirectory(path));
}

async function isCommitFileTemporary(path: string, storage: Storage): Promise<boolean> {
  return !(await isSymlink(path)) && !(await storage.exists(storage.join(path, COMMIT_SUCCESS_FILE))) && (await storage.isDirectory(path));
}

/** Validated atomicity options (internal callers pass already-typed values). */
export function parseAtomicityCheckOptions(opts: AtomicityCheckOptions | undefined, what: string): AtomicityOptions | undefined {
  return parseOptions(checkOptionsSchema, opts, what).atomicityOptions;
}

/** Validated atomicity and storage options. */
export function parseCheckOptions(opts: AtomicityCheckOptions | undefined, what: string): { atomicityOptions?: AtomicityOptions | undefined; storageOptions?: StorageOptions | undefined } {
  return parseOptions(checkOptionsSchema, opts, what);
}

/**
 * Python `is_checkpoint_finalized` (= `temporary_paths.is_path_finalized`). A missing path or a
 * regular file is not finalized (0.12.8 returns False; the seed's ValueError is gone).
 */
export async function isCheckpointFinalized(path: string, opts?: AtomicityCheckOptions): Promise<boolean> {
  const { atomicityOptions, storageOptions } = parseCheckOptions(opts, 'isCheckpointFinalized options');
  return isPathFinalized(path, atomicityOptions, storageOptions);
}

/** Python `is_tmp_checkpoint` (= `temporary_paths.is_path_temporary`). Missing → false. */
export async function isTmpCheckpoint(path: string, opts?: AtomicityCheckOptions): Promise<boolean> {
  const { atomicityOptions, storageOptions } = parseCheckOptions(opts, 'isTmpCheckpoint options');
  return isPathTemporary(path, atomicityOptions, storageOptions);
}

/** {@link isCheckpointFinalized} without option validation, for internal callers. */
export async function isPathFinalized(path: string, options?: AtomicityOptions, storageOptions?: StorageOptions): Promise<boolean> {
  const storage = storageFor(path, storageOptions);
  if (resolveAtomicityMode(path, options) === 'atomic_rename') return isAtomicRenameFinal(path, storage);
  if (await isCommitFileFinal(path, storage)) return true;
  return options?.allowLegacyAtomicRename === true && isAtomicRenameFinal(path, storage);
}

/** {@link isTmpCheckpoint} without option validation, for internal callers. */
export async function isPathTemporary(path: string, options?: AtomicityOptions, storageOptions?: StorageOptions): Promise<boolean> {
  const storage = storageFor(path, storageOptions);
  if (resolveAtomicityMode(path, options) === 'atomic_rename') return isAtomicRenameTemporary(path, storage);
  // A legacy rename-style final is never temporary, even without commit_success.txt.
  if (options?.allowLegacyAtomicRename === true && (await isAtomicRenameFinal(path, storage))) return false;
  return isCommitFileTemporary(path, storage);
}

/**
 * The final path a temporary path commits to: in rename mode the name up to the suffix (so
 * `3.orbax-checkpoint-tmp-1703334121930256` → `3`), in commit-file mode the path itself.
 */
export function finalPathOfTemporary(tmpPath: string, options?: AtomicityOptions): string {
  if (resolveAtomicityMode(tmpPath, options) === 'commit_file') return tmpPath;
  const storage = storageFor(tmpPath);
  const name = storage.basename(tmpPath);
  const at = name.indexOf(TMP_DIR_SUFFIX);
  return at === -1 ? tmpPath : storage.join(storage.parent(tmpPath), name.slice(0, at));
}
