// The path.step and checkpointUtils modules, loaded from the built library (dist/) until they are
// re-exported from the package entry point. Types come from dist's declarations.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type StepModule = typeof import('../../dist/path/step.js');
type CheckpointUtilsModule = typeof import('../../dist/checkpointUtils/index.js');
type SnapshotsModule = typeof import('../../dist/checkpointUtils/snapshots.js');
type WaitModule = typeof import('../../dist/checkpointUtils/waitForNewCheckpoint.js');
type IteratorModule = typeof import('../../dist/checkpointUtils/checkpointsIterator.js');

/** The worktree's dist directory (tests run from the repository root). */
export const distDir = join(process.cwd(), 'dist');

async function load<T>(relative: string): Promise<T> {
  return (await import(pathToFileURL(join(distDir, relative)).href)) as T;
}

export const step = await load<StepModule>('path/step.js');
export const checkpointUtils = await load<CheckpointUtilsModule>('checkpointUtils/index.js');
export const snapshots = await load<SnapshotsModule>('checkpointUtils/snapshots.js');
export const waitInternals = await load<WaitModule>('checkpointUtils/waitForNewCheckpoint.js');
export const iteratorInternals = await load<IteratorModule>('checkpointUtils/checkpointsIterator.js');
