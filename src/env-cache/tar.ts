// The little of the tar format the env cache needs, streamed: reading `docker save`'s archive as it
// comes (regular files, with PAX and GNU long-name records honoured) and writing the archive
// `docker load` reads from a layout of files on disk. Sizes above 8 GiB (one layer of a big env)
// use the base-256 size field, which Go's archive/tar (docker's) reads.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';

const BLOCK = 512;

function field(h: Buffer, at: number, len: number): string {
  const s = h.subarray(at, at + len).toString('latin1');
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

function numeric(h: Buffer, at: number, len: number): number {
  if (h[at] & 0x80) {
    // base-256: big-endian binary after the marker bit
    let n = h[at] & 0x7f;
    for (let i = at + 1; i < at + len; i++) n = n * 256 + h[i];
    return n;
  }
  const s = field(h, at, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** A regular file as it arrives: `data` is called for each piece, in order, then `end`. */
export interface TarFileSink { data(piece: Buffer): void; end(): void }

/**
 * Reads a tar stream pushed to it in pieces of any size. For each regular file, `open(name, size)`
 * returns where its bytes go (null: skipped). Throws on a damaged header.
 */
export class TarReader {
  private buf: Buffer = Buffer.alloc(0);
  private left = 0;      // bytes of the current member still to come
  private pad = 0;       // padding after it
  private sink: TarFileSink | null = null;
  private collect: Buffer[] | null = null; // a PAX or long-name record being read
  private collectType = '';
  private longName: string | null = null;
  private paxPath: string | null = null;
  private paxSize: number | null = null;
  ended = false;

  constructor(private readonly open: (name: string, size: number) => TarFileSink | null) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.left > 0) {
        if (this.buf.length === 0) return;
        const n = Math.min(this.left, this.buf.length);
        const piece = this.buf.subarray(0, n);
        if (this.collect) this.collect.push(Buffer.from(piece));
        else this.sink?.data(piece);
        this.buf = this.buf.subarray(n);
        this.left -= n;
        if (this.left > 0) return;
        this.finishMember();
      }
      if (this.pad > 0) {
        const n = Math.min(this.pad, this.buf.length);
        this.buf = this.buf.subarray(n);
        this.pad -= n;
        if (this.pad > 0) return;
      }
      if (this.ended || this.buf.length < BLOCK) return;
      const h = this.buf.subarray(0, BLOCK);
      this.buf = this.buf.subarray(BLOCK);
      if (h.every((b) => b === 0)) {
        this.ended = true;
        return;
      }
      this.header(h);
    }
  }

  private header(h: Buffer): void {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (sum !== numeric(h, 148, 8)) throw new Error('a damaged tar header (checksum)');
    const type = String.fromCharCode(h[156] || 0x30);
    const prefix = field(h, 257, 6) === 'ustar' ? field(h, 345, 155) : '';
    const name = this.paxPath ?? this.longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const size = this.paxSize ?? numeric(h, 124, 12);
    this.left = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'L') {
      this.collect = [];
      this.collectType = type;
      this.paxSize = null; // a record's own size is in its header
      this.left = numeric(h, 124, 12);
      this.pad = (BLOCK - (this.left % BLOCK)) % BLOCK;
    } else {
      this.longName = this.paxPath = null;
      this.paxSize = null;
      this.sink = type === '0' || type === '7' ? this.open(name.replace(/^\.\//, ''), size) : null;
    }
    if (this.left === 0) this.finishMember();
  }

  private finishMember(): void {
    if (this.collect) {
      const text = Buffer.concat(this.collect).toString('utf8');
      if (this.collectType === 'L') this.longName = text.replace(/\0.*$/s, '');
      else {
        // "LEN key=value\n" records
        for (const rec of text.split('\n')) {
          const m = /^\d+ ([^=]+)=(.*)$/s.exec(rec);
          if (m?.[1] === 'path') this.paxPath = m[2];
          if (m?.[1] === 'size') this.paxSize = Number(m[2]);
        }
      }
      this.collect = null;
      return;
    }
    this.sink?.end();
    this.sink = null;
  }
}

function header(name: string, size: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long for this writer: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 'utf8');
  h.write(type === '5' ? '0000755\0' : '0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  else {
    let n = size;
    for (let i = 135; i > 124; i--) {
      h[i] = n % 256;
      n = Math.floor(n / 256);
    }
    h[124] = 0x80;
  }
  h.write('00000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** A member of an archive to write: text, or a file on disk (streamed). */
export type TarMember = { name: string; text: string } | { name: string; file: string; size: number } | { name: string; dir: true };

/** A tar archive of `members`, made as it is read (a 10 GB layer is never held in memory). */
export function tarStream(members: TarMember[]): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for (const m of members) {
      if ('dir' in m) {
        yield header(m.name.endsWith('/') ? m.name : `${m.name}/`, 0, '5');
        continue;
      }
      const size = 'text' in m ? Buffer.byteLength(m.text) : m.size;
      yield header(m.name, size, '0');
      if ('text' in m) yield Buffer.from(m.text);
      else {
        let sent = 0;
        for await (const piece of fs.createReadStream(m.file, { highWaterMark: 1 << 20 })) {
          sent += (piece as Buffer).length;
          yield piece as Buffer;
        }
        if (sent !== size) throw new Error(`${m.file} changed size while it was archived (${sent} of ${size} bytes)`);
      }
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad);
    }
    yield Buffer.alloc(BLOCK * 2);
  }
  return Readable.from(gen(), { objectMode: false });
}
