/** Checks shared by every checkpointer before it reads a checkpoint directory. */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { InvalidArgumentError, NotFoundError } from '../errors.js';

/** Orbax's suffix of a checkpoint that is still being written. */
export const TMP_DIR_SUFFIX = '.orbax-checkpoint-tmp';

/**
 * Resolves `directory` and checks that it is a finished checkpoint, with Orbax's messages. In
 * commit-file mode a checkpoint is finished once it holds `commit_success.txt`.
 */
export async function finalizedCheckpointPath(directory: string, opts: { commitFile?: boolean } = {}): Promise<string> {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new InvalidArgumentError(`A checkpoint path is a non-empty string, got ${String(directory)}`);
  }
  const path = resolve(directory);
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new NotFoundError(`Checkpoint at ${path} not found.`);
  }
  const unfinished = opts.commitFile
    ? !(await stat(join(path, 'commit_success.txt')).then(() => true, () => false))
    : path.split(/[\\/]/).pop()?.includes(TMP_DIR_SUFFIX);
  if (unfinished) {
    throw new InvalidArgumentError(`Found incomplete checkpoint at ${path}.`);
  }
  return path;
}
