// Shared helpers of the unit tests.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../src/errors.js';
import { actionDefaults, parseInputs, type Inputs, type RawInputs } from '../src/inputs.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURE = path.join(ROOT, '__tests__', 'fixtures', 'project');

/** Raw inputs as the runner would pass them: action.yml defaults plus the given values (context: the fixture). */
export function raw(over: Partial<RawInputs> = {}): RawInputs {
  return { ...actionDefaults(ROOT), context: FIXTURE, ...over };
}

/** Parsed inputs of raw(over), paths resolved against the repository; env adds to the process environment (secret-envs). */
export function inputs(over: Partial<RawInputs> = {}, env: Record<string, string> = {}): Inputs {
  return parseInputs(raw(over), { actionDir: ROOT, workspace: ROOT, env: { ...process.env, ...env } });
}

/** The InputError lines of inputs(over, env); [] when every input is accepted. */
export function inputErrors(over: Partial<RawInputs> = {}, env: Record<string, string> = {}): string[] {
  try {
    inputs(over, env);
  } catch (e) {
    if (e instanceof InputError) return e.lines;
    throw e;
  }
  return [];
}
