/**
 * `args.ProtoSave` / `args.ProtoRestore`: a protobuf message in text format. orbax-ts has no
 * protobuf runtime: it takes and returns the text format (`name: "foo"\n`), or any object with a
 * `toTextFormat()` method, and a restore may pass a parser to get a message back.
 */
import { InvalidArgumentError } from '../errors.js';
import { CheckpointArgs } from './checkpointArgs.js';

/** Something that renders itself in protobuf text format. */
export interface ProtoMessageLike {
  toTextFormat(): string;
}

/** Saves a message: its text format, captured now. */
export class ProtoSave extends CheckpointArgs {
  readonly text: string;

  constructor(item: string | ProtoMessageLike) {
    super();
    if (typeof item === 'string') {
      this.text = item;
    } else if (typeof item === 'object' && item !== null && typeof (item as ProtoMessageLike).toTextFormat === 'function') {
      this.text = item.toTextFormat();
      if (typeof this.text !== 'string') throw new InvalidArgumentError('ProtoSave: toTextFormat() must return a string.');
    } else {
      throw new InvalidArgumentError('ProtoSave takes protobuf text format (a string) or an object with toTextFormat().');
    }
    Object.freeze(this);
  }
}

/** Restores the text format, or `parse(text)` when a parser is given. */
export class ProtoRestore<T = string> extends CheckpointArgs {
  readonly parse: ((text: string) => T) | undefined;

  constructor(parse?: (text: string) => T) {
    super();
    if (parse !== undefined && typeof parse !== 'function') {
      throw new InvalidArgumentError('ProtoRestore takes an optional parser function (text → message).');
    }
    this.parse = parse;
    Object.freeze(this);
  }
}
