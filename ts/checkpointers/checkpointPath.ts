/** Checks shared by every checkpointer before it reads a checkpoint directory. */
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { storageFor, type StorageOptions } from '../storage/index.js';

/** Orbax's suffix of a checkpoint that is still being written. */
export const TMP_DIR_SUFFIX = '.orbax-checkpoint-tmp';

/**
 * Resolves `directory` and checks that it is a finished checkpoint, with Orbax's messages. In
 * commit-file mode a checkpoint is finished once it holds `commit_success.txt`.
 */
export async function finalizedCheckpointPath(directory: string, opts: { commitFile?: boolean; storageOptions?: StorageOptions | undefined } = {}): Promise<string> {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new InvalidArgumentError(`A checkpoint path is a non-empty string, got ${String(directory)}`);
  }
  const storage = storageFor(directory, opts.storageOptions);
  const path = storage.resolve(directory);
  if (!(await storage.isDirectory(path))) {
    throw new NotFoundError(`Checkpoint at ${path} not found.`);
  }
  const unfinished = opts.commitFile
    ? !(await storage.exists(storage.join(path, 'commit_success.txt')))
    : storage.basename(path).includes(TMP_DIR_SUFFIX);
  if (unfinished) {
    throw new InvalidArgumentError(`Found incomplete checkpoint at ${path}.`);
  }
  return path;
}
