// A loopback TCP proxy that can cut or silence every connection through it,
// to test what the controller does when a watch dies or goes quiet.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroys every open connection (the client sees a reset). */
  cut(): void;
  /** Keeps connections open but forwards nothing, like a half-dead link. */
  silence(): void;
  /** Forwards again (new connections always work unless silenced). */
  restore(): void;
  connections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let silenced = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) => from.on('data', (chunk: Buffer) => {
      if (!silenced) to.write(chunk);
    });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut() {
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    silence() { silenced = true; },
    restore() { silenced = false; },
    connections: () => pairs.size,
    close: () => new Promise<void>((resolve) => {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      server.close(() => resolve());
    }),
  };
}
