// setFetchTimeouts swaps fetch's global dispatcher: a body that pauses 1.3 s fails under a 100 ms bodyTimeout (undici
// checks its timers about once a second) and arrives with the timeouts off (what the anchor bench sets, so a request
// queued for minutes is not cut at 300 s).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { setFetchTimeouts } from "../../../bench/anchor/fetch-timeouts.js";

describe("setFetchTimeouts", () => {
  const server = createServer((_req, res) => {
    res.writeHead(200);
    res.write("a");
    setTimeout(() => res.end("b"), 1300);
  });
  const url = new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)));
  afterAll(async () => {
    await setFetchTimeouts({ headersTimeout: 300_000, bodyTimeout: 300_000 });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("applies to later fetches", async () => {
    await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 100 });
    await expect(fetch(await url).then((r) => r.text())).rejects.toThrow();
    await setFetchTimeouts({ headersTimeout: 0, bodyTimeout: 0 });
    await expect(fetch(await url).then((r) => r.text())).resolves.toBe("ab");
  });
});
