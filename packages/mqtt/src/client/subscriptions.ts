import type { QoS } from 'mqtt-packet';
import type { MqttFrom } from '../options.js';

interface Subscription {
  qos: QoS;
  /** its MQTT 5 subscription identifier (§3.8.2.1.2) */
  readonly id: number;
  readonly routes: string[];
}

/** The `mqtt` source's subscriptions: one per topic filter, serving every route that names it. */
export class SourceSubscriptions {
  readonly #subs = new Map<string, Subscription>();

  /** Add one route's `from`; returns the filter it subscribes and the QoS it is subscribed at. */
  add(route: string, from: MqttFrom): { filter: string; qos: QoS } {
    // QoS 2 is subscribed as 1: Ferry relays at least once, and a QoS 2 flow hands the message
    // over at PUBREC, before it is routed (§4.3.3), which would need a durable inbound store.
    const qos = Math.min(from.qos, 1) as QoS;
    // A shared subscription delivers messages under their own topic name (§4.8.2), so the
    // route still matches them with its plain `topic` pattern.
    const filter = from.share === undefined ? from.topic : `$share/${from.share}/${from.topic}`;
    const s = this.#subs.get(filter);
    if (s === undefined) this.#subs.set(filter, { qos, id: this.#subs.size + 1, routes: [route] });
    else {
      s.qos = Math.max(s.qos, qos) as QoS;
      s.routes.push(route);
    }
    return { filter, qos };
  }

  entries(): IterableIterator<[string, Readonly<Subscription>]> {
    return this.#subs.entries();
  }

  /**
   * MQTT 5 §3.3.2.3.8: the identifiers of the subscriptions a message matched name its routes,
   * so overlapping filters do not deliver it twice to one route.
   */
  routesOf(ids: number | readonly number[]): string[] {
    const idList = typeof ids === 'number' ? [ids] : ids;
    const set = new Set<string>();
    for (const s of this.#subs.values()) if (idList.includes(s.id)) for (const r of s.routes) set.add(r);
    return [...set];
  }
}
