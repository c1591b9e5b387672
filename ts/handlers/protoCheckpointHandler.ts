/** `ProtoCheckpointHandler`: one protobuf text-format file (`proto.pbtxt`). */
import { open } from 'node:fs/promises';

import { z } from 'zod';

import { parseArgsOptions } from '../args/checkpointArgs.js';
import { ProtoRestore, ProtoSave } from '../args/proto.js';
import { NotFoundError } from '../errors.js';
import { storageFor } from '../storage/index.js';
import { expectArgs } from './argsCheck.js';
import type { AsyncCheckpointHandler, AsyncSaveContext, StorageContext } from './checkpointHandler.js';
import { TYPESTRS } from './typestrs.js';

const optionsSchema = z.object({ filename: z.string().min(1).optional() }).strict();

/** A secondary process of a multi-process save: the primary alone writes the file. */
function isSecondaryProcess(context: AsyncSaveContext | undefined): boolean {
  return context?.multiprocessing?.isPrimary === false;
}

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

  async save(directory: string, args: ProtoSave, context?: StorageContext): Promise<void> {
    await Promise.all(await this.asyncSave(directory, args, context));
  }

  async asyncSave(directory: string, args: ProtoSave, context?: AsyncSaveContext): Promise<Array<Promise<void>>> {
    const save = expectArgs('ProtoCheckpointHandler', args, [ProtoSave]);
    if (isSecondaryProcess(context)) return [];
    const storage = storageFor(directory, context?.storageOptions);
    const path = storage.join(directory, this.filename);
    const write = async (): Promise<void> => {
      if (storage.kind === 'object') {
        await storage.write(path, save.text); // one PUT: the object is whole or absent
        return;
      }
      const file = await open(path, 'w');
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
  async restore(directory: string, args?: ProtoRestore<unknown>, context?: StorageContext): Promise<unknown> {
    const restore = args === undefined ? undefined : expectArgs('ProtoCheckpointHandler', args, [ProtoRestore]);
    const storage = storageFor(directory, context?.storageOptions);
    const path = storage.join(directory, this.filename);
    const bytes = await storage.read(path);
    if (bytes === undefined) throw new NotFoundError(`File ${path} not found.`);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return restore?.parse ? restore.parse(text) : text;
  }

  async metadata(): Promise<null> {
    return null;
  }

  async finalize(): Promise<void> {}

  async close(): Promise<void> {}
}
