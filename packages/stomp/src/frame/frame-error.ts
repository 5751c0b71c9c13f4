import { FerryError } from '@ferry/core';

/**
 * Why a byte stream is not a valid STOMP frame. The `limit-*` reasons are size limits the
 * server enforces (STOMP 1.2 §Size Limits lets a server limit frame size, header count, header
 * line length and body); the others are protocol errors. Either way the server answers with an
 * ERROR frame and closes the connection (STOMP 1.2 §ERROR).
 */
export type FrameErrorReason =
  | 'limit-frame-size'
  | 'limit-header-count'
  | 'limit-header-line'
  | 'limit-body-size'
  | 'bad-command'
  | 'bad-header'
  | 'bad-escape'
  | 'bad-content-length'
  | 'missing-nul';

export class StompFrameError extends FerryError {
  readonly reason: FrameErrorReason;
  /**
   * The `receipt` header of the offending frame, when the parser had read it before the error:
   * the ERROR then names it in `receipt-id` (STOMP 1.2 §ERROR).
   */
  receiptId: string | undefined;

  constructor(reason: FrameErrorReason, message: string, details: Readonly<Record<string, unknown>> = {}) {
    super(reason.startsWith('limit-') ? 'LIMIT_EXCEEDED' : 'PROTOCOL_ERROR', message, { permanent: true, details });
    this.name = 'StompFrameError';
    this.reason = reason;
  }
}
