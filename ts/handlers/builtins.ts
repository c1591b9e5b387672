/** Registers the built-in handlers with their args classes and typestrs (imported for its effect). */
import { ArrayRestore, ArraySave } from '../args/array.js';
import { JsonRestore, JsonSave } from '../args/json.js';
import { ProtoRestore, ProtoSave } from '../args/proto.js';
import { PyTreeRestore, PyTreeSave } from '../args/pyTree.js';
import { JaxRandomKeyRestore, JaxRandomKeySave, NumpyRandomKeyRestore, NumpyRandomKeySave } from '../args/randomKey.js';
import { StandardRestore, StandardSave } from '../args/standard.js';
import { Composite } from '../args/composite.js';
import { ArrayCheckpointHandler } from './arrayCheckpointHandler.js';
import type { HandlerClass } from './checkpointHandler.js';
import { CompositeCheckpointHandler } from './compositeCheckpointHandler.js';
import { JsonCheckpointHandler } from './jsonCheckpointHandler.js';
import { ProtoCheckpointHandler } from './protoCheckpointHandler.js';
import { PyTreeCheckpointHandler } from './pyTreeCheckpointHandler.js';
import { JaxRandomKeyCheckpointHandler, NumpyRandomKeyCheckpointHandler } from './randomKeyCheckpointHandlers.js';
import { registerWithHandler } from './registration.js';
import { StandardCheckpointHandler } from './standardCheckpointHandler.js';

const pairs: Array<[HandlerClass, abstract new (...a: never[]) => unknown, abstract new (...a: never[]) => unknown]> = [
  [StandardCheckpointHandler, StandardSave, StandardRestore],
  [PyTreeCheckpointHandler, PyTreeSave, PyTreeRestore],
  [JsonCheckpointHandler, JsonSave, JsonRestore],
  [ArrayCheckpointHandler, ArraySave, ArrayRestore],
  [ProtoCheckpointHandler, ProtoSave, ProtoRestore],
  [JaxRandomKeyCheckpointHandler, JaxRandomKeySave, JaxRandomKeyRestore],
  [NumpyRandomKeyCheckpointHandler, NumpyRandomKeySave, NumpyRandomKeyRestore],
];

for (const [handler, save, restore] of pairs) {
  registerWithHandler(save as never, handler, { forSave: true });
  registerWithHandler(restore as never, handler, { forRestore: true });
}
registerWithHandler(Composite as never, CompositeCheckpointHandler as unknown as HandlerClass, { forSave: true, forRestore: true });
