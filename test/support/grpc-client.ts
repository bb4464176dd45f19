// A loom.v1.Generation client generated from the proto at run time (@grpc/grpc-js + proto-loader), as a backend
// service would build one. Each test file types the RPCs it calls on top of Client.

import { credentials, loadPackageDefinition, type ChannelCredentials, type Client } from "@grpc/grpc-js";
import { loadGenerationProto } from "../../src/transport/grpc/grpc-server.js";

export function generationClient<T extends Client>(port: number, creds: ChannelCredentials = credentials.createInsecure()): T {
  const pkg = loadPackageDefinition(loadGenerationProto()) as unknown as { loom: { v1: { Generation: new (addr: string, creds: ChannelCredentials) => T } } };
  return new pkg.loom.v1.Generation(`127.0.0.1:${port}`, creds);
}
