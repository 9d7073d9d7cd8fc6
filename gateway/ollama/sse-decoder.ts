// Server-sent events from bytes, as they arrive: an event may be split across TCP chunks anywhere,
// a UTF-8 character too (StringDecoder keeps the partial bytes for the next chunk). Only the data
// of each event is returned (WHATWG HTML §9.2 event stream interpretation: `data:` lines joined by
// "\n", comments and other fields ignored).

import { StringDecoder } from 'node:string_decoder';

export class SseDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  private pending = '';
  private data: string[] = [];

  /** The data of every event the chunk completes. */
  push(chunk: Buffer): string[] {
    return this.lines(this.pending + this.utf8.write(chunk), false);
  }

  /** At the end of the body: an event not closed by a blank line is still dispatched. */
  end(): string[] {
    return this.lines(this.pending + this.utf8.end(), true);
  }

  private lines(text: string, final: boolean): string[] {
    const events: string[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      let line = text.slice(start, nl);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      start = nl + 1;
      this.line(line, events);
    }
    this.pending = text.slice(start);
    if (final) {
      if (this.pending !== '') this.line(this.pending.replace(/\r$/, ''), events);
      this.pending = '';
      this.line('', events);
    }
    return events;
  }

  private line(line: string, events: string[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith('data:')) this.data.push(line.slice(line[5] === ' ' ? 6 : 5));
    // comments (":") and other fields (event:, id:, retry:) carry nothing the translation needs
  }
}
