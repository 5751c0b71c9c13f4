/**
 * The V8 flags Ferry runs with, wherever it is launched: the `ferry` bin's shebang, `npm start`,
 * the Dockerfile's ENTRYPOINT (which deploy/kubernetes runs) and the bench all pass them; a unit
 * test (node-flags.test.ts) keeps those places in step with this list.
 *
 * None. A larger young generation (`--max-semi-space-size=32`) would let the objects of messages
 * in flight die young instead of being copied and promoted, but a message leaves too few of them
 * alive for that to pay: measured beside V8's default (16 MB), it costs CPU and memory on every
 * path (MQTT → RabbitMQ +8 % CPU per message and +22 MiB peak RSS, STOMP → RabbitMQ +4 % and
 * +14 MiB, the edge path neither faster nor smaller, held devices more resident pages:
 * docs/benchmarks-log.md, "The launch flag `--max-semi-space-size=32`, measured again"). Without a
 * flag on the command line, `NODE_OPTIONS` tunes V8 for a deployment.
 */
export const NODE_FLAGS: readonly string[] = [];
