/**
 * Links named by name AND role.
 *
 * AMQP 1.0 §2.6.1: "a link is uniquely identified by its name and its role", so a session may
 * hold a sending and a receiving link of the same name (Qpid Proton names both links of a
 * container to one address `<container>-<address>`). rhea keeps a session's links in one map
 * keyed by name only (lib/session.js `links`, used by create_link, on_attach and remove_link):
 * the second attach finds the first link and rhea throws "Attach already received", which
 * ends the connection. The three functions that key the map are replaced here, once per
 * process, with ones that key it by role and name; everything else in rhea only iterates the
 * map. Installed by the amqp10 connectors before they open any connection.
 */
import { createRequire } from 'node:module';

/** The parts of rhea's Link (lib/link.js) the keyed map needs. */
interface LinkInternals {
  readonly name: string;
  is_sender(): boolean;
  on_attach(frame: AttachFrame): void;
  remote: { attach?: unknown };
}

interface AttachFrame {
  readonly performative: { readonly name: string; readonly handle: number; readonly role: boolean };
}

type LinkConstructor = new (session: SessionInternals, name: string, handle: number, opts: unknown) => LinkInternals;

/** The parts of rhea's Session (lib/session.js) the keyed map needs. */
interface SessionInternals {
  links: Record<string, LinkInternals>;
  local: { handles: Record<number, LinkInternals | undefined> };
  remote: { handles: Record<number, LinkInternals | undefined> };
  create_sender(name: string): LinkInternals;
  create_receiver(name: string): LinkInternals;
}

interface SessionPrototype {
  create_link(this: SessionInternals, name: string, constructor: LinkConstructor, opts: unknown): LinkInternals;
  on_attach(this: SessionInternals, frame: AttachFrame): void;
  remove_link(this: SessionInternals, link: LinkInternals & { local: { handle: number }; remote: { handle?: number } }): void;
  [MARK]?: true;
}

const MARK = Symbol.for('ferry.amqp10.link-keys');

/** "S:" for a link this side sends on, "R:" for one it receives on, then the name. */
const key = (sender: boolean, name: string): string => `${sender ? 'S' : 'R'}:${name}`;

/** Install the keyed map once per process (idempotent). */
export function installLinkKeys(): void {
  const require = createRequire(import.meta.url);
  const Session = require('rhea/lib/session.js') as { prototype: SessionPrototype };
  const proto = Session.prototype;
  if (proto[MARK] === true) return;
  proto.create_link = function (name, constructor, opts) {
    let i = 0;
    while (this.local.handles[i] !== undefined) i++;
    const l = new constructor(this, name, i, opts);
    this.links[key(l.is_sender(), name)] = l;
    this.local.handles[i] = l;
    return l;
  };
  proto.on_attach = function (frame) {
    const { name, handle, role } = frame.performative;
    // the peer's role true: it is the receiver, so this side's link is the sender (§2.7.3)
    const link = this.links[key(role, name)] ?? (role ? this.create_sender(name) : this.create_receiver(name));
    this.remote.handles[handle] = link;
    link.on_attach(frame);
    link.remote.attach = frame.performative;
  };
  proto.remove_link = function (link) {
    if (link.remote.handle !== undefined) delete this.remote.handles[link.remote.handle];
    delete this.local.handles[link.local.handle];
    delete this.links[key(link.is_sender(), link.name)];
  };
  proto[MARK] = true;
}
