import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as is; a JSON content-type is added unless the headers name one. */
  body?: string;
  /** Extra CA to trust for this request (https only). */
  ca?: string;
  /** Send the body without adding a JSON content-type. */
  noDefaultContentType?: boolean;
  /** The local address the connection leaves from (a pod's address in NMI tests). */
  localAddress?: string;
  /** Sent exactly as given instead of the URL's path (a URL object turns "\\" into "/"). */
  rawPath?: string;
}

/** One HTTP(S) request with no client library in between, for what real SDKs never send. */
export function rawRequest(url: string | URL, options: RawRequestOptions = {}): Promise<RawResponse> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const headers = { ...(options.body !== undefined && !options.noDefaultContentType ? { "content-type": "application/json" } : {}), ...options.headers };
  return new Promise<RawResponse>((resolve, reject) => {
    const extra = { ...(options.ca ? { ca: options.ca } : {}), ...(options.localAddress ? { localAddress: options.localAddress, agent: false as const } : {}), ...(options.rawPath ? { path: options.rawPath } : {}) };
    const req = send(target, { method: options.method ?? "GET", headers, ...extra }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on("error", reject);
    req.end(options.body);
  });
}
