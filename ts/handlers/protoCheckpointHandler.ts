/** `ProtoCheckpointHandler`: one protobuf text-format file (`proto.pbtxt`). */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { z } from 'zod';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { ProtoRestore, ProtoSave } from '../args/proto.js';
import { NotFoundError } from '../errors.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext } from './checkpointHandler.js';
import { TYPESTRS } from './typestrs.js';

const optionsSchema = z.object({ filename: z.string().min(1).optional() }).strict();

/** Mirrors Python's `ProtoCheckpointHandler`, with text format in place of message classes. */
export class ProtoCheckpointHandler implements AsyncCheckpointHandler<ProtoSave, ProtoRestore<unknown>, unknown, unknown> {
  static typestr(): string {
    return TYPESTRS.proto;
  }

  readonly filename: string;

  constructor(opts?: { filename?: string }) {
    this.filename = parseArgsOptions(optionsSchema, opts, 'ProtoCheckpointHandler options').filename ?? 'proto.pbtxt';
  }

  typestr(): string {
    return ProtoCheckpointHandler.typestr();
  }

  async save(directory: string, args: ProtoSave): Promise<void> {
    await Promise.all(await this.asyncSave(directory, args));
  }

  async asyncSave(directory: string, args: ProtoSave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('ProtoCheckpointHandler', args, [ProtoSave]);
    const write = async (): Promise<void> => {
      const file = await open(join(directory, this.filename), 'w');
      try {
        await file.writeFile(save.text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
    };
    return [(context?.directoryReady ?? Promise.resolve()).then(write)];
  }

  /** The text format, or `args.parse(text)`. */
  async restore(directory: string, args?: ProtoRestore<unknown>): Promise<unknown> {
    const restore = args === undefined ? undefined : expectArgs('ProtoCheckpointHandler', args, [ProtoRestore]);
    const path = join(directory, this.filename);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`File ${path} not found.`, { cause: error });
      throw error;
    }
    return restore?.parse ? restore.parse(text) : text;
  }

  async metadata(): Promise<null> {
    return null;
  }

  async finalize(): Promise<void> {}

  async close(): Promise<void> {}
}
