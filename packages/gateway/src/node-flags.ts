/**
 * The V8 flags Ferry runs with, wherever it is launched: the `ferry` bin's shebang, `npm start`,
 * the Dockerfile's ENTRYPOINT (which deploy/kubernetes runs) and the bench all pass them; a unit
 * test (node-flags.test.ts) keeps those places in step with this list.
 *
 * `--max-semi-space-size=32` (MB): a message in flight lives for a broker confirm round trip,
 * and with a thousand in flight its objects are still alive when V8's young generation
 * (semi-spaces of at most 16 MB by default on 64-bit) fills, so every scavenge copies them and
 * promotes many to the old generation. A larger young generation lets them die young: measured
 * on the MQTT → RabbitMQ and STOMP → RabbitMQ paths in docs/benchmarks.md ("V8 flags").
 * The semi-spaces only grow to this size under allocation pressure; an idle gateway keeps small ones.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
