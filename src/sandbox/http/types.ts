import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";

/** A request as an emulated service sees it: parsed, buffered, never the socket. */
export interface SandboxRequest {
  method: string;
  /** Path as sent, percent-decoded per segment by the router when matching. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Address of the TCP peer (what NMI-like callers are identified by). */
  remoteAddress: string;
  /** Port the request arrived on (IMDS uses it to know which node it is). */
  localPort: number;
  /** Values captured by the matched route template. */
  params: Record<string, string>;
  /** Set when the client goes away; long-running handlers (watches) listen to it. */
  signal: AbortSignal;
}

/**
 * What a handler returns. A plain object body is sent as JSON; a Readable is piped (watch streams);
 * a string or Buffer is sent as is.
 */
export interface SandboxResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: unknown;
}

/** Returned by a handler to close the connection without any answer, as a server that hangs up does. */
export const DROP_CONNECTION: SandboxResponse = Object.freeze({ status: 0 });

export type Handler = (req: SandboxRequest) => Promise<SandboxResponse> | SandboxResponse;

export function isReadable(value: unknown): value is Readable {
  return typeof value === "object" && value !== null && typeof (value as Readable).pipe === "function";
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): SandboxResponse {
  return { status, body, headers: { "content-type": "application/json; charset=utf-8", ...headers } };
}
