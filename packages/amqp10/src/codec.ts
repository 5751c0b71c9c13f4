/**
 * The AMQP 1.0 type system (AMQP 1.0 §1.6 "Type encodings"), as Ferry needs it: decode every
 * primitive with its exact type, and encode values back with the type they came with.
 *
 * Why our own codec and not rhea's Reader/Writer: rhea turns large longs/ulongs into raw
 * Buffers, symbols into strings, application-property types into plain JS numbers (so ubyte,
 * short and int collapse into one), and its writer once threw ERR_OUT_OF_RANGE on values it had
 * itself decoded (docs/mapping/amqp10.md). Keeping the type next to the value is the only way an
 * AMQP 1.0 → AMQP 1.0 route keeps a `short` a `short`.
 *
 * The decoder is bounds-checked and depth-limited: it reads input from the network.
 */
export * from './amqp-value.js';
export * from './decoder.js';
export * from './encoder.js';
