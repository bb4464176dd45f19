// Where a prompt's text is tokenized. Short texts inline on the engine thread (a few ms at most, no hop); long ones
// on a tokenizer thread of their own (piscina, one thread per engine worker), because a long tokenization takes
// long (and llama.cpp's is super-linear on some inputs: on the tiny model's SentencePiece vocab 25,000 chars of emoji
// took 67 ms, 100,000 chars 1.4 s) while the engine thread must keep stepping the running streams. Long prompts
// queue behind each other on that thread, never in front of short ones.
//
// The queue is ours, not piscina's: on close, waiting texts are refused at once and only the one in flight is
// awaited, because a thread cannot be terminated while it is inside llama.cpp (the addon then throws into a dying
// environment and the whole process aborts: seen when exiting mid-tokenization).

import { Piscina } from "piscina";
import { LoomError } from "../errors.js";
import type { TokenizerTask, TokenizerThreadData } from "./tokenizer-thread.js";

/** Texts up to this many characters are tokenized inline: a few ms even in the super-linear cases above. */
export const INLINE_TOKENIZE_CHARS = 4_096;

export interface TextTokenizer {
  tokenize(text: string, special: boolean, addBos: boolean): Promise<number[]>;
  close(): Promise<void>;
}

interface Waiting {
  readonly task: TokenizerTask;
  readonly resolve: (ids: number[]) => void;
  readonly reject: (err: Error) => void;
}

export class TokenizerPool implements TextTokenizer {
  private readonly pool: Piscina<TokenizerTask, Uint32Array | null>;
  private readonly waiting: Waiting[] = [];
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(data: TokenizerThreadData) {
    this.pool = new Piscina({
      filename: new URL("./tokenizer-thread.js", import.meta.url).href,
      workerData: data,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
  }

  tokenize(text: string, special: boolean, addBos: boolean): Promise<number[]> {
    if (this.closed) return Promise.reject(shuttingDown());
    return new Promise((resolve, reject) => {
      this.waiting.push({ task: { kind: "tokenize", text, special, addBos }, resolve, reject });
      this.next();
    });
  }

  /** Refuse what waits, let the task in flight finish, dispose llama.cpp on the thread, then end it. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(shuttingDown());
    await this.running;
    await this.pool.run({ kind: "dispose" }).catch(() => null);
    await this.pool.destroy();
  }

  private next(): void {
    if (this.running !== null) return;
    const w = this.waiting.shift();
    if (w === undefined) return;
    this.running = this.pool
      .run(w.task)
      .then(
        (ids) => w.resolve(ids === null ? [] : Array.from(ids)),
        (err: unknown) => w.reject(LoomError.from(err)),
      )
      .finally(() => {
        this.running = null;
        if (!this.closed) this.next();
      });
  }
}

function shuttingDown(): LoomError {
  return new LoomError("unavailable", "The engine is shutting down.");
}
