// A small filesystem for a "disk full" cache dir: a tmpfs of a few pages mounted on a fresh dir.
// Root with CAP_SYS_ADMIN mounts it (the CI runs as root; nothing here needs --privileged or a
// loop device). The writer sees a real ENOSPC from the kernel, at the byte where the space ends.
//
// Why not RLIMIT_FSIZE (prlimit --fsize) on the job: the limit holds for every file the job and
// its children write (node and Go ignore SIGXFSZ and get EFBIG), the env export under RUNNER_TEMP
// and the build log as much as the cache dir, so it cannot fill the cache disk alone. (Also: a
// /bin/sh wrapper around node drops the INPUT_ variables whose names hold a hyphen.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export class SmallFs {
  private mounted = true;
  private constructor(readonly dir: string, readonly bytes: number) {}

  /** Mounts a tmpfs of `bytes` (rounded up to whole 4 KiB pages by the kernel). */
  static mount(bytes: number, label = 'cache'): SmallFs {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pcb-flt-fs-${label}-`));
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, `pcb-flt-${label}`, dir], { encoding: 'utf8' });
    if (r.status !== 0) {
      fs.rmdirSync(dir);
      throw new Error(`mount -t tmpfs failed (needs root with CAP_SYS_ADMIN): ${r.stderr || r.error?.message}`);
    }
    return new SmallFs(dir, bytes);
  }

  /** Free bytes as the filesystem reports them. */
  free(): number {
    const s = fs.statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes a filler file until at most `leaveBytes` are free. */
  fill(leaveBytes: number): void {
    const fd = fs.openSync(path.join(this.dir, '.pcb-flt-filler'), 'a');
    try {
      const chunk = Buffer.alloc(4096, 0x5a);
      while (this.free() > leaveBytes) {
        const n = Math.min(chunk.length, this.free() - leaveBytes);
        try { fs.writeSync(fd, chunk, 0, n); } catch { break; }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Every file on it and its size (to show what a failed write left). */
  files(): { file: string; bytes: number }[] {
    const out: { file: string; bytes: number }[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else out.push({ file: path.relative(this.dir, p), bytes: fs.statSync(p).size });
      }
    };
    walk(this.dir);
    return out;
  }

  /** Unmounts (lazily, so that a process still inside cannot keep it mounted) and removes the dir. */
  unmount(): void {
    if (!this.mounted) return;
    const r = spawnSync('umount', ['--lazy', this.dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`umount ${this.dir} failed: ${r.stderr}`);
    this.mounted = false;
    fs.rmdirSync(this.dir);
  }
}
