import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';

/**
 * Listens, and on SIGINT/SIGTERM stops taking new connections, lets in-flight requests finish, then runs
 * `release` (pools, Redis). Entry files call this; tests use `app.inject()` instead.
 */
export async function serve(
  app: FastifyInstance,
  { host, port, release }: { host: string; port: number; release: () => Promise<void> },
): Promise<void> {
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    else app.log.info({ signal }, 'closing');
    await app.close();
    await release();
  });
  await app.listen({ host, port });
}
