/** `ocp.options` (Python `orbax.checkpoint.options`): option records shared by checkpointers and managers. */
export type { AsyncOptions, FileOptions, MultiprocessingOptions } from '../checkpointManagers/optionTypes.js';
export type { AtomicityMode, AtomicityOptions } from '../path/atomicity.js';
