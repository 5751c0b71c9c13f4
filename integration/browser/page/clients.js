// Test clients running inside the page: mqtt.js and @stomp/stompjs exactly as a web app uses them
// (their browser bundles, WebSocket transport). The test drives them through window.ferryClients
// and reads what they received, as bytes.
'use strict';
(function () {
  /** every message received: its topic or destination and its body's bytes */
  const received = { mqtt: [], stomp: [] };
  const errors = [];
  let mqttClient;
  let stompClient;

  window.ferryClients = {
    received,
    errors,
    libraries: () => ({ mqtt: typeof window.mqtt, stomp: typeof window.StompJs }),

    /** MQTT over WebSocket (subprotocol "mqtt"), 5 or 4 (3.1.1); resolves once CONNACK came */
    mqttConnect(url, clientId, protocolVersion) {
      return new Promise((resolve, reject) => {
        const c = window.mqtt.connect(url, { protocolVersion, clientId, reconnectPeriod: 0, clean: true, connectTimeout: 10000 });
        c.on('connect', () => {
          mqttClient = c;
          resolve(true);
        });
        c.on('close', () => {
          if (mqttClient !== c) reject(new Error('mqtt: connection closed before CONNACK'));
        });
        c.on('error', (e) => {
          errors.push(`mqtt: ${e.message}`);
          reject(new Error(`mqtt: ${e.message}`));
        });
        c.on('message', (topic, payload) => received.mqtt.push({ at: topic, bytes: Array.from(payload) }));
      });
    },
    mqttSubscribe(filter) {
      return mqttClient.subscribeAsync(filter, { qos: 1 }).then((granted) => granted.map((g) => g.qos));
    },
    /** QoS 1, at most `window` awaiting their PUBACK */
    async mqttPublish(messages, window) {
      let next = 0;
      const worker = async () => {
        while (next < messages.length) {
          const m = messages[next++];
          const payload = m.bytes ? new Uint8Array(m.bytes) : m.body;
          await mqttClient.publishAsync(m.topic, payload, { qos: 1 });
        }
      };
      await Promise.all(Array.from({ length: window }, worker));
      return messages.length;
    },
    mqttEnd() {
      return mqttClient ? mqttClient.endAsync() : undefined;
    },

    /** STOMP over WebSocket (subprotocols v12.stomp, v11.stomp, v10.stomp); resolves once CONNECTED came */
    stompConnect(url, login, passcode) {
      return new Promise((resolve, reject) => {
        const c = new window.StompJs.Client({
          brokerURL: url,
          connectHeaders: login ? { login, passcode } : {},
          reconnectDelay: 0,
          heartbeatIncoming: 10000,
          heartbeatOutgoing: 10000,
        });
        c.onConnect = (frame) => {
          stompClient = c;
          resolve(frame.headers.version);
        };
        c.onStompError = (f) => {
          errors.push(`stomp ERROR: ${f.headers.message}`);
          reject(new Error(`stomp ERROR: ${f.headers.message}`));
        };
        c.onWebSocketError = () => {
          errors.push('stomp: websocket error');
          reject(new Error('stomp: websocket error'));
        };
        c.activate();
      });
    },
    /** client-individual acks; resolves once the server confirmed the SUBSCRIBE with a RECEIPT */
    stompSubscribe(destination) {
      return new Promise((resolve) => {
        const receipt = `sub-${destination}`;
        stompClient.watchForReceipt(receipt, () => resolve(true));
        stompClient.subscribe(
          destination,
          (m) => {
            received.stomp.push({ at: m.headers.destination, bytes: Array.from(m.binaryBody) });
            m.ack();
          },
          { ack: 'client-individual', receipt },
        );
      });
    },
    /** each SEND asks for a RECEIPT; at most `window` outstanding */
    async stompPublish(messages, window) {
      let next = 0;
      let n = 0;
      const send = (m) =>
        new Promise((resolve) => {
          const receipt = `r-${n++}`;
          stompClient.watchForReceipt(receipt, () => resolve());
          if (m.bytes) {
            stompClient.publish({ destination: m.destination, binaryBody: new Uint8Array(m.bytes), headers: { receipt, 'content-type': 'application/octet-stream' } });
          } else {
            stompClient.publish({ destination: m.destination, body: m.body, headers: { receipt } });
          }
        });
      const worker = async () => {
        while (next < messages.length) await send(messages[next++]);
      };
      await Promise.all(Array.from({ length: window }, worker));
      return messages.length;
    },
    /** the subprotocol the server chose (Sec-WebSocket-Protocol), as the browser saw it */
    stompSubprotocol() {
      return stompClient.webSocket.protocol;
    },
    stompEnd() {
      return stompClient ? stompClient.deactivate() : undefined;
    },
  };
  document.getElementById('state').textContent = 'ready';
})();
