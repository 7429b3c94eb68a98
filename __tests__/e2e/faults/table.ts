// The fault table: each fault test adds one row, measured by the test (what it injected, how many
// times, how the job ended, what was lost, what was left behind), as a JSON line in the file named
// by PCB_FAULT_TABLE (default .out/faults.jsonl). scripts/fault-table.mjs renders the rows as the
// README's table. A row is written before the test's assertions, so a failing test still shows
// what it saw.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../../helpers.js';

export interface FaultRow {
  /** Short name of the fault, e.g. "cancel during the build". */
  fault: string;
  /** What was done to the job, the host or the registry. */
  injected: string;
  /** How many times it was injected. */
  times: number;
  /** "survived", "failed clearly", or what went wrong. */
  outcome: string;
  /** The line the job ended with (its ::error:: or the warning that names the fault). */
  line: string;
  /** Things that existed or were known and are gone or unset afterwards; empty: nothing. */
  lost: string[];
  /** Things of the job still there after its post step; empty: nothing. */
  left: string[];
  /** Seconds from the fault to the end of the step that had to deal with it. */
  seconds: number;
  /**
   * Handled as it must be. Default: the outcome is "survived" or "failed clearly", nothing was
   * lost and nothing left; a test whose fault leaves something by design (a container the daemon
   * refuses to remove) judges for itself.
   */
  handled?: boolean;
}

export const FAULT_TABLE = process.env.PCB_FAULT_TABLE || path.join(ROOT, '.out', 'faults.jsonl');

export function recordFault(row: FaultRow): void {
  const handled = row.handled ?? (['survived', 'failed clearly'].includes(row.outcome.replace(/ \(.*$/, '')) && !row.lost.length && !row.left.length);
  fs.mkdirSync(path.dirname(FAULT_TABLE), { recursive: true });
  fs.appendFileSync(FAULT_TABLE, `${JSON.stringify({ ...row, handled, at: new Date().toISOString() })}\n`);
}

/** The ::error:: lines of a step's output, without the prefix. */
export function errorLines(output: string): string[] {
  return output.split('\n').filter((l) => l.startsWith('::error::')).map((l) => l.slice('::error::'.length).trim());
}

/** The ::warning:: lines of a step's output, without the prefix. */
export function warningLines(output: string): string[] {
  return output.split('\n').filter((l) => l.startsWith('::warning::')).map((l) => l.slice('::warning::'.length).trim());
}

/**
 * How a step ended, for the table: "survived" (exit 0), "failed clearly" (exit 1 with exactly one
 * ::error:: line that holds every word of `mustSay`), or what was wrong with it.
 */
export function outcomeOf(code: number | null, output: string, mustSay: RegExp[] = []): { outcome: string; line: string } {
  const errors = errorLines(output);
  if (code === 0) return { outcome: errors.length ? `survived, but with ${errors.length} error line(s)` : 'survived', line: warningLines(output)[0] ?? '' };
  if (errors.length !== 1) return { outcome: `failed with ${errors.length} error lines (exit ${code})`, line: errors.join(' | ') };
  const missing = mustSay.filter((re) => !re.test(errors[0]));
  return { outcome: missing.length ? `failed, but the line lacks ${missing.join(', ')}` : 'failed clearly', line: errors[0] };
}
