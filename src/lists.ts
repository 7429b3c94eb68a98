// The list syntax of the list inputs, the same as docker/build-push-action's: the value is read as
// CSV (csv-parse with the options @docker/actions-toolkit uses), so quoting works the way workflows
// written for build-push-action expect. Two kinds of list:
//   comma lists (tags, platforms, no-cache-filters, secret-envs, ssh): every field of every line is
//     an item, and a line of one field is split on "," again (so "a,b" in quotes is still two items);
//   line lists (labels, annotations, build-args, build-contexts, secrets, secret-files, ulimit,
//     cache-from, cache-to): one item per CSV record, its fields joined by "," again, so commas
//     survive; quotes around a whole item are removed, a quoted item may span lines (a multi-line
//     secret), and "" inside quotes is one ".
// Items are trimmed and empty ones dropped. Lines starting with "#" are comments, as this action
// always allowed. An unclosed quote is an error the input parser reports as one line.
import { parse } from 'csv-parse/sync';
import { Rejection, notAccepted } from './errors.js';

const CSV = { columns: false, relax_quotes: true, relax_column_count: true, skip_empty_lines: true, comment: '#', comment_no_infix: true } as const;

/** The CSV records of a value, or the 1-based line of an unclosed quote. */
export function records(value: string): string[][] | { unclosedQuoteLine: number } {
  if (value.trim() === '') return [];
  try {
    return parse(value, CSV) as string[][];
  } catch (e) {
    const err = e as { code?: string; lines?: number };
    if (err.code === 'CSV_QUOTE_NOT_CLOSED' || err.code === 'CSV_INVALID_CLOSING_QUOTE') return { unclosedQuoteLine: openingQuoteLine(value) ?? err.lines ?? 1 };
    throw e;
  }
}

/** The line of the quote that opens the field csv-parse could not close (the error reports where parsing stopped). */
function openingQuoteLine(value: string): number | null {
  let line = 1;
  let open: number | null = null;
  let fieldStart = true;
  for (let n = 0; n < value.length; n++) {
    const c = value[n];
    if (open !== null) {
      if (c === '"' && value[n + 1] === '"') n++;
      else if (c === '"') open = null;
    } else if (c === '"' && fieldStart) open = line;
    if (c === '\n') line++;
    fieldStart = c === ',' || c === '\n' || (fieldStart && (c === ' ' || c === '\r'));
  }
  return open;
}

const clean = (items: string[]) => items.map((s) => s.trim()).filter((s) => s !== '');

/** Items of a comma list. */
export function commaItems(recs: string[][]): string[] {
  return clean(recs.flatMap((r) => (r.length === 1 ? r[0].split(',') : r)));
}

/** Items of a line list. */
export function lineItems(recs: string[][]): string[] {
  return clean(recs.map((r) => r.join(',')));
}

/**
 * Items of a line list whose lines may hold several entries joined by "," (metadata-action's
 * labels with `sep-labels: ","`, annotations with `sep-annotations: ","`): within one record, a
 * field that starts a new entry (startsEntry) begins a new item, other fields join the one before
 * with ",", and so does any field while the item so far holds no "=" yet (`manifest,index:key=v`
 * is one annotation of two levels). A quoted field is one field, so quoting an entry keeps its commas.
 */
export function joinedItems(recs: string[][], startsEntry: (field: string) => boolean): string[] {
  const out: string[] = [];
  for (const r of recs) {
    let current: string[] = [];
    for (const field of r) {
      if (current.length && startsEntry(field) && current.join(',').includes('=')) {
        out.push(current.join(','));
        current = [];
      }
      current.push(field);
    }
    if (current.length) out.push(current.join(','));
  }
  return clean(out);
}

/** A list input's items, or its one line about an unclosed quote (the line itself only when it holds no secret). */
export function listItems(input: string, v: string, items: (recs: string[][]) => string[], secret = false): string[] | Rejection {
  const recs = records(v);
  if (Array.isArray(recs)) return items(recs);
  const line = recs.unclosedQuoteLine;
  const fix = 'close it, or write "" for a quote inside a quoted value';
  return new Rejection([secret ? `Input "${input}": line ${line} opens a quote that is never closed; ${fix} (the line is not shown because it may hold a secret).`
    : notAccepted(input, v.split(/\r?\n/)[line - 1] ?? '', `line ${line} opens a quote that is never closed; ${fix}`)]);
}

/** One field as buildx's CSV options (--secret, --attest, --output) read it: quoted when it holds a comma, a quote or a newline. */
export const csvField = (f: string) => (/[",\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
