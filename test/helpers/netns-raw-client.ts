/**
 * A raw TCP client run inside a pod's network namespace (`ip netns exec <pod> node --import tsx this-file`), so
 * that each request leaves exactly as written: no client library normalizes the path or the headers. Reads one
 * JSON command per stdin line — {id, host, port, data (base64), end, timeoutMs} — connects, writes the bytes,
 * half-closes unless told not to, reads until the server closes (or the timeout), and prints
 * {id, data (base64 of all bytes received), closed: "server" | "timeout", error?}.
 */
import { connect } from "node:net";
import { createInterface } from "node:readline";

interface Command {
  id: number;
  host: string;
  port: number;
  data: string;
  end?: boolean;
  timeoutMs?: number;
}

function exchange(cmd: Command): Promise<{ data: string; closed: "server" | "timeout"; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (closed: "server" | "timeout", error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks).toString("base64"), closed, ...(error ? { error } : {}) });
    };
    const socket = connect(cmd.port, cmd.host, () => {
      socket.write(Buffer.from(cmd.data, "base64"));
      if (cmd.end !== false) socket.end();
    });
    const timer = setTimeout(() => done("timeout"), cmd.timeoutMs ?? 15_000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => done("server"));
    socket.on("error", (err) => done("server", err.message));
  });
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as Command;
  void exchange(cmd).then((r) => process.stdout.write(JSON.stringify({ id: cmd.id, ...r }) + "\n"));
}
