import {
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  ServerConfiguration,
  wrapHttpLibrary,
  type ApiConstructor,
  type ApiType,
  type HttpLibrary,
} from "@kubernetes/client-node";
import type { Logger } from "../util/logger.js";
import { redactHeaders, redactUrl } from "../util/redact.js";

let tracer: Logger | undefined;

/**
 * --debug: every Kubernetes API request podid's clients make is logged, as the Azure SDK logs ARM's: method, URL
 * (query values allowlisted), headers (allowlisted: the bearer token never shows), status and time. Bodies are not
 * logged: they can hold what a Secret or a token review carries.
 */
export function enableKubeTrace(logger: Logger): void {
  tracer = logger;
}

function tracingHttp(logger: Logger): HttpLibrary {
  const inner = new IsomorphicFetchHttpLibrary();
  return wrapHttpLibrary({
    async send(request) {
      const what = `${request.getHttpMethod()} ${redactUrl(request.getUrl())}`;
      logger.debug(`kubernetes request: ${what} headers ${JSON.stringify(redactHeaders(request.getHeaders()))}`);
      const started = performance.now();
      const ms = () => `${Math.round(performance.now() - started)} ms`;
      try {
        const response = await inner.send(request).toPromise();
        logger.debug(`kubernetes response: ${what} ${response.httpStatusCode} in ${ms()}`);
        return response;
      } catch (err) {
        logger.debug(`kubernetes response: ${what} failed after ${ms()}: ${(err as Error).message}`);
        throw err;
      }
    },
  });
}

/** The kubeconfig podid loads: its API clients trace their requests while --debug is on, and are the SDK's otherwise. */
export class TracedKubeConfig extends KubeConfig {
  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!tracer || !cluster) return super.makeApiClient(apiClientType);
    return new apiClientType(
      createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: this }, httpApi: tracingHttp(tracer) }),
    );
  }
}
