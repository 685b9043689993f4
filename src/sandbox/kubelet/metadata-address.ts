import net from "node:net";
import { readNatTable } from "./netfilter.js";

/**
 * A node's 169.254.169.254, for pods on the pod network. On AKS, NMI's iptables rule DNATs pods' metadata traffic
 * to NMI on the node (its --host-ip and --nmi-port) and everything else reaches the VM's IMDS. Here each node gets
 * a local address standing in for the link-local one, and the node's nat table — what NMI installed through the
 * node's `iptables` (netfilter.ts) — decides, per connection: the DNAT target its PREROUTING gives (nothing
 * listening there: the connection fails, as on a node), else the node's IMDS. The pod's address stays the source,
 * as DNAT keeps it.
 */

/** What the stand-in answers for: the metadata address and port pods call. */
const METADATA = { ip: "169.254.169.254", port: 80 };

export interface MetadataAddress {
  /** e.g. http://127.224.0.4:41234: what AZURE_POD_IDENTITY_AUTHORITY_HOST is set to in the node's pods. */
  url: string;
  close(): Promise<void>;
}

function unmapped(address: string | undefined): string | undefined {
  return address?.startsWith("::ffff:") ? address.slice(7) : address;
}

function dial(host: string, port: number, localAddress: string | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

export async function startMetadataAddress(node: { hostIP: string; imds: string; natTable: string }): Promise<MetadataAddress> {
  const imds = new URL(node.imds);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.pause();
    client.on("error", () => client.destroy());
    client.on("close", () => sockets.delete(client));
    const from = unmapped(client.remoteAddress);
    void (async () => {
      let upstream: net.Socket;
      try {
        const redirect = readNatTable(node.natTable).dnat({ source: from ?? "", destination: METADATA.ip, port: METADATA.port });
        upstream = redirect ? await dial(redirect.ip, redirect.port, from) : await dial(imds.hostname, Number(imds.port || 80), from);
      } catch {
        client.destroy();
        return;
      }
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    })();
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, node.hostIP, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://${node.hostIP}:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
