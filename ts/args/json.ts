/** `args.JsonSave` / `args.JsonRestore`: one JSON document written as Python's `json.dumps`. */
import { InvalidArgumentError } from '../errors.js';
import { toTaggedJson } from '../tree/pyValue.js';
import { CheckpointArgs } from './checkpointArgs.js';

/**
 * Saves a JSON value (a dict normally). Integral JS numbers are written as Python ints; wrap a
 * number with `jsonFloat()` to write a float (`1.0`). NaN and ±Infinity are written as Python does.
 */
export class JsonSave extends CheckpointArgs {
  readonly item: unknown;
  /** The tagged form, captured now so that later changes to `item` do not leak into the save. */
  readonly tagged: string;

  constructor(item: unknown) {
    super();
    if (item instanceof CheckpointArgs) {
      throw new InvalidArgumentError(`JsonSave: the item must be a JSON value, got ${item.toString()}.`);
    }
    this.item = item;
    this.tagged = toTaggedJson(item, 'JsonSave item');
    Object.freeze(this);
  }
}

/** Restores the JSON value (`item` is unused, as in Orbax). */
export class JsonRestore extends CheckpointArgs {
  readonly item: unknown;

  constructor(item?: unknown) {
    super();
    this.item = item;
    Object.freeze(this);
  }
}
