// A PEM certificate (chain) and its private key, read and checked at start-up for the HTTPS and gRPC listeners: an
// unreadable file or a key that does not match stops start-up naming the flag, before any engine starts.

import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { ConfigError } from "../config.js";

export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function loadTlsFiles(certPath: string, keyPath: string, certFlag: string, keyFlag: string): TlsFiles {
  const read = (path: string, flag: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${flag}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  const tls = { cert: read(certPath, certFlag), key: read(keyPath, keyFlag) };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new ConfigError(`${certFlag}/${keyFlag}: not a usable PEM certificate and matching key: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return tls;
}
