// Keeps the last lines a model server printed, so a failed start can quote them and
// /gateway/models/{id}/logs can show them after the server is gone.

export class OutputTail {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines = 1000) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > 16_384) {
      parts.push(this.partial);
      this.partial = '';
    }
    for (const line of parts) this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
  }

  tail(n: number): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    const picked = n > 0 ? all.slice(-n) : [];
    return picked.length ? picked.join('\n') + '\n' : '';
  }
}
