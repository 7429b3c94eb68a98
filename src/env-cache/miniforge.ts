import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tc from '@actions/tool-cache';

/**
 * sha256 of Miniforge installers this action accepts from the tool cache or a download.
 * A version not listed here is not prefetched: the Dockerfile's conda-env stage downloads it and
 * checks it against its own MINIFORGE_SHA256 build argument.
 */
export const MINIFORGE_SHA256: Record<string, string> = {
  '24.11.3-0/x86_64': '2e1ad2188fe69fcdd522c2b20c08c800a5c7411b775eca768318b1540ed32e53',
};

export const TOOL_NAME = 'miniforge3';

export function installerName(version: string, arch = 'x86_64'): string {
  return `Miniforge3-${version}-Linux-${arch}.sh`;
}

export function installerUrl(version: string, arch = 'x86_64'): string {
  return `https://github.com/conda-forge/miniforge/releases/download/${version}/${installerName(version, arch)}`;
}

/** The installer's CPU name for a key platform part such as linux-amd64. */
export function installerArch(platform: string): string | null {
  if (/amd64$/.test(platform)) return 'x86_64';
  if (/arm64/.test(platform)) return 'aarch64';
  return null;
}

function fileSha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export interface MiniforgeResult {
  /** A directory holding only the installer: pass as `--build-context miniforge=DIR`. */
  dir: string | null;
  source: 'tool-cache' | 'download' | 'none';
  note: string;
}

/**
 * Keeps the installer in the runner's tool cache: found there (sha256 re-checked), else downloaded
 * from the conda-forge/miniforge release, checked and cached. Offline runners are pre-seeded by
 * putting the installer at $RUNNER_TOOL_CACHE/miniforge3/<version>/x64/<installer> with an empty
 * $RUNNER_TOOL_CACHE/miniforge3/<version>/x64.complete next to that directory.
 * Never throws: on any problem the build downloads the installer itself. With lookupOnly (a dry
 * run) nothing is downloaded: the result names the directory a real run would use.
 */
export async function prepareMiniforge(version: string, arch = 'x86_64', lookupOnly = false): Promise<MiniforgeResult> {
  const want = MINIFORGE_SHA256[`${version}/${arch}`];
  if (!want) return { dir: null, source: 'none', note: `Miniforge ${version} (${arch}) has no pinned sha256 here; the build fetches the installer itself` };
  if (!process.env.RUNNER_TOOL_CACHE) return { dir: null, source: 'none', note: 'RUNNER_TOOL_CACHE is not set; the build fetches the Miniforge installer itself' };
  const name = installerName(version, arch);
  const toolArch = arch === 'x86_64' ? 'x64' : 'arm64';
  try {
    const found = tc.find(TOOL_NAME, version, toolArch);
    if (found && fs.existsSync(path.join(found, name))) {
      if (fileSha256(path.join(found, name)) === want) return { dir: found, source: 'tool-cache', note: `Miniforge ${version} from the tool cache` };
    }
    if (lookupOnly) {
      // where tc.cacheFile puts it (the versions pinned above are their own clean semver)
      const dir = path.join(process.env.RUNNER_TOOL_CACHE, TOOL_NAME, version, toolArch);
      return { dir, source: 'download', note: `Miniforge ${version} is not in the tool cache; a real run downloads it to ${dir}` };
    }
    const downloaded = await tc.downloadTool(installerUrl(version, arch));
    const got = fileSha256(downloaded);
    if (got !== want) {
      fs.rmSync(downloaded, { force: true });
      return { dir: null, source: 'none', note: `miniforge-version: the downloaded ${name} has sha256 ${got}, expected ${want}; not used` };
    }
    const dir = await tc.cacheFile(downloaded, name, TOOL_NAME, version, toolArch);
    fs.rmSync(downloaded, { force: true });
    return { dir, source: 'download', note: `Miniforge ${version} downloaded, checked and kept in the tool cache` };
  } catch (e) {
    return { dir: null, source: 'none', note: `Miniforge ${version} could not be prefetched (${(e as Error).message}); the build fetches it itself` };
  }
}
