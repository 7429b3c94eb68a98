// What is attached to the image besides its layers: provenance and SBOM attestations and OCI
// annotations. The three inputs take docker/build-push-action's values:
//   provenance  '' (buildx's own default), true, false, or attributes: mode=max,builder-id=URL
//   sbom        '' or false (none), true (BuildKit's default scanner), or attributes: generator=IMAGE
//   annotations one per line, [LEVEL[,LEVEL][PLATFORM]:]key=value, LEVEL one of manifest (the
//               default), index, manifest-descriptor, index-descriptor
// Their parsers live here (spread into src/inputs.ts like the env cache's), with the argv they
// become. Whether the builder and the image store can carry them is decided in plan.ts.
import { Rejection, notAccepted } from './errors.js';
import { commaItems, csvField, joinedItems, listItems, records } from './lists.js';

export interface Attestation {
  /** default: the input is empty (buildx decides); off: false; on: true or attributes. */
  state: 'default' | 'off' | 'on';
  attrs: [string, string][];
}

export interface Annotation {
  levels: string[];          // [] means manifest
  platform: string | null;   // [linux/amd64]
  key: string;
  value: string;
  text: string;              // as --annotation takes it
}

export const ANNOTATION_LEVELS = ['manifest', 'index', 'manifest-descriptor', 'index-descriptor'] as const;

const BOOL = /^(true|false)$/i;
const ATTRS: Record<'provenance' | 'sbom', Record<string, { ok: (v: string) => boolean; accepted: string }>> = {
  provenance: {
    mode: { ok: (v) => v === 'min' || v === 'max', accepted: 'min or max' },
    'builder-id': { ok: (v) => v !== '', accepted: 'a URL' },
    'inline-only': { ok: (v) => BOOL.test(v), accepted: 'true or false' },
    version: { ok: (v) => v === 'v0.2' || v === 'v1', accepted: 'v0.2 or v1' },
    filename: { ok: (v) => v !== '', accepted: 'a file name' },
    reproducible: { ok: (v) => BOOL.test(v), accepted: 'true or false' },
    disabled: { ok: (v) => BOOL.test(v), accepted: 'true or false' },
  },
  sbom: {
    generator: { ok: (v) => /^[\w.:/@-]+$/.test(v), accepted: 'an image reference of a BuildKit SBOM generator' },
    disabled: { ok: (v) => BOOL.test(v), accepted: 'true or false' },
  },
};

/** provenance / sbom: '' | true | false | key=value attributes (CSV, as build-push-action reads them). */
export function attestationParser(type: 'provenance' | 'sbom') {
  const keys = ATTRS[type];
  const example = type === 'provenance' ? 'mode=max' : 'generator=docker/buildkit-syft-scanner';
  return (v: string): Attestation | Rejection => {
    if (v === '') return { state: 'default', attrs: [] };
    if (BOOL.test(v)) return { state: v.toLowerCase() === 'true' ? 'on' : 'off', attrs: [] };
    const recs = records(v);
    const fields = Array.isArray(recs) ? commaItems(recs) : [];
    const bad: string[] = [];
    const attrs: [string, string][] = [];
    for (const f of fields) {
      const n = f.indexOf('=');
      const [k, val] = n > 0 ? [f.slice(0, n).trim(), f.slice(n + 1).trim()] : [f, ''];
      const spec = keys[k];
      if (!spec) bad.push(`"${k}" is not a ${type} attribute (${Object.keys(keys).join(', ')})`);
      else if (!spec.ok(val)) bad.push(`${k} takes ${spec.accepted}`);
      else attrs.push([k, val]);
    }
    if (!Array.isArray(recs) || fields.length === 0 || bad.length) {
      return new Rejection([notAccepted(type, v, `${bad.length ? `${bad.join('; ')}; ` : ''}use true, false, or attributes like ${example}, or leave it empty`)]);
    }
    const disabled = attrs.find(([k]) => k === 'disabled')?.[1].toLowerCase() === 'true';
    return { state: disabled ? 'off' : 'on', attrs: attrs.filter(([k]) => k !== 'disabled') };
  };
}

// LEVEL[,LEVEL][PLATFORM]: before the key; a key is at least one character without "=", "," or spaces
const ANNOTATION = /^(?:([a-z-]+(?:,[a-z-]+)*)(\[[^\]]+\])?:)?([^=,\s:]+)=(.*)$/s;
/** Does a CSV field start an annotation (metadata-action joins them with "," under sep-annotations: ",")? */
const startsAnnotation = (field: string) => /^(?:manifest|index|manifest-descriptor|index-descriptor)(?:,[a-z-]+)*(?:\[[^\]]+\])?:[^=\s]+=/.test(field);

/** annotations: one per line; a line of several annotations joined by "," reads as several. */
export function parseAnnotations(v: string): Annotation[] | Rejection {
  const items = listItems('annotations', v, (recs) => joinedItems(recs, startsAnnotation));
  if (items instanceof Rejection) return items;
  const out: Annotation[] = [];
  const bad: string[] = [];
  for (const text of items) {
    const m = ANNOTATION.exec(text);
    const levels = m?.[1] ? m[1].split(',') : [];
    const unknown = levels.filter((l) => !(ANNOTATION_LEVELS as readonly string[]).includes(l));
    if (!m || unknown.length) {
      bad.push(notAccepted('annotations', text, `write one [LEVEL:]key=value per line, LEVEL one of ${ANNOTATION_LEVELS.join(', ')} (manifest when left out)${unknown.length ? `; "${unknown[0]}" is not a level` : ''}`));
    } else out.push({ levels, platform: m[2] ? m[2].slice(1, -1) : null, key: m[3], value: m[4], text });
  }
  return bad.length ? new Rejection(bad) : out;
}

export const ATTEST_PARSERS = {
  provenance: attestationParser('provenance'),
  sbom: attestationParser('sbom'),
  annotations: parseAnnotations,
};

/** Did the input ask for something to be attached (true or attributes; false and empty do not)? */
export const asksFor = (a: Attestation) => a.state === 'on';

/**
 * The --attest flags (build-push-action's forms): provenance on gets the workflow run as builder-id
 * unless it names one; provenance false disables buildx's default; sbom false adds nothing.
 */
export function attestArgs(provenance: Attestation, sbom: Attestation, builderId: string | null): string[] {
  const out: string[] = [];
  if (provenance.state === 'off') out.push('--attest', 'type=provenance,disabled=true');
  if (provenance.state === 'on') {
    const attrs = [...provenance.attrs];
    if (builderId && !attrs.some(([k]) => k === 'builder-id')) attrs.push(['builder-id', builderId]);
    out.push('--attest', ['type=provenance', ...attrs.map(([k, v]) => csvField(`${k}=${v}`))].join(','));
  }
  if (sbom.state === 'on') out.push('--attest', ['type=sbom', ...sbom.attrs.map(([k, v]) => csvField(`${k}=${v}`))].join(','));
  return out;
}

/** The --annotation flags. */
export function annotationArgs(annotations: Annotation[]): string[] {
  return annotations.flatMap((a) => ['--annotation', a.text]);
}

/** Does any annotation go on the image index (BuildKit then has to write one, even for one platform)? */
export const wantsIndex = (annotations: Annotation[]) => annotations.some((a) => a.levels.includes('index'));
