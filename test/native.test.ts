import test from 'ava';

import * as ocp from 'orbax-ts';

test('the native core loads and reports its version', (t) => {
  t.is(ocp.nativeVersion(), '0.1.0');
});
