/**
 * deploy/kubernetes, validated offline (no cluster here): every manifest the kustomization lists
 * against the Kubernetes API schemas (kubernetes-models, generated from the API's OpenAPI
 * definitions), then what a schema cannot see: that the pieces name each other correctly, that the
 * route file in the ConfigMap is a valid Ferry route file whose ports and admin endpoint are the
 * ones the manifests expose, that the probes ask the right paths, that the grace period covers the
 * drain, and that every `ferry start` flag in the args exists.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Namespace, Service } from 'kubernetes-models/v1';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { loadConfig } from '@ferry/config';
import { defaultRegistry } from '@ferry/gateway';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = join(ROOT, 'deploy', 'kubernetes');

type Json = Record<string, unknown>;
interface Validatable {
  validate(): void;
}
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

async function yamlDocs(file: string): Promise<Json[]> {
  const docs = parseAllDocuments(await readFile(join(DIR, file), 'utf8'));
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Json;
  });
}

function at(o: unknown, ...path: (string | number)[]): unknown {
  let v: unknown = o;
  for (const p of path) v = v === null || v === undefined ? undefined : (v as Record<string | number, unknown>)[p];
  return v;
}

interface Manifests {
  readonly kustomization: Json;
  readonly all: Json[];
  readonly byKind: (kind: string) => Json[];
}

async function manifests(): Promise<Manifests> {
  const [kustomization] = await yamlDocs('kustomization.yaml');
  const resources = at(kustomization, 'resources') as string[];
  const all: Json[] = [];
  for (const file of resources) all.push(...(await yamlDocs(file)));
  return { kustomization: kustomization!, all, byKind: (kind) => all.filter((m) => m['kind'] === kind) };
}

describe('deploy/kubernetes', () => {
  it('every manifest the kustomization lists is valid against the Kubernetes API schema', async () => {
    const { all } = await manifests();
    expect(all.length).toBeGreaterThanOrEqual(5);
    const problems: string[] = [];
    for (const m of all) {
      const key = `${String(m['apiVersion'])}/${String(m['kind'])}`;
      const Model = MODELS[key];
      if (Model === undefined) {
        problems.push(`${key}: no schema in this test for this kind`);
        continue;
      }
      try {
        new Model(m as never).validate();
      } catch (err) {
        problems.push(`${key} ${String(at(m, 'metadata', 'name'))}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the schema check can fail: a wrong type in the StatefulSet is refused', async () => {
    const { byKind } = await manifests();
    const broken = structuredClone(byKind('StatefulSet')[0]!);
    (at(broken, 'spec', 'template', 'spec', 'containers', 0, 'ports', 0) as Json)['containerPort'] = 'mqtt';
    expect(() => new StatefulSet(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  it('the pieces name each other: headless service, selectors, named ports, PDB, ConfigMap', async () => {
    const { kustomization, byKind } = await manifests();
    const sts = byKind('StatefulSet')[0]!;
    const podLabels = at(sts, 'spec', 'template', 'metadata', 'labels') as Json;
    const matches = (selector: unknown): boolean =>
      selector !== undefined && Object.entries(selector as Json).every(([k, v]) => podLabels[k] === v);
    expect(matches(at(sts, 'spec', 'selector', 'matchLabels'))).toBe(true);

    const services = byKind('Service');
    const governing = services.find((s) => at(s, 'metadata', 'name') === at(sts, 'spec', 'serviceName'));
    expect(at(governing, 'spec', 'clusterIP')).toBe('None');
    const container = at(sts, 'spec', 'template', 'spec', 'containers', 0) as Json;
    const portNames = new Set((container['ports'] as Json[]).map((p) => p['name']));
    for (const s of services) {
      expect(matches(at(s, 'spec', 'selector'))).toBe(true);
      for (const p of at(s, 'spec', 'ports') as Json[]) expect(portNames).toContain(p['targetPort']);
    }
    expect(matches(at(byKind('PodDisruptionBudget')[0], 'spec', 'selector', 'matchLabels'))).toBe(true);

    // the route file is mounted as a directory (a subPath mount is never updated by the kubelet)
    // from a ConfigMap whose name stays fixed, so gateway.reload.watch sees edits
    const generator = (at(kustomization, 'configMapGenerator') as Json[])[0]!;
    expect(at(kustomization, 'generatorOptions', 'disableNameSuffixHash')).toBe(true);
    const volumes = at(sts, 'spec', 'template', 'spec', 'volumes') as Json[];
    const routesVolume = volumes.find((v) => at(v, 'configMap', 'name') === generator['name']);
    expect(routesVolume).toBeDefined();
    const mounts = container['volumeMounts'] as Json[];
    const routesMount = mounts.find((m) => m['name'] === routesVolume!['name'])!;
    expect(routesMount['subPath']).toBeUndefined();
    const claims = (at(sts, 'spec', 'volumeClaimTemplates') as Json[]).map((c) => at(c, 'metadata', 'name'));
    expect(claims).toContain('spool');
  });

  it("the ConfigMap's route file is valid, and the manifests expose its listeners, admin endpoint and spool", async () => {
    const { kustomization, byKind } = await manifests();
    const generator = (at(kustomization, 'configMapGenerator') as Json[])[0]!;
    const [routesFile] = generator['files'] as string[];
    const loaded = await loadConfig(join(DIR, routesFile!), defaultRegistry(), { env: { FERRY_ID: 'ferry-0' } });
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.toString()).join('\n'));
    const { config } = loaded;

    const sts = byKind('StatefulSet')[0]!;
    const container = at(sts, 'spec', 'template', 'spec', 'containers', 0) as Json;
    const ports = new Map((container['ports'] as Json[]).map((p) => [p['name'] as string, p['containerPort'] as number]));
    const listenerPorts = Object.values(config.connectors)
      .map((c) => (c.options as { port?: unknown }).port)
      .filter((p): p is number => typeof p === 'number');
    expect(listenerPorts.length).toBeGreaterThanOrEqual(3);
    for (const p of listenerPorts) expect([...ports.values()]).toContain(p);

    const http = config.gateway.http;
    expect(http?.host).toBe('0.0.0.0'); // the kubelet probes from outside the pod's loopback
    expect(ports.get('admin')).toBe(http?.port);
    expect(at(container, 'startupProbe', 'httpGet', 'path')).toBe('/healthz');
    expect(at(container, 'livenessProbe', 'httpGet', 'path')).toBe('/healthz');
    expect(at(container, 'readinessProbe', 'httpGet', 'path')).toBe('/readyz');
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(at(container, probe, 'httpGet', 'port')).toBe('admin');

    // the route file itself asks to be reloaded when the kubelet swaps the mounted ConfigMap
    expect(config.gateway.reload?.watch).toBe(true);

    const spoolDir = config.gateway.spool?.dir;
    expect(spoolDir).toBeDefined();
    const spoolMount = (container['volumeMounts'] as Json[]).find((m) => m['name'] === 'spool')!;
    expect(spoolDir!.startsWith(`${String(spoolMount['mountPath'])}/`)).toBe(true);

    const requests = at(container, 'resources', 'requests') as Json;
    expect(requests['cpu']).toBeDefined();
    expect(requests['memory']).toBeDefined();
    expect(at(container, 'resources', 'limits', 'memory')).toBeDefined();
  });

  it('the args are flags `ferry start` knows, and the grace period covers the drain', async () => {
    const { byKind } = await manifests();
    const sts = byKind('StatefulSet')[0]!;
    const args = at(sts, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    expect(args[0]).toBe('start');
    const help = execFileSync(process.execPath, [join(ROOT, 'packages/gateway/dist/cli.js'), 'start', '--help'], { encoding: 'utf8' });
    for (const flag of args.filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
    const drainMs = Number(args[args.indexOf('--drain-timeout') + 1]);
    const graceS = at(sts, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds') as number;
    // the drain, then closing connectors (the amqp091 close alone may take up to 5 s)
    expect(graceS * 1000).toBeGreaterThanOrEqual(drainMs + 5_000);
  });
});
