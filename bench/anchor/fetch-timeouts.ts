// fetch's default dispatcher aborts a response after 300 s without a byte (undici's headersTimeout and bodyTimeout).
// At 64 clients × 1,024-token prompts on a small CPU a queued request can wait longer than that for its first token,
// and the servers' own request deadlines (600 s in both) should decide instead. Node bundles undici without exporting
// it, so this swaps the global dispatcher (which the first fetch creates) for one of the same class with other timeouts.

import { createServer } from "node:http";

const KEY = Symbol.for("undici.globalDispatcher.1");

/** Replace fetch's global dispatcher with one using these timeouts (0 = none), for every later fetch. */
export async function setFetchTimeouts(t: { readonly headersTimeout: number; readonly bodyTimeout: number }): Promise<void> {
  const g = globalThis as unknown as Record<symbol, object | undefined>;
  if (g[KEY] === undefined) {
    const srv = createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const addr = srv.address();
    await fetch(`http://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : 0}/`).then(
      (r) => r.text(),
      () => "",
    );
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
  const current = g[KEY];
  if (current === undefined) throw new Error("fetch's global dispatcher not found: cannot change its timeouts");
  const Agent = current.constructor as new (opts: { headersTimeout: number; bodyTimeout: number }) => object;
  g[KEY] = new Agent({ headersTimeout: t.headersTimeout, bodyTimeout: t.bodyTimeout });
}
