/**
 * Test harness only: kills the socket under an AmqpMesh's connection, as a
 * network failure or a broker restart would, without telling the mesh. It
 * reaches into the mesh's private link, so production code has no way to
 * call it (review: no test hook in a production class).
 */
import type { AmqpMesh } from '../../src/mesh/amqp.js';

export function dropConnection(mesh: AmqpMesh): void {
  const link = (mesh as unknown as { link: { model: { connection: unknown } } | null }).link;
  const conn = link?.model.connection as { stream?: { destroy(err?: Error): void } } | undefined;
  if (conn?.stream === undefined) throw new Error('dropConnection: the mesh has no live connection');
  conn.stream.destroy(new Error('connection dropped by test'));
}
