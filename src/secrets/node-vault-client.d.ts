/** node-vault-client 1.0.2 ships no types: the little Baton uses of it (see hashicorp-vault.ts). */
declare module 'node-vault-client' {
  interface Lease {
    getData(): Record<string, unknown>;
  }
  export default class VaultClient {
    constructor(options: {
      api: { url: string };
      auth: { type: string; mount?: string; config: Record<string, unknown> };
      logger: false | object;
    });
    read(path: string): Promise<Lease>;
  }
}
