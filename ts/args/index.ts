/** `ocp.args`: save/restore argument classes, one per handler, and `Composite`. */
export { CheckpointArgs, type ArgsClass } from './checkpointArgs.js';
export { StandardSave, StandardRestore, type StandardSaveOptions, type StandardRestoreOptions } from './standard.js';
export { PyTreeSave, PyTreeRestore, type PyTreeSaveOptions, type PyTreeRestoreOptions } from './pyTree.js';
export { JsonSave, JsonRestore } from './json.js';
export { ArraySave, ArrayRestore } from './array.js';
export { ProtoSave, ProtoRestore, type ProtoMessageLike } from './proto.js';
export {
  JaxRandomKeySave,
  JaxRandomKeyRestore,
  NumpyRandomKeySave,
  NumpyRandomKeyRestore,
  type JaxRandomKey,
  type NumpyLegacyState,
  type NumpyRandomState,
} from './randomKey.js';
export { Composite, isComposite } from './composite.js';
export {
  registerWithHandler,
  getRegisteredHandlerClass,
  getRegisteredArgsClasses,
  hasRegisteredArgs,
} from '../handlers/registration.js';
