#!/usr/bin/env node
/** The `orbax-ts` command line. */
import { OrbaxError } from '../errors.js';
import { formatInspection, inspect } from './inspect.js';

const USAGE = `usage: orbax-ts inspect PATH [--json]

  inspect PATH   print the tree (path, dtype, shape, size, chunking) of an Orbax checkpoint,
                 or the steps of a CheckpointManager directory
  --json         machine-readable output`;

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
  const json = rest.includes('--json');
  const paths = rest.filter((a) => a !== '--json');
  if (paths.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const result = await inspect(paths[0] as string);
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
