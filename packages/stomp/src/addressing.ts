/**
 * How the `stomp` client and the `stomp-listener` name messages in a route file: by
 * destination, which is also the source's pattern. RabbitMQ `/topic/a.*` and
 * `/exchange/amq.topic/a.#` wildcards are what {1}…{n} capture.
 */
export const stompAddressing = {
  protocol: 'stomp',
  syntax: 'stomp',
  sourcePattern: (from: { readonly destination: string }) => from.destination,
  templateFields: ['destination'],
} as const;
