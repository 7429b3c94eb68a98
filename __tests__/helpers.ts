// Shared helpers of the unit tests.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { actionDefaults, parseInputs, type Inputs, type RawInputs } from '../src/inputs.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURE = path.join(ROOT, '__tests__', 'fixtures', 'project');

/** Raw inputs as the runner would pass them: action.yml defaults plus the given values (context: the fixture). */
export function raw(over: Partial<RawInputs> = {}): RawInputs {
  return { ...actionDefaults(ROOT), context: FIXTURE, ...over };
}

/** Parsed inputs of raw(over), paths resolved against the repository. */
export function inputs(over: Partial<RawInputs> = {}): Inputs {
  return parseInputs(raw(over), { actionDir: ROOT, workspace: ROOT });
}
