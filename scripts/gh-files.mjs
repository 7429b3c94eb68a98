// Reads the files a runner gives an action (GITHUB_OUTPUT, GITHUB_STATE): lines of NAME=VALUE or
// NAME<<DELIMITER / value lines / DELIMITER, as @actions/core writes them.
import * as fs from 'node:fs';

/** @returns {Record<string, string>} */
export function parseCommandFile(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value = [];
      for (n++; n < lines.length && lines[n] !== delim; n++) value.push(lines[n]);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      const i = line.indexOf('=');
      out[line.slice(0, i)] = line.slice(i + 1);
    }
  }
  return out;
}

/** The STATE_ variables the runner sets for the post step from the main step's GITHUB_STATE. */
export function stateEnv(stateFile) {
  return Object.fromEntries(Object.entries(parseCommandFile(stateFile)).map(([k, v]) => [`STATE_${k}`, v]));
}

/** INPUT_ variables as the runner names them (upper case, spaces to "_", hyphens kept). */
export function inputEnv(inputs) {
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.replace(/ /g, '_').toUpperCase()}`, String(v)]));
}
