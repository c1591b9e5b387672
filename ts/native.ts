// The generated napi-rs loader is CommonJS and stays private: only this module loads it, and only
// the curated API in index.ts re-exports what users need.
import { createRequire } from 'node:module';

import type * as NativeModule from '../native/index.cjs';

const require = createRequire(import.meta.url);

/** The native core (Rust, through napi-rs). */
export const native: typeof NativeModule = require('../native/index.cjs') as typeof NativeModule;
