#!/usr/bin/env node
/** The `orbax-ts` command line. */
import { OrbaxError } from '../errors.js';
import { formatInspection, inspect } from './inspect.js';

const USAGE = `usage: orbax-ts inspect PATH [--json] [--storage-option KEY=VALUE]...

  inspect PATH   print the tree (path, dtype, shape, size, chunking) of an Orbax checkpoint,
                 or the steps of a CheckpointManager directory; PATH may be a URL
                 (s3://bucket/run, gs://..., az://...)
  --json         machine-readable output
  --storage-option KEY=VALUE
                 object-store configuration for URL paths (e.g. aws_region=us-east-1,
                 aws_endpoint=http://localhost:9000); repeatable`;

const STORAGE_OPTION = '--storage-option';

/** The arguments of `inspect`, or null when they do not parse. */
function parseInspectArgs(args: string[]): { path: string; json: boolean; storageOptions: Record<string, string> } | null {
  const paths: string[] = [];
  const storageOptions: Record<string, string> = {};
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    let option: string | undefined;
    if (arg === '--json') {
      json = true;
      continue;
    } else if (arg === STORAGE_OPTION) {
      option = args[++i];
      if (option === undefined) return null;
    } else if (arg.startsWith(`${STORAGE_OPTION}=`)) {
      option = arg.slice(STORAGE_OPTION.length + 1);
    } else {
      paths.push(arg);
      continue;
    }
    const at = option.indexOf('=');
    if (at <= 0) return null;
    storageOptions[option.slice(0, at)] = option.slice(at + 1);
  }
  return paths.length === 1 ? { path: paths[0] as string, json, storageOptions } : null;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'inspect') {
    console.error(`orbax-ts: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  const parsed = parseInspectArgs(rest);
  if (parsed === null) {
    console.error(USAGE);
    return 2;
  }
  const { path, json, storageOptions } = parsed;
  const result = await inspect(path, Object.keys(storageOptions).length > 0 ? { storageOptions } : {});
  console.log(json ? JSON.stringify(result, null, 2) : formatInspection(result));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof OrbaxError) {
      console.error(`orbax-ts: ${error.name} [${error.code}]: ${error.message}`);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  },
);
