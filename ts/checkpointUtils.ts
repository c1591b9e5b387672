/** `ocp.checkpointUtils`. */
export { constructRestoreArgs, type ConstructRestoreArgsOptions } from './restore/restoreArgs.js';
