/**
 * The signal that a step changed or vanished while a reader was snapshotting it (a writer
 * deleting or replacing it). It is an ENOENT error, like the file-system error the same race
 * raises locally, so that the waiting loop treats both alike and polls again.
 */

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Whether `error` says that a path vanished (the writer is deleting the step). */
export function isVanishedError(error: unknown): boolean {
  return errorCode(error) === 'ENOENT';
}

/** The ENOENT error of a step that changed or vanished while it was being snapshotted. */
export function stepVanishedError(stepDir: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`Step directory ${stepDir} changed while it was being snapshotted.`);
  error.code = 'ENOENT';
  return error;
}
