/** The Python class names Orbax 0.12.8 records in `_CHECKPOINT_METADATA.item_handlers` (orbax-layout §3.2). */
const HANDLERS = 'orbax.checkpoint._src.handlers';

export const TYPESTRS = {
  standard: `${HANDLERS}.standard_checkpoint_handler.StandardCheckpointHandler`,
  pyTree: `${HANDLERS}.pytree_checkpoint_handler.PyTreeCheckpointHandler`,
  json: `${HANDLERS}.json_checkpoint_handler.JsonCheckpointHandler`,
  array: `${HANDLERS}.array_checkpoint_handler.ArrayCheckpointHandler`,
  proto: `${HANDLERS}.proto_checkpoint_handler.ProtoCheckpointHandler`,
  jaxRandomKey: `${HANDLERS}.random_key_checkpoint_handler.JaxRandomKeyCheckpointHandler`,
  numpyRandomKey: `${HANDLERS}.random_key_checkpoint_handler.NumpyRandomKeyCheckpointHandler`,
  composite: `${HANDLERS}.composite_checkpoint_handler.CompositeCheckpointHandler`,
} as const;
