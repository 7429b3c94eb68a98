// Shared helpers of the unit tests.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INPUT_DEFAULTS, type RawInputs } from '../src/inputs.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURE = path.join(ROOT, '__tests__', 'fixtures', 'project');

/** Raw inputs as the runner would pass them: action.yml defaults plus the given values. */
export function raw(over: Partial<RawInputs> = {}): RawInputs {
  return { ...INPUT_DEFAULTS, context: FIXTURE, ...over } as RawInputs;
}
