import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import type { webcrypto } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { SECRET_FILE_MODE, writeFileAtomic } from "../util/files.js";

export type KeyLike = webcrypto.CryptoKey | Uint8Array;

/** An RS256 key pair of one of the sandbox's token issuers, and the public JWK it publishes. */
export interface SigningKey {
  privateKey: KeyLike;
  publicKey: KeyLike;
  /** Public only: kty, n, e, kid, use, alg. */
  publicJwk: JWK;
}

/**
 * The issuer's RS256 key, kept in a 0600 file of the sandbox's state so that tokens it signed stay valid across
 * restarts; made on first use. The key id is the key's JWK thumbprint.
 */
export async function loadOrCreateSigningKey(keyFile: string): Promise<SigningKey> {
  let privateJwk: JWK;
  if (existsSync(keyFile)) {
    privateJwk = JSON.parse(readFileSync(keyFile, "utf8")) as JWK;
  } else {
    const pair = await generateKeyPair("RS256", { extractable: true });
    privateJwk = await exportJWK(pair.privateKey);
    privateJwk.kid = (await calculateJwkThumbprint(privateJwk)).slice(0, 27);
    writeFileAtomic(keyFile, JSON.stringify(privateJwk), SECRET_FILE_MODE);
  }
  const publicJwk: JWK = { kty: "RSA", n: privateJwk.n, e: privateJwk.e, kid: privateJwk.kid, use: "sig", alg: "RS256" };
  const privateKey = (await importJWK({ ...privateJwk, alg: "RS256" }, "RS256")) as KeyLike;
  const publicKey = (await importJWK({ ...publicJwk }, "RS256")) as KeyLike;
  return { privateKey, publicKey, publicJwk };
}
