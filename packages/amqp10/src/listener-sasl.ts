import { describeError, type Authenticator, type AuthorizedClient, type Logger } from '@ferry/core';
import type { ConnectionInfo } from '@ferry/net';
import type rhea from 'rhea';

/** What a connection may do, set by its SASL exchange. */
export interface SaslSubject {
  access: AuthorizedClient | undefined;
}

/**
 * This connection's SASL mechanisms (AMQP 1.0 §5.3): PLAIN checked by core's authenticator
 * (hashes, slow-down per address; its decision arrives asynchronously, which rhea allows),
 * ANONYMOUS when anonymous clients are accepted, and EXTERNAL (the verified client
 * certificate) with useIdentityAsUsername. A refusal is sasl-outcome code 1 (auth).
 */
export function saslMechanisms(c: rhea.Container, auth: Authenticator, client: SaslSubject, info: ConnectionInfo, useIdentityAsUsername: boolean, log: Logger): Record<string, unknown> {
  // rhea's PLAIN splits the initial response on NUL and hands over null for an empty field
  // (lib/sasl.js `extract`): a password-less "\0user\0" gives a null password
  const mechs = c.sasl.server_mechanisms() as unknown as { enable_plain(cb: (u: string | null, p: string | null) => Promise<boolean>): void; enable_anonymous(): void } & Record<string, unknown>;
  const certificate = info.authorized ? info.peerCertificate : undefined;
  const login = (username: string | undefined, password: string | undefined): Promise<boolean> =>
    auth.login({ username, password, address: info.remoteAddress, certificate }).then(
      (r) => {
        client.access = r.ok ? r.client : undefined;
        return r.ok;
      },
      (err: unknown) => {
        // a login that cannot be decided is a refusal (sasl-outcome auth), never an unhandled rejection
        log.warn('AMQP 1.0 SASL login failed', { remote: info.remote, error: describeError(err) });
        client.access = undefined;
        return false;
      },
    );
  mechs.enable_plain((username, password) => login(username ?? undefined, password ?? undefined));
  if (auth.anonymousAllowed) mechs.enable_anonymous();
  if (useIdentityAsUsername && certificate !== undefined) {
    // rhea's mechanism shape (lib/sasl.js): start() decides outcome and username
    mechs['EXTERNAL'] = () => {
      const m: { outcome: boolean | undefined; username: string | undefined; start: () => Promise<void> } = {
        outcome: undefined,
        username: undefined,
        start: () =>
          login(undefined, undefined).then((ok) => {
            m.outcome = ok;
            m.username = client.access?.username;
          }),
      };
      return m;
    };
  }
  return mechs;
}
