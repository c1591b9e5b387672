/** `ocp.checkpointUtils` (Python `orbax.checkpoint.checkpoint_utils`). */
export { type CheckpointsIteratorOptions, checkpointsIterator } from './checkpointsIterator.js';
export { getSnapshotDirFromStepDir, SNAPSHOTS_DIR } from './snapshots.js';
export { LOCKED_MARKER, unlockExistingCheckpoints, type UnlockExistingCheckpointsOptions } from './unlockExistingCheckpoints.js';
export { type CheckpointLease, waitForNewCheckpoint, type WaitForNewCheckpointOptions } from './waitForNewCheckpoint.js';

export { constructRestoreArgs, type ConstructRestoreArgsOptions } from '../restore/restoreArgs.js';
