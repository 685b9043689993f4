/**
 * A pod's application, run inside the pod's network namespace: ManagedIdentityCredential with no endpoint of its
 * own (IMDS at 169.254.169.254, which NMI's redirect answers), as an app on AKS uses it. Prints {clientId} (the
 * token's appid claim, never the token) or {error}. Argument: the resource; optional second: a client id.
 */
import { ManagedIdentityCredential } from "@azure/identity";
import { unverifiedIdentityClaims } from "../../src/util/jwt-claims.js";

const [resource, clientId] = process.argv.slice(2);
try {
  const token = await new ManagedIdentityCredential({ clientId, retryOptions: { maxRetries: 0 } }).getToken(`${resource.replace(/\/$/, "")}/.default`);
  process.stdout.write(JSON.stringify({ clientId: unverifiedIdentityClaims(token.token).clientId }) + "\n");
} catch (err) {
  process.stdout.write(JSON.stringify({ error: (err as Error).message.split("\n")[0] }) + "\n");
}
