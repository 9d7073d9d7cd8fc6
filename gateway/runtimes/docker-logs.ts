// A container's output as text: Docker's log endpoint multiplexes stdout and stderr in frames.

/** Splits Docker's multiplexed log format (8-byte frame headers) into text, stdout and stderr merged. */
export function demuxDockerLogs(buf: Buffer): string {
  // A TTY container (not ours) sends raw text: detect by the header shape.
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const type = buf[off];
    if (!(type === 0 || type === 1 || type === 2) || buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) {
      return buf.toString('utf8');
    }
    const len = buf.readUInt32BE(off + 4);
    parts.push(buf.subarray(off + 8, off + 8 + len));
    off += 8 + len;
  }
  if (off < buf.length && parts.length === 0) return buf.toString('utf8');
  return Buffer.concat(parts).toString('utf8');
}

/** The last `n` lines of `text` (a trailing newline does not count as an empty line). */
export function lastLines(text: string, n: number): string[] {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return n >= lines.length ? lines : lines.slice(lines.length - n);
}
