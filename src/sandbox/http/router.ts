import type { Handler, SandboxRequest, SandboxResponse } from "./types.js";

/**
 * A route table: method + path template -> handler. Templates are matched segment by segment and
 * case-insensitively (ARM paths are case-insensitive). `{name}` captures one segment; `{name*}` captures
 * zero or more segments greedily-but-backtracking, which is how ARM scopes (`{scope}/providers/...`) nest.
 */
export interface Route<H> {
  method: string; // "GET", "PUT", ... or "*"
  template: string;
  handler: H;
}

type Segment = { kind: "literal"; value: string } | { kind: "param"; name: string } | { kind: "rest"; name: string };

interface CompiledRoute<H> extends Route<H> {
  segments: Segment[];
}

export function splitPath(path: string): string[] {
  return path.split("/").filter((s) => s.length > 0);
}

function compile(template: string): Segment[] {
  return splitPath(template).map((part): Segment => {
    const m = /^\{([A-Za-z0-9_]+)(\*)?\}$/.exec(part);
    if (!m) return { kind: "literal", value: part.toLowerCase() };
    return m[2] ? { kind: "rest", name: m[1] } : { kind: "param", name: m[1] };
  });
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchSegments(segs: Segment[], parts: string[], params: Record<string, string>): boolean {
  if (segs.length === 0) return parts.length === 0;
  const [head, ...tail] = segs;
  if (head.kind === "rest") {
    for (let take = 0; take <= parts.length; take++) {
      const trial: Record<string, string> = { ...params, [head.name]: take ? "/" + parts.slice(0, take).join("/") : "" };
      if (matchSegments(tail, parts.slice(take), trial)) {
        Object.assign(params, trial);
        return true;
      }
    }
    return false;
  }
  if (parts.length === 0) return false;
  if (head.kind === "literal") {
    return decode(parts[0]).toLowerCase() === head.value && matchSegments(tail, parts.slice(1), params);
  }
  const trial = { ...params, [head.name]: decode(parts[0]) };
  if (!matchSegments(tail, parts.slice(1), trial)) return false;
  Object.assign(params, trial);
  return true;
}

/** H is what a route leads to: a plain Handler, or a service's own handler type (ARM's take an ArmCall). */
export class Router<H = Handler> {
  private readonly routes: CompiledRoute<H>[] = [];

  add(method: string, template: string, handler: H): this {
    this.routes.push({ method: method.toUpperCase(), template, handler, segments: compile(template) });
    return this;
  }

  /** Finds the first route whose template matches; reports whether the path matched under another method. */
  match(method: string, path: string): { handler: H; params: Record<string, string> } | { methodNotAllowed: boolean } {
    const parts = splitPath(path);
    let pathMatched = false;
    for (const route of this.routes) {
      const params: Record<string, string> = {};
      if (!matchSegments(route.segments, parts, params)) continue;
      if (route.method === "*" || route.method === method.toUpperCase()) return { handler: route.handler, params };
      pathMatched = true;
    }
    return { methodNotAllowed: pathMatched };
  }

  /** A handler that dispatches through the table, with fallbacks for no route and wrong method. */
  handler(this: Router<Handler>, fallback: { notFound: Handler; methodNotAllowed?: Handler }): Handler {
    return async (req: SandboxRequest): Promise<SandboxResponse> => {
      const found = this.match(req.method, req.path);
      if ("handler" in found) return found.handler({ ...req, params: found.params });
      if (found.methodNotAllowed && fallback.methodNotAllowed) return fallback.methodNotAllowed(req);
      return fallback.notFound(req);
    };
  }
}
