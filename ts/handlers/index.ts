/** `ocp.handlers`: the handler interface, the built-in handlers and the registries. */
import './builtins.js';

export { type CheckpointHandler, type AsyncCheckpointHandler, type HandlerClass, isAsyncHandler } from './checkpointHandler.js';
export { StandardCheckpointHandler, type StandardCheckpointHandlerOptions } from './standardCheckpointHandler.js';
export { PyTreeCheckpointHandler, type PyTreeCheckpointHandlerOptions } from './pyTreeCheckpointHandler.js';
export { JsonCheckpointHandler } from './jsonCheckpointHandler.js';
export { ArrayCheckpointHandler } from './arrayCheckpointHandler.js';
export { ProtoCheckpointHandler } from './protoCheckpointHandler.js';
export { JaxRandomKeyCheckpointHandler, NumpyRandomKeyCheckpointHandler } from './randomKeyCheckpointHandlers.js';
export { CompositeCheckpointHandler, type CompositeCheckpointHandlerOptions } from './compositeCheckpointHandler.js';
export { CheckpointHandlerRegistry, DefaultCheckpointHandlerRegistry, type HandlerRegistryEntry } from './handlerRegistry.js';
export { registerHandlerType, getHandlerType } from './registration.js';
export { TYPESTRS } from './typestrs.js';
