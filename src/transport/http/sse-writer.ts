// SseWriter: Server-Sent Events framing on a node:http response, as the OpenAI SDK reads it (`data: <json>\n\n`,
// `data: [DONE]`). write() resolves at once while the socket accepts data and waits for 'drain' when it does not,
// so a slow client slows only its own stream (its mailbox merges deltas meanwhile) and never grows a queue here.

import type { ServerResponse } from "node:http";

export class SseWriter {
  private closed = false;

  constructor(private readonly res: ServerResponse) {
    res.once("close", () => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  open(headers: Readonly<Record<string, string>>): void {
    this.res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      // Tell reverse proxies (nginx) not to buffer the stream.
      "x-accel-buffering": "no",
    });
    this.res.flushHeaders();
  }

  data(payload: unknown): Promise<void> {
    return this.raw(`data: ${JSON.stringify(payload)}\n\n`);
  }

  async done(): Promise<void> {
    await this.raw("data: [DONE]\n\n");
    this.end();
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  private raw(frame: string): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    if (this.res.write(frame)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off("drain", done);
        this.res.off("close", done);
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
    });
  }
}
