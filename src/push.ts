// Push the very image that passed the smoke run. The build loads the image into Docker; after the
// smoke run, every tag is pointed at the tested image id (docker tag) and pushed with docker push,
// and the registry's digest is read from push's output. Rebuilding with --push instead could
// produce a different image (timestamps, a changed cache), so the tested bytes are what ships.
import { run } from './exec.js';
import { StepError } from './errors.js';

/** The manifest digest docker push reports ("latest: digest: sha256:... size: 1234"). */
export function digestFromPushOutput(text: string): string {
  const all = [...text.matchAll(/digest: (sha256:[a-f0-9]{64})/g)];
  return all.length ? all[all.length - 1][1] : '';
}

/** The digest the registry gave a pushed tag, from docker's RepoDigests (when push printed none). */
async function repoDigest(tag: string): Promise<string> {
  const ins = await run('docker', ['image', 'inspect', '--format', '{{json .RepoDigests}}', tag], { quiet: true });
  const repo = tag.replace(/:[\w][\w.-]*$/, '');
  const found = (JSON.parse(ins.stdout || '[]') as string[]).find((d) => d.startsWith(`${repo}@`));
  return found ? found.slice(found.indexOf('@') + 1) : '';
}

/** Tags the tested image and pushes every tag; returns the digest the registry gave the first tag. */
export async function pushTested(imageId: string, tags: string[]): Promise<string> {
  if (!imageId) throw new StepError('push', 'The build reported no image id; nothing to push.');
  let digest = '';
  for (const tag of tags) {
    const tagged = await run('docker', ['tag', imageId, tag], { quiet: true });
    if (tagged.exitCode !== 0) throw new StepError('push', `docker tag ${imageId} ${tag} failed.`, tagged.stderr);
    const res = await run('docker', ['push', tag]);
    if (res.exitCode !== 0) throw new StepError('push', `docker push ${tag} failed.`, res.stderr + res.stdout);
    if (!digest) digest = digestFromPushOutput(res.stdout) || (await repoDigest(tag));
  }
  return digest;
}
