import test from 'ava';

import * as ocp from 'orbax-ts';

test('error classes carry the Python exception type and a stable code', (t) => {
  const cases: Array<[Error & { code: string; pythonType: string }, string, string]> = [
    [new ocp.InvalidArgumentError('x'), 'ValueError', 'ERR_INVALID_ARGUMENT'],
    [new ocp.NotFoundError('x'), 'FileNotFoundError', 'ENOENT'],
    [new ocp.KeyNotFoundError('x'), 'KeyError', 'ERR_KEY_NOT_FOUND'],
    [new ocp.UnsupportedTypeError('x'), 'TypeError', 'ERR_UNSUPPORTED_TYPE'],
    [new ocp.StepAlreadyExistsError('x'), 'ValueError', 'ERR_STEP_ALREADY_EXISTS'],
    [new ocp.NoEntryError('x'), 'KeyError', 'ERR_NO_ENTRY'],
    [new ocp.CorruptCheckpointError('x', 'ERR_OCDBT_CHECKSUM'), 'ValueError', 'ERR_OCDBT_CHECKSUM'],
  ];
  for (const [error, pythonType, code] of cases) {
    t.true(error instanceof ocp.OrbaxError);
    t.is(error.pythonType, pythonType);
    t.is(error.code, code);
    t.is(error.name, error.constructor.name);
  }
  t.true(new ocp.StepAlreadyExistsError('x') instanceof ocp.InvalidArgumentError);
  t.true(new ocp.NoEntryError('x') instanceof ocp.KeyNotFoundError);
});
