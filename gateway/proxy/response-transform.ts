// The one seam between the proxy and a route that answers in another API's shape (the Ollama
// routes): forward() hands the upstream's status, headers and bytes to a transform instead of
// copying them, and writes what it returns with the same backpressure, timeouts and aborts.

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

export interface TransformedHead {
  status: number;
  headers: Record<string, string | string[]>;
  /** Send the headers at once (streams), before the first body byte. */
  flush: boolean;
}

export interface ResponseTransform {
  /**
   * Called once, when the upstream's response headers arrive. null: the answer is known only once
   * the whole body is in (a body gathered into one object), and end() gives the head.
   */
  head(status: number, headers: UpstreamHeaders): TransformedHead | null;
  /** Upstream body bytes → bytes for the client now (null or empty: nothing yet). */
  data(chunk: Buffer): string | Buffer | null;
  /** The upstream body ended → the last bytes for the client (and the head, if head() gave none). */
  end(): { head?: TransformedHead; body: string | Buffer | null };
  /**
   * The upstream failed after its head, with the client's head already sent: the bytes that end
   * the answer with `err` in this API's way (an error line), or null to cut the connection.
   */
  fail?(err: { message: string }): string | Buffer | null;
}
