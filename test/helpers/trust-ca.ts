import tls from "node:tls";

/**
 * Trusts extra CA certificates in this process from now on. NODE_EXTRA_CA_CERTS is read only when a process
 * starts, but a test file starts its sandbox (and so its CA) after that; every TLS context Node makes for a
 * client (https, the Azure SDK's pipeline, client-node) comes from tls.createSecureContext, so adding the CA
 * there is enough. Test-only: the product never does this.
 */
const extra = new Set<string>();
let patched = false;

export function trustCa(pem: string): void {
  extra.add(pem);
  if (patched) return;
  patched = true;
  const original = tls.createSecureContext;
  tls.createSecureContext = (options?: tls.SecureContextOptions) => {
    const context = original(options);
    if (!options?.ca) for (const ca of extra) (context.context as { addCACert(pem: string): void }).addCACert(ca);
    return context;
  };
}
