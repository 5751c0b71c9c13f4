/**
 * Third-party clients for the round-trip tests, so Ferry's listeners are proven with clients
 * Ferry does not use itself: mosquitto_pub / mosquitto_sub (mosquitto-clients) and, for MQTT 5
 * binary correlation data, paho-mqtt under Debian's Python. integration/brokers/install.sh
 * installs both; a missing one fails the test with how to get it.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const PYTHON = '/usr/bin/python3';

function need(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install -y ${pkg} (integration/brokers/install.sh installs it)`);
}

/** One QoS-n publish through mosquitto_pub (MQTT 5); resolves once the client exited cleanly. */
export function mosquittoPub(port: number, topic: string, payload: Buffer, extra: readonly string[] = []): Promise<void> {
  need('/usr/bin/mosquitto_pub', 'mosquitto-clients');
  return new Promise((resolve, reject) => {
    const p = execFile('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-t', topic, '-s', ...extra], (err, _out, stderr) =>
      err ? reject(new Error(`mosquitto_pub failed: ${stderr || err.message}`)) : resolve(),
    );
    p.stdin?.end(payload);
  });
}

/** One message as paho-mqtt (MQTT 5) received it. */
export interface PahoMessage {
  readonly topic: string;
  /** payload, hex */
  readonly payload: string;
  readonly qos: number;
  /** Correlation Data, hex; undefined when absent */
  readonly correlation?: string;
  readonly responseTopic?: string;
  readonly userProperties: readonly (readonly [string, string])[];
}

export interface PahoPublish {
  readonly topic: string;
  /** payload, hex */
  readonly payload: string;
  /** Correlation Data, hex */
  readonly correlation?: string;
  readonly responseTopic?: string;
  readonly userProperties?: readonly (readonly [string, string])[];
}

const PAHO = String.raw`
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
spec = json.loads(sys.argv[1])
done = threading.Event()
got = []
def out(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
def on_connect(c, u, flags, rc, props=None):
    c.subscribe(spec["filter"], qos=1)
def on_subscribe(c, u, mid, granted, props=None):
    out({"ready": True})
    for p in spec.get("publish", []):
        pr = Properties(PacketTypes.PUBLISH)
        if p.get("correlation") is not None: pr.CorrelationData = bytes.fromhex(p["correlation"])
        if p.get("responseTopic") is not None: pr.ResponseTopic = p["responseTopic"]
        for k, v in p.get("userProperties", []): pr.UserProperty = (k, v)
        c.publish(p["topic"], bytes.fromhex(p["payload"]), qos=1, properties=pr)
def on_message(c, u, m):
    pr = m.properties
    o = {"topic": m.topic, "payload": m.payload.hex(), "qos": m.qos, "userProperties": []}
    if pr is not None:
        if hasattr(pr, "CorrelationData"): o["correlation"] = pr.CorrelationData.hex()
        if hasattr(pr, "ResponseTopic"): o["responseTopic"] = pr.ResponseTopic
        if hasattr(pr, "UserProperty"): o["userProperties"] = [list(x) for x in pr.UserProperty]
    out({"message": o})
    got.append(o)
    if len(got) >= spec["count"]: done.set()
c = mqtt.Client(client_id=spec["clientId"], protocol=mqtt.MQTTv5)
c.on_connect = on_connect; c.on_subscribe = on_subscribe; c.on_message = on_message
c.connect("127.0.0.1", spec["port"])
c.socket().setsockopt(__import__("socket").IPPROTO_TCP, __import__("socket").TCP_NODELAY, 1)
c.loop_start()
ok = done.wait(spec["timeoutS"])
c.disconnect(); c.loop_stop()
sys.exit(0 if ok else 3)
`;

/**
 * An MQTT 5 client on paho-mqtt 1.6 (Debian's python3-paho-mqtt): connects, subscribes to
 * `filter`, then publishes `publish` (QoS 1, binary correlation data as given) and collects
 * `count` messages. `ready` resolves on its SUBACK; `done` with every message it received.
 */
export function paho(opts: {
  port: number;
  clientId: string;
  filter: string;
  count: number;
  publish?: readonly PahoPublish[];
  timeoutS?: number;
}): { ready: Promise<void>; done: Promise<PahoMessage[]> } {
  const spec = { port: opts.port, clientId: opts.clientId, filter: opts.filter, count: opts.count, publish: opts.publish ?? [], timeoutS: opts.timeoutS ?? 30 };
  return runScript<PahoMessage>(PAHO, spec, 'paho client', 'python3-paho-mqtt');
}


