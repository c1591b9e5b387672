/**
 * What counts as a finalized or a temporary checkpoint directory, in Orbax's two atomicity modes
 * (layout §9.4): ATOMIC_RENAME (write under `<name>.orbax-checkpoint-tmp`, then rename) and
 * COMMIT_FILE (write under the final name, then add `commit_success.txt`).
 */
import { basename, dirname, join } from 'node:path';

import { z } from 'zod';

import { TMP_DIR_SUFFIX } from '../checkpointers/checkpointPath.js';
import { parseOptions } from '../validation.js';
import { exists, isDirectory, isSymlink } from '../util/fsChecks.js';

export { TMP_DIR_SUFFIX };

/** The marker file of a committed checkpoint (written in both modes; required in COMMIT_FILE). */
export const COMMIT_SUCCESS_FILE = 'commit_success.txt';

/** Python `AtomicityMode`: `auto` = `commit_file` for `gs://` paths, `atomic_rename` otherwise. */
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
}

const checkOptionsSchema = z.object({ atomicityOptions: atomicityOptionsSchema.optional() }).strict();

/** Python `gcs_utils.is_gcs_path`. orbax-ts has no GCS backend; this only picks the atomicity mode. */
export function isGcsPath(path: string): boolean {
  return String(path).startsWith('gs://');
}

type ConcreteMode = Exclude<AtomicityMode, 'auto'>;

/** Python `get_default_temporary_path_class`: an explicit mode wins, else by storage. */
export function resolveAtomicityMode(path: string, options?: AtomicityOptions): ConcreteMode {
  const mode = options?.mode ?? 'auto';
  if (mode !== 'auto') return mode;
  return isGcsPath(path) ? 'commit_file' : 'atomic_rename';
}

// The four validators of Python's TemporaryPath classes, as booleans. Like Python, `is_dir`
// follows symlinks for finals; temporaries must not be symlinks (they get deleted).

async function isAtomicRenameFinal(path: string): Promise<boolean> {
  return !basename(path).includes(TMP_DIR_SUFFIX) && (await isDirectory(path));
}

async function isAtomicRenameTemporary(path: string): Promise<boolean> {
  return !(await isSymlink(path)) && basename(path).includes(TMP_DIR_SUFFIX) && (await isDirectory(path));
}

async function isCommitFileFinal(path: string): Promise<boolean> {
  return (await exists(join(path, COMMIT_SUCCESS_FILE))) && (await isDirectory(path));
}

async function isCommitFileTemporary(path: string): Promise<boolean> {
  return !(await isSymlink(path)) && !(await exists(join(path, COMMIT_SUCCESS_FILE))) && (await isDirectory(path));
}

/** Validated atomicity options (internal callers pass already-typed values). */
export function parseAtomicityCheckOptions(opts: AtomicityCheckOptions | undefined, what: string): AtomicityOptions | undefined {
  return parseOptions(checkOptionsSchema, opts, what).atomicityOptions;
}

/**
 * Python `is_checkpoint_finalized` (= `temporary_paths.is_path_finalized`). A missing path or a
 * regular file is not finalized (0.12.8 returns False; the seed's ValueError is gone).
 */
export async function isCheckpointFinalized(path: string, opts?: AtomicityCheckOptions): Promise<boolean> {
  return isPathFinalized(path, parseAtomicityCheckOptions(opts, 'isCheckpointFinalized options'));
}

/** Python `is_tmp_checkpoint` (= `temporary_paths.is_path_temporary`). Missing → false. */
export async function isTmpCheckpoint(path: string, opts?: AtomicityCheckOptions): Promise<boolean> {
  return isPathTemporary(path, parseAtomicityCheckOptions(opts, 'isTmpCheckpoint options'));
}

/** {@link isCheckpointFinalized} without option validation, for internal callers. */
export async function isPathFinalized(path: string, options?: AtomicityOptions): Promise<boolean> {
  if (resolveAtomicityMode(path, options) === 'atomic_rename') return isAtomicRenameFinal(path);
  if (await isCommitFileFinal(path)) return true;
  return options?.allowLegacyAtomicRename === true && isAtomicRenameFinal(path);
}

/** {@link isTmpCheckpoint} without option validation, for internal callers. */
export async function isPathTemporary(path: string, options?: AtomicityOptions): Promise<boolean> {
  if (resolveAtomicityMode(path, options) === 'atomic_rename') return isAtomicRenameTemporary(path);
  // A legacy rename-style final is never temporary, even without commit_success.txt.
  if (options?.allowLegacyAtomicRename === true && (await isAtomicRenameFinal(path))) return false;
  return isCommitFileTemporary(path);
}

/**
 * The final path a temporary path commits to: in rename mode the name up to the suffix (so
 * `3.orbax-checkpoint-tmp-1703334121930256` → `3`), in commit-file mode the path itself.
 */
export function finalPathOfTemporary(tmpPath: string, options?: AtomicityOptions): string {
  if (resolveAtomicityMode(tmpPath, options) === 'commit_file') return tmpPath;
  const name = basename(tmpPath);
  const at = name.indexOf(TMP_DIR_SUFFIX);
  return at === -1 ? tmpPath : join(dirname(tmpPath), name.slice(0, at));
}
