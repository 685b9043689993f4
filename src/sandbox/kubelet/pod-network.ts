import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import os from "node:os";

/**
 * Loaded with `--import` into every pod process the sandbox kubelet starts: the pod's network namespace,
 * emulated on loopback. Connections to local addresses leave from the pod's own IP (so NMI, which knows
 * callers by source address, sees the pod), and servers that listen on "any address" listen on the pod's IP
 * (two replicas on one machine do not collide). The name `localhost` is the pod's own loopback, shared by its
 * containers: servers bound to it listen on the pod's IP and connections to it go there (127.0.0.1 stays the
 * machine's, where the sandbox's services listen). Since every address here is reachable by every process, such a
 * server accepts only connections from the pod's own address, as a real pod's loopback is reachable from nowhere
 * else; others are reset, as nothing listens on that address outside the pod's namespace. The host name is the
 * pod's (its UTS namespace). Also ends the process when the kubelet that started it is gone.
 */

const podIP = process.env.PODID_SANDBOX_POD_IP;

function isLocal(host: string | undefined): boolean {
  return host === undefined || host === "localhost" || host === "" || /^127\./.test(host) || host === "::ffff:127.0.0.1";
}

function isAnyAddress(host: unknown): boolean {
  return host === undefined || host === null || host === "" || host === "0.0.0.0" || host === "::";
}

/** Where a server of the pod listens when it asks for this host. */
function podListenHost(host: unknown): boolean {
  return isAnyAddress(host) || host === "localhost";
}

/** The pod's loopback: the server's connections from any address but the pod's own are reset before it sees them. */
function onlyFromPod(server: net.Server, ownAddress: string): void {
  const emit = server.emit as (this: net.Server, event: string | symbol, ...rest: unknown[]) => boolean;
  server.emit = function (this: net.Server, event: string | symbol, ...rest: unknown[]) {
    const socket = rest[0] as net.Socket;
    if (event === "connection" && socket.remoteAddress !== ownAddress) {
      socket.resetAndDestroy();
      return false;
    }
    return emit.call(this, event, ...rest);
  } as typeof server.emit;
}

if (podIP) {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    let options = Array.isArray(args[0]) ? (args[0][0] as unknown) : args[0];
    if (typeof options === "number" || (typeof options === "string" && /^\d+$/.test(options))) {
      options = { port: Number(options), host: typeof args[1] === "string" ? args[1] : undefined };
      const callback = args.find((a) => typeof a === "function");
      args = callback ? [options, callback] : [options];
    }
    if (options && typeof options === "object") {
      const o = options as net.TcpNetConnectOpts & { path?: string };
      if (!o.path && !o.localAddress && isLocal(o.host)) {
        o.localAddress = podIP;
        if (o.host === "localhost") o.host = podIP;
        else if (o.host === undefined || o.host === "") o.host = "127.0.0.1";
      }
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;

  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    const first = args[0];
    const hostOf = typeof first === "object" && first !== null ? (first as net.ListenOptions).host : args[1];
    if (hostOf === "localhost") onlyFromPod(this, podIP);
    if (first === undefined || typeof first === "function") {
      args.unshift(0, podIP);
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
      if (typeof args[1] === "string" || args[1] === undefined || args[1] === null) {
        if (podListenHost(args[1])) args[1] = podIP;
      } else {
        args.splice(1, 0, podIP);
      }
    } else if (first && typeof first === "object" && !("_handle" in first) && !("fd" in first)) {
      const o = first as net.ListenOptions;
      if (o.path === undefined && podListenHost(o.host)) args[0] = { ...o, host: podIP };
    }
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof net.Server.prototype.listen;

  const hostname = process.env.HOSTNAME;
  if (hostname) os.hostname = () => hostname;
  syncBuiltinESMExports();

  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
  }, 1000).unref();
}
