// Free TCP ports on the loopback interface. Every component of the test
// environment listens on 127.0.0.1 and a port picked here, never a fixed one:
// a system service (Debian starts its own Prometheus on :9090) or a parallel
// test run must not collide with us.
import net from 'node:net';

/**
 * Asks the kernel for a port that is free on 127.0.0.1 right now. There is a
 * short window before the caller binds it; prefer listening on port 0 directly
 * when the server is in-process, and use this for child processes that must be
 * told their port on the command line.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: the kernel returned no TCP address'));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
