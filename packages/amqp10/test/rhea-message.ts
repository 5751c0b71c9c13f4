/**
 * rhea's message-building helper with a type: rhea declares `message.data_section` as
 * `(data: any) => any`, which would carry `any` into every message a test builds.
 */
import rhea from 'rhea';

/** A data section (AMQP 1.0 §3.2.6) holding `bytes`, for a message's body. */
export function dataSection(bytes: Buffer): unknown {
  return rhea.message.data_section(bytes);
}
