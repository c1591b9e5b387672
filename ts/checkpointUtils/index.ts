/** `ocp.checkpointUtils` (Python `orbax.checkpoint.checkpoint_utils`). */
export { type CheckpointsIteratorOptions, checkpointsIterator } from './checkpointsIterator.js';
export { getSnapshotDirFromStepDir, SNAPSHOTS_DIR } from './snapshots.js';
export { LOCKED_MARKER, unlockExistingCheckpoints, type UnlockExistingCheckpointsOptions } from './unlockExistingCheckpoints.js';
export { type CheckpointLease, waitForNewCheckpoint, type WaitForNewCheckpointOptions } from './waitForNewCheckpoint.js';

// ---------------------------------------------------------------------------------------------
// RESERVED FOR THE LEAD: `constructRestoreArgs` (api.md §1) lives in its own file and is
// re-exported here, e.g.
//   export { constructRestoreArgs } from './constructRestoreArgs.js';
// ---------------------------------------------------------------------------------------------
