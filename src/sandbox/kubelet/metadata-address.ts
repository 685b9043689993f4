import net from "node:net";

/**
 * A node's 169.254.169.254, for pods on the pod network. On AKS, NMI's iptables rule DNATs pods' metadata traffic
 * to NMI on the node (hostIP:2579) and everything else reaches the VM's IMDS. Here each node gets a local address
 * standing in for the link-local one: it forwards to NMI when NMI listens on the node, else to the node's IMDS,
 * keeping the pod's address as the source as DNAT does.
 */

/** Upstream's and podid's default --nmi-port: what the DNAT rule points at. */
export const NMI_PORT = 2579;

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

export async function startMetadataAddress(node: { hostIP: string; imds: string }): Promise<MetadataAddress> {
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
        upstream = await dial(node.hostIP, NMI_PORT, from).catch(() => dial(imds.hostname, Number(imds.port || 80), from));
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
