/**
 * The exact bytes of each incoming message.
 *
 * rhea always decodes a transfer's payload (lib/session.js Incoming.on_transfer calls
 * `message.decode(data)` and then drops `data`), so the encoded message never reaches an
 * event handler. rhea calls `decode` through its exported `message` object, synchronously,
 * right before it dispatches the `message` event; wrapping that one function remembers the
 * buffer for the decoded object, which the handler then looks up. Nothing else changes for
 * other users of rhea, with one exception, on purpose: when rhea's decoder throws on a bad
 * message (it has thrown ERR_OUT_OF_RANGE), the wrapper returns an empty message instead of
 * letting the throw close the whole connection; Ferry's own decoder then rejects that one
 * delivery with amqp:decode-error.
 */
import rhea from 'rhea';

const encodedOf = new WeakMap<object, Buffer>();
const MARK = Symbol.for('ferry.amqp10.capture');

type DecodeFn = (typeof rhea.message)['decode'];
type Decoded = ReturnType<DecodeFn>;
type Decode = DecodeFn & { [MARK]?: true };

/** Install the wrapper once per process (idempotent). */
export function installCapture(): void {
  const util: { decode: Decode } = rhea.message;
  if (util.decode[MARK] === true) return;
  const original = util.decode;
  const wrapped: Decode = (buffer: Buffer): Decoded => {
    let msg: Decoded;
    try {
      msg = original.call(util, buffer);
    } catch {
      msg = { toJSON: () => ({}), toString: () => '{}' };
    }
    encodedOf.set(msg, buffer);
    return msg;
  };
  wrapped[MARK] = true;
  util.decode = wrapped;
}

/** The encoded bytes rhea decoded `message` from, when it came through the wrapper. */
export function encodedMessage(message: unknown): Buffer | undefined {
  return typeof message === 'object' && message !== null ? encodedOf.get(message) : undefined;
}
