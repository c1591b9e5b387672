/**
 * `ocp.path.step` (Python `orbax.checkpoint.path.step`, also `ocp.step`): step naming, step
 * discovery, finalized/temporary rules and temporary directories.
 */
export {
  type AtomicityCheckOptions,
  type AtomicityMode,
  type AtomicityOptions,
  COMMIT_SUCCESS_FILE,
  isCheckpointFinalized,
  isGcsPath,
  isTmpCheckpoint,
  TMP_DIR_SUFFIX,
} from './atomicity.js';
export { ALLOWED_STEP_NAME_PATTERN, anyCheckpointStep, checkpointSteps, checkpointStepsPaths, stepFromCheckpointName, TMP_DIR_STEP_PATTERN } from './legacySteps.js';
export {
  buildStepMetadatas,
  buildStepPath,
  compositeNameFormat,
  type NameFormat,
  standardNameFormat,
  type StandardNameFormatOptions,
  type StepLookupOptions,
  stepPrefixWithUnderscore,
} from './nameFormat.js';
export {
  findStepPath,
  type FindStepPathOptions,
  getSaveDirectory,
  type GetSaveDirectoryOptions,
  latestStepMetadata,
  maybeFindStepMetadata,
  stepMetadataOfCheckpointPath,
} from './stepLookup.js';
export { Metadata, StepPathMetadata } from './stepPathMetadata.js';
export { cleanupTmpDirectories, createTmpDirectory, getTmpDirectory, tmpCheckpoints } from './tmpPaths.js';
