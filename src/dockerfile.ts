// The facts the action reads from the Dockerfile, once: its stages (FROM ... AS name), its ARG
// defaults, and which of the stages and ARGs the action relies on are missing.
import * as fs from 'node:fs';

/** Stages the action builds or replaces with build contexts, and ARGs it sets (README: "Bring your own Dockerfile"). */
export const REQUIRED_STAGES = ['env-spec', 'miniforge', 'conda-env', 'env-lock', 'extensions', 'runtime'];
export const REQUIRED_ARGS = ['BASE_IMAGE', 'TORCH_CUDA_ARCH_LIST', 'MAX_JOBS', 'MINIFORGE_VERSION', 'ENV_NAME'];

// Dockerfile syntax newer than old Engines' built-in frontend parses, from the Dockerfile frontend
// release notes: ADD --checksum left the labs channel in 1.6.0, the frontend built into BuildKit 0.12.
const SYNTAX: { feature: string; re: RegExp; syntax: string; buildkit: string }[] = [
  { feature: 'ADD --checksum', re: /^\s*ADD\s+(?:--\S+\s+)*--checksum=/im, syntax: '1.6', buildkit: '0.12' },
];

/** Syntax the file uses that the builder's own frontend must know (none when a `# syntax=` line names the frontend). */
export interface SyntaxNeed { feature: string; syntax: string; buildkit: string }

export interface Dockerfile {
  path: string;
  text: string;
  stages: string[];                      // in file order, lower case
  args: Record<string, string | null>;   // the first default each ARG is given (null: declared without one)
  missing: string[];                     // "stage X" / "ARG Y" the action relies on and the file lacks
  syntax: SyntaxNeed[];
}

export function parseDockerfile(text: string, file = ''): Dockerfile {
  const stages: string[] = [];
  const args: Record<string, string | null> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const from = /^FROM\s+(?:--platform=\S+\s+)?\S+\s+AS\s+([\w.-]+)\s*$/i.exec(line);
    if (from) stages.push(from[1].toLowerCase());
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(line);
    if (arg && !(arg[1] in args && args[arg[1]] !== null)) args[arg[1]] = arg[2] === undefined ? null : arg[2].trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  const missing = [...REQUIRED_STAGES.filter((s) => !stages.includes(s)).map((s) => `stage ${s}`), ...REQUIRED_ARGS.filter((a) => !(a in args)).map((a) => `ARG ${a}`)];
  // a parser directive (# syntax=..., among the directives that open the file) pulls that frontend instead of the built-in one
  const directive = /^(?:#\s*\w+\s*=.*\r?\n)*#\s*syntax\s*=/i.test(text);
  const syntax = directive ? [] : SYNTAX.filter((x) => x.re.test(text)).map(({ feature, syntax: v, buildkit }) => ({ feature, syntax: v, buildkit }));
  return { path: file, text, stages, args, missing, syntax };
}

export function readDockerfile(file: string): Dockerfile {
  return parseDockerfile(fs.readFileSync(file, 'utf8'), file);
}

/** The input's value, or the Dockerfile's default for the ARG it sets when the input is empty. */
export function inputOrArg(input: string, d: Dockerfile, arg: string): string {
  return input || d.args[arg] || '';
}
