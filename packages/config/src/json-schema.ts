import { z } from 'zod';
import type { AnyConnectorDefinition } from '@ferry/core';
import { gatewaySchema, NAME_PATTERN } from './gateway-section.js';
import { maxInFlightSchema, retrySchema } from './route-policy.js';

type Json = Record<string, unknown>;

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

/** A zod schema as JSON Schema, describing what a user writes (input: defaults make fields optional). */
function toJson(schema: z.ZodType): Json {
  try {
    const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
    delete out['$schema'];
    return out;
  } catch {
    // a shape JSON Schema cannot express (a cycle, a custom type): editors accept anything
    // there, and Ferry's own check still applies when the file is loaded
    return {};
  }
}

/**
 * `schema` with one more property (`type` of a connector, `connector` of an endpoint).
 * Object schemas get it in place, so `additionalProperties: false` still holds; anything
 * else (a union of shapes) gets it through `allOf`, where unknown keys are left to Ferry.
 */
function withProperty(schema: Json, name: string, prop: Json): Json {
  if (schema['type'] === 'object' && typeof schema['properties'] === 'object' && schema['properties'] !== null) {
    const required = Array.isArray(schema['required']) ? (schema['required'] as string[]) : [];
    return {
      ...schema,
      properties: { [name]: prop, ...(schema['properties'] as Json) },
      required: [name, ...required.filter((r) => r !== name)],
    };
  }
  const branches = Array.isArray(schema['anyOf']) ? (schema['anyOf'] as Json[]) : Array.isArray(schema['oneOf']) ? (schema['oneOf'] as Json[]) : undefined;
  if (branches?.every((b) => b['type'] === 'object')) {
    return { ...schema, ...(schema['anyOf'] ? { anyOf: branches.map((b) => withProperty(b, name, prop)) } : { oneOf: branches.map((b) => withProperty(b, name, prop)) }) };
  }
  return { allOf: [{ type: 'object', properties: { [name]: prop }, required: [name] }, schema] };
}

function defName(kind: string, type: string): string {
  return `${kind}-${type}`;
}

/**
 * The JSON Schema (draft 2020-12) of a whole route file, for editors (the gateway writes it to
 * config/schema.json; a `# yaml-language-server: $schema=./schema.json` line puts it to use).
 * Generated from the connector definitions, so it never drifts from what Ferry accepts.
 * What JSON Schema cannot say is still checked by Ferry: that `connector` names a connector
 * of the file, and of a type whose `from`/`to` fits, templates, unique names and ports.
 */
export function jsonSchema(registry: ReadonlyMap<string, AnyConnectorDefinition>): Json {
  const defs: Json = {};
  const connectorRefs: Json[] = [];
  const fromRefs: Json[] = [];
  const toRefs: Json[] = [];
  const seen = new Map<string, string>(); // identical from/to shapes are listed once
  const types = [...registry.keys()];

  const endpoint = (kind: 'from' | 'to', type: string, schema: z.ZodType | undefined, refs: Json[]): void => {
    if (schema === undefined) return;
    const json = withProperty(toJson(schema), 'connector', { type: 'string', description: 'the name of a connector of this file' });
    const key = `${kind}:${JSON.stringify(json)}`;
    const existing = seen.get(key);
    if (existing !== undefined) {
      const d = defs[existing] as Json;
      d['title'] = `${String(d['title'])}, ${type}`;
      return;
    }
    const name = defName(kind, type);
    seen.set(key, name);
    defs[name] = { title: `${kind} of ${type}`, ...json };
    refs.push({ $ref: `#/$defs/${name}` });
  };

  for (const [type, def] of registry) {
    const options = withProperty(toJson(def.options), 'type', { const: type, description: def.description });
    const name = defName('connector', type);
    defs[name] = { title: `${type}: ${def.description}`, ...options };
    connectorRefs.push({ $ref: `#/$defs/${name}` });
    endpoint('from', type, def.from, fromRefs);
    endpoint('to', type, def.to, toRefs);
  }

  const namePattern = NAME_PATTERN.source;
  const to: Json = toRefs.length === 1 ? (toRefs[0] as Json) : { anyOf: toRefs };
  defs['route'] = {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'from', 'to'],
    properties: {
      name: { type: 'string', pattern: namePattern, description: 'unique; the key of its metrics and log lines' },
      from: fromRefs.length === 1 ? fromRefs[0] : { anyOf: fromRefs },
      to: { anyOf: [to, { type: 'array', minItems: 1, items: to }] },
      headers: {
        type: 'object',
        additionalProperties: false,
        properties: {
          set: {
            type: 'object',
            description: 'headers to set; values may hold templates ({1}, {address}, {header.NAME})',
            additionalProperties: { type: ['string', 'number', 'boolean'] },
          },
          remove: {
            description: 'header names to remove (exact, case-sensitive)',
            anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
          },
        },
      },
      maxInFlight: toJson(maxInFlightSchema),
      onFailure: {
        type: 'object',
        additionalProperties: false,
        description: 'what happens to a message a destination cannot take: retries, then a dead-letter destination',
        properties: {
          retry: toJson(retrySchema),
          deadLetter: {
            description:
              'where a message goes when it can never succeed or its retries ran out: any connector\'s `to` fields (templates allowed); it carries the reason in x-ferry-* headers',
            ...to,
          },
        },
      },
    },
  };

  return {
    $schema: DRAFT,
    $id: 'https://ferry.dev/schema/route-file.json',
    title: 'Ferry route file',
    description: `Connectors of types ${types.join(', ')} and the routes between them. See docs/route-files.md.`,
    type: 'object',
    additionalProperties: false,
    required: ['connectors', 'routes'],
    properties: {
      gateway: toJson(gatewaySchema),
      connectors: {
        type: 'object',
        description: 'one entry per endpoint; the key is its name',
        propertyNames: { pattern: namePattern },
        additionalProperties: { oneOf: connectorRefs },
      },
      routes: { type: 'array', items: { $ref: '#/$defs/route' } },
    },
    $defs: defs,
  };
}
