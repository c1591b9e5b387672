/** Yes/no questions about paths, answered without throwing (a missing path is simply "no"). */
import { lstat, stat } from 'node:fs/promises';

/** Whether `path` exists (following symlinks). */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Whether `path` is a directory (following symlinks). */
export async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Whether `path` itself is a symbolic link. */
export async function isSymlink(path: string): Promise<boolean> {
  return lstat(path).then(
    (s) => s.isSymbolicLink(),
    () => false,
  );
}