/** A reply as a requester received it: its body and its correlation id (hex when binary). */
export interface Reply {
  readonly body: string;
  readonly correlation: { readonly binary: string } | { readonly text: string } | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Request {
  readonly body: string;
  /** a binary id (hex) or a text id */
  readonly correlation: { readonly binary: string } | { readonly text: string };
}

const STOMP_REQUESTER = String.raw`
import json, sys, threading, time
import stomp
spec = json.loads(sys.argv[1])
got = []
done = threading.Event()
subscribed = threading.Event()
def out(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
class L(stomp.ConnectionListener):
    def on_receipt(self, frame):
        if frame.headers.get("receipt-id") == "sub": subscribed.set()
    def on_message(self, frame):
        body = frame.body.decode("utf-8") if isinstance(frame.body, bytes) else frame.body
        c = frame.headers.get("correlation-id")
        o = {"body": body, "correlation": None if c is None else {"text": c}, "headers": dict(frame.headers)}
        out({"message": o}); got.append(o)
        if len(got) >= spec["count"]: done.set()
c = stomp.Connection12([("127.0.0.1", spec["port"])], auto_decode=False, heartbeats=(0, 0))
c.set_listener("", L())
c.connect(wait=True)
c.subscribe(spec["subscribe"], id="1", ack="auto", headers={"receipt": "sub"})
if not subscribed.wait(15): sys.exit(4)
out({"ready": True})
for i, r in enumerate(spec["requests"]):
    c.send(spec["destination"], r["body"].encode("utf-8"), headers={"correlation-id": r["correlation"]["text"], "reply-to": spec["replyTo"], "receipt": "r%d" % i})
ok = done.wait(spec["timeoutS"])
c.disconnect()
sys.exit(0 if ok else 3)
`;

const PROTON_REQUESTER = String.raw`
import json, sys
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container
spec = json.loads(sys.argv[1])
def out(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
class R(MessagingHandler):
    def __init__(self):
        super().__init__()
        self.got = []; self.sent = False; self.ok = False
    def on_start(self, e):
        e.container.schedule(spec["timeoutS"], self)
        self.conn = e.container.connect("amqp://127.0.0.1:%d" % spec["port"], allowed_mechs="ANONYMOUS", reconnect=False)
        self.receiver = e.container.create_receiver(self.conn, spec["replyAddress"])
        self.sender = e.container.create_sender(self.conn, spec["address"])
    def on_timer_task(self, e):
        e.container.stop()
    def send_all(self):
        if self.sent or not self.receiver_open or self.sender.credit <= 0: return
        self.sent = True
        out({"ready": True})
        for r in spec["requests"]:
            c = r["correlation"]
            cid = bytes.fromhex(c["binary"]) if "binary" in c else c["text"]
            self.sender.send(Message(body=r["body"].encode("utf-8"), correlation_id=cid, reply_to=spec["replyTo"], properties=spec.get("properties")))
    receiver_open = False
    def on_link_opened(self, e):
        if e.link.is_receiver: self.receiver_open = True
        self.send_all()
    def on_link_error(self, e):
        sys.stderr.write("link error %s\n" % e.link.remote_condition)
    def on_transport_error(self, e):
        sys.stderr.write("transport error %s\n" % e.transport.condition)
    def on_sendable(self, e):
        self.send_all()
    def on_message(self, e):
        m = e.message
        cid = m.correlation_id
        corr = None if cid is None else ({"binary": bytes(cid).hex()} if isinstance(cid, (bytes, bytearray)) else {"text": str(cid)})
        body = bytes(m.body).decode("utf-8") if isinstance(m.body, (bytes, bytearray, memoryview)) else str(m.body)
        o = {"body": body, "correlation": corr, "headers": {k: str(v) for k, v in (m.properties or {}).items()}}
        out({"message": o}); self.got.append(o)
        if len(self.got) >= spec["count"]:
            self.ok = True
            e.connection.close()
            e.container.stop()
r = R()
Container(r).run()
sys.exit(0 if r.ok else 3)
`;

/**
 * Run a Python requester (stomp.py or qpid-proton): it sends `requests` with their correlation
 * ids and reply-to, and collects `count` replies on its reply destination.
 */
export function pythonRequester(kind: 'stomp' | 'amqp10', spec: Record<string, unknown>): { ready: Promise<void>; done: Promise<Reply[]> } {
  return runScript<Reply>(kind === 'stomp' ? STOMP_REQUESTER : PROTON_REQUESTER, spec, `${kind} requester`, kind === 'stomp' ? 'python3-stomp' : 'python3-qpid-proton');
}

/**
 * Run one of the scripts above with Debian's python3 and `spec` as its JSON argument. The script
 * writes one JSON object a line: `{"ready": true}` once it can take traffic (`ready` resolves),
 * `{"message": …}` for each message it received; `done` resolves with those when it exits.
 */
function runScript<M>(script: string, spec: Record<string, unknown>, what: string, pkg: string): { ready: Promise<void>; done: Promise<M[]> } {
  need(PYTHON, 'python3');
  const p = spawn(PYTHON, ['-c', script, JSON.stringify(spec)]);
  let buf = '';
  let err = '';
  const got: M[] = [];
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const o = JSON.parse(line) as { ready?: true; message?: M };
      if (o.ready === true) onReady();
      if (o.message !== undefined) got.push(o.message);
    }
  });
  p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const done = new Promise<M[]>((resolve, reject) => {
    p.on('exit', (code) => {
      if (code === 0 || got.length > 0) resolve(got);
      else reject(new Error(`${what} exited ${code}: ${err.includes('No module named') ? `apt-get install -y ${pkg}; ` : ''}${err}`));
    });
  });
  return { ready, done };
}
